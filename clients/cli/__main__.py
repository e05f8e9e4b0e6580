"""``python -m pruneplan.clients.cli``: the ``pruneplan`` command."""

import sys

from . import main

sys.exit(main())
