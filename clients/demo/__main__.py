"""``python -m pruneplan.clients.demo``: the same as ``pruneplan demo``."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
