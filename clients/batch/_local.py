"""The ``local`` engine: a process pool over this machine's cores, tasks sent in chunks."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing.context import BaseContext

from ._work import Chunker, Outcome, Payload, Tag, timed_chunk

CHUNK_S = 0.05
"""Seconds of solving per chunk: a chunk's round trip costs ~0.3 ms, a small solve ~1 ms."""
MAX_CHUNK_TASKS = 256
WATCH_S = 0.5
"""How often a pool process checks that its driver is still alive."""


def _context() -> BaseContext:
    """``forkserver`` with the solver preloaded (no fork of a process that runs gRPC threads,
    and no per-process import cost); ``spawn`` where there is no forkserver."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["pruneplan.clients.batch._work"])
        return ctx
    return multiprocessing.get_context("spawn")


def _exit_with(driver: int) -> None:
    """Pool initializer: end this process soon after the driver is gone. A killed driver would
    otherwise leave its pool blocked for ever on a queue whose pipe the workers hold open (and
    the forkserver alive beside them)."""

    def watch() -> None:
        while True:
            time.sleep(WATCH_S)
            try:
                os.kill(driver, 0)
            except OSError:  # gone (or its pid is another user's process now)
                os._exit(1)

    threading.Thread(target=watch, name="pruneplan-driver-watch", daemon=True).start()


class LocalEngine:
    """Solve tasks in ``workers`` processes (default: every core), in completion order.

    Chunks take about `CHUNK_S` each (``chunk_tasks``: that many tasks each instead); at most
    ``2 * workers`` are in flight, so the input is read as the pool drains it.
    """

    def __init__(self, workers: int | None = None, chunk_tasks: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.chunk_tasks = chunk_tasks

    def run(self, tasks: Iterable[tuple[Tag, Payload]]) -> Iterator[tuple[Tag, Outcome]]:
        chunker = Chunker(CHUNK_S, MAX_CHUNK_TASKS, self.chunk_tasks)
        pool = ProcessPoolExecutor(
            self.workers, mp_context=_context(), initializer=_exit_with, initargs=(os.getpid(),)
        )
        pending: set[Future[tuple[list[tuple[Tag, Outcome]], float]]] = set()

        def finished() -> Iterator[tuple[Tag, Outcome]]:
            nonlocal pending
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results, seconds = future.result()
                chunker.observe(len(results), seconds)
                yield from results

        try:
            for chunk in chunker.chunks(tasks):
                while len(pending) >= 2 * self.workers:
                    yield from finished()
                pending.add(pool.submit(timed_chunk, chunk))
            while pending:
                yield from finished()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
