"""A pool of solver processes whose running tasks can be stopped.

`concurrent.futures.ProcessPoolExecutor` cannot stop a task once it runs (killing one of its
processes breaks the whole pool), and a cancelled or expired call must stop its solve. So each
worker here is one ``forkserver`` process behind a pipe; stopping a task kills its process and
starts a fresh one, leaving the other solves alone. Concurrent solves run in separate processes:
the GIL never serialises them.

The calling thread (the RPC's own) drives its task: it takes an idle process, writes the request
to the pipe and reads progress and the outcome back. No dispatcher thread sits in between: every
hand-over between threads of the server process waits for the GIL, up to the 5 ms switch interval
while other threads compute, and a solve took four of them. A process that comes free goes to the
task that has waited longest (FIFO; the tail latency under load depends on it). Unary calls ask
the solver process for no progress reports: two pipe messages fewer per solve.

Admission is bounded: ``workers + queue_size`` tasks at once (solving or waiting for a process);
beyond that `submit` raises `Overloaded` (``RESOURCE_EXHAUSTED``) unless the caller chooses to
wait (batches).

Time limits are enforced here, not trusted to the solver: HiGHS's presolve does not check its
limit (``milp`` on one layer of 100,000 levels ran for minutes with ``time_limit=1``). A task whose
solve runs `kill_after` seconds past the start of its solve has its process killed and replaced,
and ends with `DeadlineExceeded` saying so.
"""

from __future__ import annotations

import collections
import contextlib
import math
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from typing import TypeVar

from pruneplan.solver import Progress

from . import worker
from .errors import Cancelled, DeadlineExceeded, Overloaded, Unavailable

KILL_FACTOR = 1.5
KILL_SLACK_S = 1.0
"""A solve with time limit ``t`` is killed ``KILL_FACTOR * t + KILL_SLACK_S`` seconds after its
process got it: room to return the best plan found (the solver stops itself at ``t``)."""

T = TypeVar("T")

_POLL_S = 0.05
"""How often a waiting or running task checks whether it was stopped (not a latency: a free
process or a finished solve wakes the caller at once)."""


def _always() -> bool:
    return True


def _drain(steps: Generator[None, None, T]) -> T:
    """Run a generator that yields only ticks (``None``) to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def kill_after(time_limit: float | None) -> float | None:
    """Seconds of solving after which the server kills a solve with this time limit (``None``:
    no limit, or one the solver refuses as invalid)."""
    if time_limit is None or not math.isfinite(time_limit) or time_limit <= 0:
        return None
    return KILL_FACTOR * time_limit + KILL_SLACK_S


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
        self._closing = threading.Lock()
        self._closed = False

    def _close_conn(self) -> None:
        """Close our end once: a task's thread (`kill` on a failure) and `SolverPool.close`
        (`stop`) can race here, and a second ``os.close`` of the number could close a file
        opened meanwhile under it (EBADF at best)."""
        with self._closing:
            if not self._closed:
                self._closed = True
                self.conn.close()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self._close_conn()

    def stop(self, timeout: float) -> None:
        with self._closing:
            if not self._closed:
                with contextlib.suppress(OSError):
                    self.conn.send(None)
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.kill()
        self._close_conn()


@dataclass
class _Waiter:
    """A task waiting for a process; `SolverPool` hands processes to waiters in FIFO order."""

    ready: threading.Event = field(default_factory=threading.Event)
    process: _Process | None = None


@dataclass
class SolveTask:
    """An admitted solve: run it with `SolverPool.run` on the caller's thread."""

    payload: bytes
    deadline: float | None
    alive: Callable[[], bool]
    """Whether the caller still wants the result (checked every `_POLL_S`)."""
    stop_event: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    """Whether a solver process has the task."""
    progress: Progress | None = None
    """The solver's latest report."""
    reports: bool = True
    """Whether the solver process sends progress reports (streams want them, unary calls not)."""
    time_limit: float | None = None
    """The request's own time limit (seconds of solving), enforced with `kill_after`."""
    solve_deadline: float | None = None
    """When the server kills the solve (`time.monotonic`), set once a process has the task."""

    def cancel(self) -> None:
        """Stop the task: it leaves the queue, or its process is killed (any thread)."""
        self.stop_event.set()

    def time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


class SolverPool:
    """``workers`` solver processes, ``queue_size`` waiting tasks at most."""

    def __init__(self, workers: int, queue_size: int) -> None:
        self.workers = workers
        self._ctx = _context()
        self._free: list[_Process] = []
        self._waiters: collections.deque[_Waiter] = collections.deque()
        self._all: set[_Process] = set()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._waiting = 0
        self._closed = False
        for _ in range(workers):
            self._put(self._spawn())

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
        if not self._closed:
            # A fresh process, started off the caller's thread (forkserver: a few ms).
            threading.Thread(target=self._replace, name="pruneplan-respawn", daemon=True).start()

    def _replace(self) -> None:
        process = self._spawn()
        if self._closed:
            with self._lock:
                self._all.discard(process)
            process.kill()
        else:
            self._put(process)

    def _put(self, process: _Process) -> None:
        """An idle process: to the longest-waiting task, else to the free list."""
        with self._lock:
            if self._waiters:
                waiter = self._waiters.popleft()
                waiter.process = process
                waiter.ready.set()
            else:
                self._free.append(process)

    def admit(self, *, wait: bool = False) -> None:
        """Take an admission slot (`Overloaded` if none is free and not ``wait``)."""
        if self._closed:
            raise Unavailable("the server is shutting down")
        if not self._slots.acquire(blocking=wait):
            raise Overloaded(
                f"the solve queue is full ({self.workers} running, "
                f"{self._waiting} waiting); retry later"
            )

    def release(self) -> None:
        """Give back a slot taken by `admit`."""
        self._slots.release()

    def submit(
        self,
        payload: bytes,
        *,
        deadline: float | None,
        alive: Callable[[], bool] = _always,
        wait: bool = False,
        reports: bool = True,
        time_limit: float | None = None,
    ) -> SolveTask:
        """Admit a solve of canonical request bytes; ``deadline`` is on `time.monotonic`;
        ``time_limit``: the request's own limit, after which (see `kill_after`) the solve is
        killed.

        Run it at once with `run`, which gives the admission back.
        """
        self.admit(wait=wait)
        return SolveTask(payload, deadline, alive, reports=reports, time_limit=time_limit)

    def run(
        self, task: SolveTask, *, tick: float
    ) -> Generator[Progress | worker.Outcome | None, None, None]:
        """Drive ``task`` on this thread: `Progress` reports as they come, ``None`` after
        ``tick`` seconds without one, then the outcome. Closing the iterator early stops it."""
        try:
            process = yield from self._acquire(task, tick)
            task.started = True
            yield from self._exchange(process, task, tick)
        finally:
            self._slots.release()

    def _acquire(self, task: SolveTask, tick: float) -> Generator[None, None, _Process]:
        """A free process at once, or the next one handed over (first come, first served)."""
        waiter = _Waiter()
        with self._lock:
            if self._free and not self._waiters:
                return self._free.pop()
            self._waiters.append(waiter)
            self._waiting += 1
        try:
            quiet_since = time.monotonic()
            while not waiter.ready.wait(_POLL_S):
                self._check(task)
                if time.monotonic() - quiet_since >= tick:
                    quiet_since = time.monotonic()
                    yield None
        except BaseException:
            with self._lock:
                handed = waiter.process
                if handed is None:
                    self._waiters.remove(waiter)
            if handed is not None:
                self._put(handed)
            raise
        finally:
            with self._lock:
                self._waiting -= 1
        assert waiter.process is not None
        return waiter.process

    def _check(self, task: SolveTask) -> None:
        if task.stop_event.is_set() or not task.alive():
            raise Cancelled("the call was cancelled")
        left = task.time_left()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the deadline passed before the solve finished")
        if task.solve_deadline is not None and time.monotonic() >= task.solve_deadline:
            raise DeadlineExceeded(
                f"the solve ran past its time limit (time_limit = {task.time_limit:g}): "
                f"stopped by the server after {kill_after(task.time_limit):g} s of solving, "
                "without a plan; raise time_limit or choose a faster method"
            )
        if self._closed:
            raise Unavailable("the server is shutting down")

    def _exchange(
        self, process: _Process, task: SolveTask, tick: float
    ) -> Iterator[Progress | worker.Outcome | None]:
        left = task.time_left()
        # The solver stops itself a little before the deadline so the plan still gets back.
        limit = None if left is None else max(0.8 * left - 0.05, 1e-3)
        grace = kill_after(task.time_limit)
        if grace is not None:
            task.solve_deadline = time.monotonic() + grace
        try:
            process.conn.send((task.payload, limit, task.reports))
            quiet_since = time.monotonic()
            while True:
                if process.conn.poll(_POLL_S):
                    message: worker.Message = process.conn.recv()
                    if not isinstance(message, Progress):
                        break
                    task.progress = message
                    quiet_since = time.monotonic()
                    self._check(task)
                    yield message
                else:
                    self._check(task)
                    if time.monotonic() - quiet_since >= tick:
                        quiet_since = time.monotonic()
                        yield None
        except BaseException as exc:  # GeneratorExit too: the caller went away mid-solve
            self._retire(process)
            if isinstance(exc, (EOFError, OSError)):
                raise Unavailable("the solver process died; retry") from None
            raise
        self._put(process)
        yield message

    def run_chunk(
        self,
        items: Sequence[tuple[bytes, float | None]],
        *,
        alive: Callable[[], bool] = _always,
        identities: Sequence[worker.Identity] | None = None,
    ) -> Iterator[tuple[int, worker.Outcome | Exception]]:
        """Solve a chunk of batch items ``(payload, time_limit)`` in one solver process, one
        after the other, without a deadline: ``(position, outcome)`` as each one finishes
        (waits for an admission slot and a process; one pipe message out for the chunk).
        With ``identities`` (one per item), outcomes are ``"stored"`` (`worker.run_one`).

        An item killed past its time limit (`kill_after`, counted from the previous item's
        outcome) or whose process died ends the chunk with ``(position, error)``; the items
        after it are not run. ``alive`` turning false, or the pool closing, raises `Cancelled`
        or `Unavailable` (the outcomes yielded so far stand).
        """
        if not items:
            return
        self.admit(wait=True)
        task = SolveTask(b"", None, alive, reports=False)
        known = identities if identities is not None else [None] * len(items)
        sent = [
            (payload, None, identity) for (payload, _), identity in zip(items, known, strict=True)
        ]
        try:
            process = _drain(self._acquire(task, math.inf))
            task.started = True
            yield from self._exchange_chunk(process, task, items, sent)
        finally:
            self._slots.release()

    def _exchange_chunk(
        self,
        process: _Process,
        task: SolveTask,
        items: Sequence[tuple[bytes, float | None]],
        sent: object,
    ) -> Iterator[tuple[int, worker.Outcome | Exception]]:
        position = 0
        try:
            process.conn.send(sent)
            for position, (_, time_limit) in enumerate(items):
                task.time_limit = time_limit
                grace = kill_after(time_limit)
                task.solve_deadline = None if grace is None else time.monotonic() + grace
                while not process.conn.poll(_POLL_S):
                    self._check(task)
                message: worker.Message = process.conn.recv()
                if position == len(items) - 1:
                    break
                yield position, message  # type: ignore[misc]
        except DeadlineExceeded as exc:  # the solve outlived its time limit
            self._retire(process)
            yield position, exc
            return
        except (EOFError, OSError):
            self._retire(process)
            yield position, Unavailable("the solver process died; retry")
            return
        except BaseException:  # stopped, closing, or the caller went away mid-chunk
            self._retire(process)
            raise
        self._put(process)
        yield position, message  # type: ignore[misc]

    def close(self, timeout: float = 5.0) -> None:
        """Stop every task and process."""
        self._closed = True
        with self._lock:
            processes = list(self._all)
            self._all.clear()
        for process in processes:
            process.stop(timeout)
