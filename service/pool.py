"""A pool of solver processes whose running tasks can be stopped.

`concurrent.futures.ProcessPoolExecutor` cannot stop a task once it runs (killing one of its
processes breaks the whole pool), and a cancelled or expired call must stop its solve. So each
worker here is one ``forkserver`` process behind a pipe; stopping a task kills its process and
starts a fresh one, leaving the other solves alone. Concurrent solves run in separate processes:
the GIL never serialises them.

Admission is bounded: ``workers`` tasks run and ``queue_size`` more wait; beyond that
`submit` raises `Overloaded` (``RESOURCE_EXHAUSTED``) unless the caller chooses to wait (batches).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess

from . import worker
from .errors import Cancelled, DeadlineExceeded, Overloaded, Unavailable

_POLL_S = 0.05


def _context() -> BaseContext:
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["pruneplan.service.worker"])
        return ctx
    return multiprocessing.get_context("spawn")


class _Process:
    """One solver process and our end of its pipe."""

    def __init__(self, ctx: BaseContext) -> None:
        self.conn, child = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=worker.serve, args=(child,), daemon=True, name="pruneplan-solver"
        )
        self.proc.start()
        child.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()

    def stop(self, timeout: float) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.kill()
        self.conn.close()


@dataclass
class SolveTask:
    """A submitted solve: its future and a way to stop it."""

    payload: bytes
    deadline: float | None
    future: Future[worker.Outcome] = field(default_factory=Future)
    stop_event: threading.Event = field(default_factory=threading.Event)
    started: threading.Event = field(default_factory=threading.Event)
    """Set once a solver process has the task."""

    def cancel(self) -> None:
        """Stop the task: dequeue it, or kill the process running it."""
        self.stop_event.set()

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


class SolverPool:
    """``workers`` solver processes, ``queue_size`` waiting tasks at most."""

    def __init__(self, workers: int, queue_size: int) -> None:
        self.workers = workers
        self._ctx = _context()
        self._idle: queue.SimpleQueue[_Process] = queue.SimpleQueue()
        self._all: set[_Process] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._threads = ThreadPoolExecutor(workers + queue_size, thread_name_prefix="dispatch")
        self._waiting = 0
        self._closed = False
        for _ in range(workers):
            self._idle.put(self._spawn())

    @property
    def queue_depth(self) -> int:
        """Tasks admitted and waiting for a solver process."""
        return self._waiting

    def _spawn(self) -> _Process:
        process = _Process(self._ctx)
        with self._lock:
            self._all.add(process)
        return process

    def _retire(self, process: _Process) -> None:
        with self._lock:
            self._all.discard(process)
        process.kill()

    def submit(self, payload: bytes, *, deadline: float | None, wait: bool = False) -> SolveTask:
        """Admit a solve of canonical request bytes; ``deadline`` is on `time.monotonic`."""
        if self._closed:
            raise Unavailable("the server is shutting down")
        if not self._slots.acquire(blocking=wait):
            raise Overloaded(
                f"the solve queue is full ({self.workers} running, "
                f"{self._waiting} waiting); retry later"
            )
        task = SolveTask(payload, deadline)
        with self._lock:
            self._waiting += 1
        self._threads.submit(self._dispatch, task)
        return task

    def _dispatch(self, task: SolveTask) -> None:
        try:
            process = self._take(task)
            task.future.set_result(self._run(process, task))
        except BaseException as exc:
            task.future.set_exception(exc)
        finally:
            self._slots.release()

    def _take(self, task: SolveTask) -> _Process:
        try:
            while True:
                self._check(task)
                try:
                    return self._idle.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
        finally:
            with self._lock:
                self._waiting -= 1

    def _check(self, task: SolveTask) -> None:
        if task.stop_event.is_set():
            raise Cancelled("the call was cancelled")
        left = task.time_left()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the deadline passed before the solve finished")
        if self._closed:
            raise Unavailable("the server is shutting down")

    def _run(self, process: _Process, task: SolveTask) -> worker.Outcome:
        left = task.time_left()
        # The solver stops itself a little before the deadline so the plan still gets back.
        limit = None if left is None else max(0.8 * left - 0.05, 1e-3)
        task.started.set()
        try:
            process.conn.send((task.payload, limit))
            while not process.conn.poll(_POLL_S):
                self._check(task)
            outcome: worker.Outcome = process.conn.recv()
        except BaseException as exc:
            self._retire(process)
            if not self._closed:
                self._idle.put(self._spawn())
            if isinstance(exc, (EOFError, OSError)):
                raise Unavailable("the solver process died; retry") from None
            raise
        self._idle.put(process)
        return outcome

    def close(self, timeout: float = 5.0) -> None:
        """Stop every task and process."""
        self._closed = True
        self._threads.shutdown(wait=True)
        with self._lock:
            processes = list(self._all)
            self._all.clear()
        for process in processes:
            process.stop(timeout)
