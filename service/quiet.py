"""Keep solver libraries' own console output out of the server's log.

HiGHS (through scipy and highspy) prints from C straight to file descriptor 1, whatever Python's
``sys.stdout`` is. A solver process has nothing to say on stdout (results go through its pipe,
errors to stderr), so it points descriptor 1 at ``/dev/null``.
"""

from __future__ import annotations

import contextlib
import os
import sys


def silence_stdout() -> None:
    """Send everything this process writes to descriptor 1 to ``/dev/null``."""
    with contextlib.suppress(Exception):  # a closed or odd stdout: nothing to silence
        sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
    finally:
        os.close(devnull)
