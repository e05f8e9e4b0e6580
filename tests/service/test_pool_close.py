"""A solver process closed from two threads at once (a failing task and the pool's close)."""

from __future__ import annotations

import threading
import time

from pruneplan.service.pool import _context, _Process


def _run_both(process: _Process) -> list[BaseException]:
    """``kill`` and ``stop`` of one process from two threads started together."""
    start, errors = threading.Barrier(2), []

    def run(action: str) -> None:
        start.wait()
        try:
            process.kill() if action == "kill" else process.stop(2.0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in ("kill", "stop")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return errors


def test_kill_and_stop_at_once_close_the_pipe_once() -> None:
    """The pipe's descriptor is closed exactly once, however the two threads interleave (a
    slow close makes them meet inside it: a second ``os.close`` of the same number could close
    a file opened meanwhile)."""
    ctx = _context()
    for _ in range(4):
        process = _Process(ctx)
        calls: list[int] = []
        close = process.conn._close  # type: ignore[attr-defined]

        def slow(close=close, calls=calls) -> None:  # type: ignore[no-untyped-def]
            calls.append(1)
            time.sleep(0.05)
            close()

        process.conn._close = slow  # type: ignore[attr-defined]
        assert _run_both(process) == []
        assert calls == [1]
        assert process.conn.closed and not process.proc.is_alive()
