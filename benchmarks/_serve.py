"""A pruneplan server in its own process for the benchmarks (``pruneplan serve`` on a free
loopback port), as it runs in production: its event loop does not share the callers' GIL."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def serve_process(*options: str) -> Iterator[int]:
    """Start ``pruneplan serve --port 0 OPTIONS``; yield its port; terminate it after."""
    command = [sys.executable, "-m", "pruneplan.clients.cli", "serve", "--port", "0", *options]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "serving on" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        yield int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(30)
