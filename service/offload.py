"""Blocking work off the server's event loop, admitted before it takes a thread.

The asyncio server runs every call as a coroutine; what blocks (a solve, a store query) goes to
a thread. Solves go to a pool of exactly ``slots`` threads (the admission bound, ``workers +
queue_size``) and are admitted before one is taken: past the bound a call is refused at once with
``RESOURCE_EXHAUSTED`` and a retry hint, so a waiting solve never holds a thread another call
needs, and health checks and cheap invalid requests answer from the loop. Light blocking work
(store lookups, batch submissions) has its own small pool; a call waiting for it holds no thread.

The solver pool's own admission (`SolverPool.admit`) still applies behind this one: batch jobs
share its slots, and a call admitted here can still get ``RESOURCE_EXHAUSTED`` from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import Overloaded, Unavailable

T = TypeVar("T")
Alive = Callable[[], bool]


class Offload:
    """``slots`` solve threads behind a non-blocking admission, and ``light`` other threads."""

    def __init__(self, slots: int, light: int, retry_after_s: float = 0.1) -> None:
        self.slots = slots
        self.retry_after_s = retry_after_s
        self.refused = 0
        self._free = threading.BoundedSemaphore(slots)
        self._solves = ThreadPoolExecutor(slots, thread_name_prefix="solve")
        self._light = ThreadPoolExecutor(light, thread_name_prefix="rpc")

    def _admit(self, job: Callable[[], T]) -> Future[T]:
        """Start ``job`` on a solve thread now, or raise `Overloaded` without waiting."""
        if not self._free.acquire(blocking=False):
            self.refused += 1
            raise Overloaded(
                f"the server is at its admission bound ({self.slots} solves running or "
                f"queued); retry in {round(self.retry_after_s * 1000)} ms",
                retry_after_s=self.retry_after_s,
            )
        try:
            future = self._solves.submit(job)
        except RuntimeError:  # shut down
            self._free.release()
            raise Unavailable("the server is shutting down") from None
        # Released when the thread is done (or the job never started), not when the call ends.
        future.add_done_callback(lambda _: self._free.release())
        return future

    async def solve(self, job: Callable[[Alive], T]) -> T:
        """Run ``job(alive)`` on an admitted solve thread; ``alive()`` turns false when the
        call ends (cancelled, deadline, or the server stopping it)."""
        gone = threading.Event()
        future = self._admit(lambda: job(lambda: not gone.is_set()))
        try:
            return await asyncio.wrap_future(future)
        finally:
            gone.set()

    async def stream(self, produce: Callable[[Alive], Iterator[T]]) -> AsyncIterator[T]:
        """The items of ``produce(alive)``, iterated on an admitted solve thread."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue()
        gone = threading.Event()

        def put(done: bool, value: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                loop.call_soon_threadsafe(queue.put_nowait, (done, value))

        def run() -> None:
            try:
                items = produce(lambda: not gone.is_set())
                try:
                    for item in items:
                        put(False, item)
                        if gone.is_set():
                            break
                finally:
                    close = getattr(items, "close", None)
                    if close is not None:
                        close()
                put(True, None)
            except BaseException as exc:  # handed to the coroutine, which raises it
                put(True, exc)

        self._admit(run)
        try:
            while True:
                done, value = await queue.get()
                if done:
                    if value is not None:
                        raise value
                    return
                yield value
        finally:
            gone.set()

    async def light(self, job: Callable[..., T], *args: Any) -> T:
        """Run ``job(*args)`` on a light thread (queued without holding one)."""
        return await asyncio.get_running_loop().run_in_executor(self._light, job, *args)

    def close(self) -> None:
        """Stop taking work and wait for the running jobs (after the solver pool is closed,
        whose waiting and running tasks then end at once)."""
        self._solves.shutdown(wait=True, cancel_futures=True)
        self._light.shutdown(wait=True, cancel_futures=True)
