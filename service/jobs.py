"""Batch jobs: persisted before `SubmitBatch` returns, solved in the background, resumable,
shared by every server on the same store.

Each server's `JobRunner` has ``concurrency`` workers (and `PREFETCH` more, which claim and
prepare the next chunk while the solver processes are busy) that claim a chunk of items of one job
at a time from the store under a lease (`PlanStore.claim_many`: owner id, expiry; one item at
first, then about `CHUNK_S` of solving), solve them in one solver process one after the other,
and record the results as the lease holder in one transaction with their plans, so each item is
solved by one server and recorded once. An item killed past its time limit is an error result;
the items of its chunk before it keep their results, those after it are given back. A watcher
thread renews the leases while the solves run, and stops a chunk whose job was cancelled (on
any server) or one of whose leases was lost. Items of a server that died are taken
over once their lease expires, at once if it died on this host (its process is gone).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from pruneplan.v1 import pruning_service_pb2 as pb

from . import errors
from .planner import Planner, Prepared
from .store import MAX_ATTEMPTS, Claim, ItemOutcome, PlanStore

log = logging.getLogger("pruneplan.service")

LEASE_S = 30.0
"""How long a claim holds without renewal; a dead server's items wait this long at most."""

CHUNK_S = 0.05
MAX_CHUNK = 64
"""Items claimed and solved together: about `CHUNK_S` seconds of solving, at most `MAX_CHUNK`
(one claim, one pipe message and one transaction for the lot instead of one per item; a
small solve takes about a millisecond, its store round trips as long)."""

PREFETCH = 1
"""Worker threads beyond ``concurrency``: a chunk is claimed and prepared while the solver
processes finish theirs, so none waits for the store between chunks."""

POLL_S = 0.5
"""How often idle workers look for work (other servers' jobs, expired leases) and the watcher
looks for cancellations made elsewhere."""


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "-"


def new_owner() -> str:
    """A lease owner id: ``host/pid-namespace/pid/random`` (unique per runner)."""
    return f"{socket.gethostname()}/{_pid_namespace()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def is_dead(owner: str) -> bool:
    """Whether ``owner`` is a runner of this host's pid namespace whose process has exited
    (``False`` when unknown: its lease then runs out instead)."""
    parts = owner.split("/")
    if len(parts) != 4 or parts[0] != socket.gethostname() or parts[1] != _pid_namespace():
        return False
    try:
        pid = int(parts[2])
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


@dataclass
class _Chunk:
    """Items of one job that one worker thread solves together, and how to stop them."""

    job_id: str
    indexes: list[int]
    stop: threading.Event = field(default_factory=threading.Event)


def _failure(claim: Claim, exc: Exception) -> ItemOutcome:
    """The error result of an item whose request or solve failed."""
    code = errors.code_name(exc)
    message = str(exc) if code != "INTERNAL" else errors.to_status(exc).message
    return ItemOutcome(claim.job_id, claim.index, error_code=code, error_message=message)


class JobRunner:
    """Runs the items of every job in the store, ``concurrency`` chunks at a time on this server
    (``concurrency + prefetch`` claimed: the extra ones wait for a solver process, prepared)."""

    def __init__(
        self,
        planner: Planner,
        store: PlanStore,
        concurrency: int,
        *,
        lease_s: float = LEASE_S,
        poll_s: float = POLL_S,
        max_attempts: int = MAX_ATTEMPTS,
        first_chunk: int = 1,
        prefetch: int = PREFETCH,
    ) -> None:
        self.planner = planner
        self.store = store
        self.owner = new_owner()
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self._running: dict[int, _Chunk] = {}
        self.recorded = 0
        """Chunks recorded so far (result streams of this server wake up when it changes)."""
        self.first_chunk = first_chunk
        """Items per claim until a solve time is known."""
        self._per_item: float | None = None
        """Seconds per solved item (a moving average), for `_chunk_size`."""
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def create(self, job_id: str, requests: list[bytes]) -> None:
        """Persist a job (committed when this returns) and wake the workers."""
        self.store.create_job(job_id, requests)
        self.start(job_id)

    def resume(self) -> list[str]:
        """Start the workers (at server start); the unfinished jobs they will take up."""
        self._take_over_dead()
        self._ensure_started()
        return self.store.unfinished_jobs()

    def start(self, job_id: str) -> None:
        """Make the workers look for ``job_id``'s items now."""
        self._ensure_started()
        self._wake.set()

    def cancel(self, job_id: str) -> bool:
        """Mark the job cancelled (every server sees it) and stop its solves here at once."""
        cancelled = self.store.cancel_job(job_id)
        with self._lock:
            stops = [chunk.stop for chunk in self._running.values() if chunk.job_id == job_id]
        for stop in stops:
            stop.set()
        return cancelled

    def _ensure_started(self) -> None:
        with self._lock:
            if self._threads or self._closed.is_set():
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"job-{i}", daemon=True)
                for i in range(self.concurrency + self.prefetch)
            ]
            self._threads.append(
                threading.Thread(target=self._watch, name="job-watch", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def _chunk_size(self) -> int:
        """Items per claim: about `CHUNK_S` of solving, from the solve times seen so far."""
        if self._per_item is None:
            return self.first_chunk
        return int(min(MAX_CHUNK, max(1, CHUNK_S / self._per_item)))

    def _observe(self, items: int, seconds: float) -> None:
        per_item = max(seconds / items, 1e-6)
        if self._per_item is not None:
            per_item = 0.7 * self._per_item + 0.3 * per_item
        self._per_item = per_item

    def _work(self) -> None:
        while not self._closed.is_set():
            try:
                claims = self.store.claim_many(
                    self.owner, self.lease_s, self._chunk_size(), self.max_attempts
                )
            except Exception:
                if self._closed.is_set():
                    return
                log.exception("claiming job items failed; retrying")
                claims = []
            if not claims:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self._wake.set()  # there may be more: let the next idle worker look too
            try:
                self._run(claims)
            except Exception:  # the store failed recording them: give them back to be retried
                log.exception(
                    "job %s items %d-%d: recording the results failed",
                    claims[0].job_id,
                    claims[0].index,
                    claims[-1].index,
                )
                for claim in claims:
                    with contextlib.suppress(Exception):
                        self.store.release(claim.job_id, claim.index, self.owner)

    def _run(self, claims: list[Claim]) -> None:
        """Solve a chunk of one job's items; record what finished in one transaction, give
        the rest back (stopped, or not run after an item that had to be killed)."""
        chunk = _Chunk(claims[0].job_id, [claim.index for claim in claims])
        with self._lock:
            self._running[id(chunk)] = chunk

        def alive() -> bool:
            return not (chunk.stop.is_set() or self._closed.is_set())

        done: list[ItemOutcome] = []
        try:
            self._solve(claims, alive, done)
        finally:
            with self._lock:
                self._running.pop(id(chunk), None)
            if done:
                self.store.record_results(self.owner, done)
                self.recorded += 1
            finished = {outcome.index for outcome in done}
            for claim in claims:
                if claim.index not in finished:  # a no-op if the lease was lost
                    with contextlib.suppress(Exception):
                        self.store.release(claim.job_id, claim.index, self.owner)

    def _solve(
        self, claims: list[Claim], alive: Callable[[], bool], done: list[ItemOutcome]
    ) -> None:
        """Outcomes into ``done``: cached plans at once, the other items solved in one chunk
        of the solver pool."""
        prepared: list[tuple[Claim, Prepared]] = []
        for claim in claims:
            try:
                request = pb.SolveRequest.FromString(claim.request)
                prepared.append((claim, self.planner.prepare(request)))
            except Exception as exc:
                done.append(_failure(claim, exc))
        cached = self.store.stored_plans([p.plan_id for _, p in prepared])
        todo = []
        for claim, p in prepared:
            if p.plan_id in cached:
                done.append(ItemOutcome(claim.job_id, claim.index, plan_id=p.plan_id))
            else:
                todo.append((claim, p))
        items = [(p.canonical, p.time_limit) for _, p in todo]
        identities = [self.planner.identity(p) for _, p in todo]
        times = [time.monotonic()]
        try:
            chunk = self.planner.pool.run_chunk(items, alive=alive, identities=identities)
            for position, outcome in chunk:
                times.append(time.monotonic())
                claim, p = todo[position]
                done.append(self._outcome(claim, p, outcome))
        except Exception:
            if not alive():
                return  # cancelled, lease lost or shutting down: not results
            raise
        # Solve times from the first outcome on (before it: waiting for a process, too).
        if len(times) > 2:
            self._observe(len(times) - 2, times[-1] - times[1])
        elif len(times) == 2:
            self._observe(1, times[1] - times[0])

    def _outcome(self, claim: Claim, prepared: Prepared, outcome: object) -> ItemOutcome:
        if isinstance(outcome, Exception):
            return _failure(claim, outcome)
        try:
            plan_id, stored = self.planner.stored(prepared, outcome)  # type: ignore[arg-type]
        except Exception as exc:
            return _failure(claim, exc)
        return ItemOutcome(claim.job_id, claim.index, plan_id=plan_id, plan=stored)

    def _watch(self) -> None:
        """Renew the leases every ``lease_s / 3``; stop solves cancelled or lost elsewhere."""
        renewed = time.monotonic()
        while not self._closed.wait(self.poll_s):
            try:
                if time.monotonic() - renewed >= self.lease_s / 3:
                    renewed = time.monotonic()
                    self.store.renew(self.owner, self.lease_s)
                    self._take_over_dead()
                self._stop_lost()
            except Exception:
                if self._closed.is_set():
                    return
                log.exception("renewing job leases failed; retrying")

    def _stop_lost(self) -> None:
        with self._lock:
            running = list(self._running.values())
        if not running:
            return
        held = {(h.job_id, h.index): h.cancelled for h in self.store.held(self.owner)}
        for chunk in running:
            # cancelled, or no longer ours
            if any(held.get((chunk.job_id, index), True) for index in chunk.indexes):
                chunk.stop.set()

    def _take_over_dead(self) -> None:
        """End the leases of runners on this host whose process is gone (a restart after a
        crash): their items are claimed at once instead of after the lease runs out."""
        for owner in self.store.lease_owners():
            if owner != self.owner and is_dead(owner):
                count = self.store.expire(owner)
                log.info("took over %d job item(s) of %s, which exited", count, owner)

    def close(self) -> None:
        """Stop taking work; running solves are stopped and their items given back."""
        self._closed.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
