"""Batch jobs: persisted before `SubmitBatch` returns, solved in the background, resumable,
shared by every server on the same store.

Each server's `JobRunner` has ``concurrency`` workers that claim one item at a time from the
store under a lease (`PlanStore.claim`: owner id, expiry), solve it and record the result as
the lease holder, so each item is solved by one server and recorded once (its plan stored
first). A watcher thread renews the leases while the solves run, and stops a solve whose job
was cancelled (on any server) or whose lease was lost. Items of a server that died are taken
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

from pruneplan.v1 import pruning_service_pb2 as pb

from . import errors
from .planner import Planner
from .store import MAX_ATTEMPTS, Claim, PlanStore

log = logging.getLogger("pruneplan.service")

LEASE_S = 30.0
"""How long a claim holds without renewal; a dead server's items wait this long at most."""

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


class JobRunner:
    """Runs the items of every job in the store, ``concurrency`` at a time on this server."""

    def __init__(
        self,
        planner: Planner,
        store: PlanStore,
        concurrency: int,
        *,
        lease_s: float = LEASE_S,
        poll_s: float = POLL_S,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.planner = planner
        self.store = store
        self.owner = new_owner()
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self._running: dict[tuple[str, int], threading.Event] = {}
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
            stops = [stop for (job, _), stop in self._running.items() if job == job_id]
        for stop in stops:
            stop.set()
        return cancelled

    def _ensure_started(self) -> None:
        with self._lock:
            if self._threads or self._closed.is_set():
                return
            self._threads = [
                threading.Thread(target=self._work, name=f"job-{i}", daemon=True)
                for i in range(self.concurrency)
            ]
            self._threads.append(
                threading.Thread(target=self._watch, name="job-watch", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while not self._closed.is_set():
            try:
                claim = self.store.claim(self.owner, self.lease_s, self.max_attempts)
            except Exception:
                if self._closed.is_set():
                    return
                log.exception("claiming a job item failed; retrying")
                claim = None
            if claim is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            self._wake.set()  # there may be more: let the next idle worker look too
            try:
                self._run(claim)
            except Exception:  # the store failed recording it: give it back to be retried
                log.exception(
                    "job %s item %d: recording the result failed", claim.job_id, claim.index
                )
                with contextlib.suppress(Exception):
                    self.store.release(claim.job_id, claim.index, self.owner)

    def _run(self, claim: Claim) -> None:
        key = (claim.job_id, claim.index)
        stop = threading.Event()
        with self._lock:
            self._running[key] = stop

        def alive() -> bool:
            return not (stop.is_set() or self._closed.is_set())

        try:
            self._solve(claim, alive)
        finally:
            with self._lock:
                self._running.pop(key, None)
            if not alive():  # stopped: give the item back (a no-op if the lease was lost)
                with contextlib.suppress(Exception):
                    self.store.release(claim.job_id, claim.index, self.owner)

    def _solve(self, claim: Claim, alive: Callable[[], bool]) -> None:
        try:
            request = pb.SolveRequest.FromString(claim.request)
            response = self.planner.solve(request, deadline=None, alive=alive, wait=True)
        except Exception as exc:
            if not alive():
                return  # cancelled, lease lost or shutting down: not a result
            code = errors.code_name(exc)
            message = str(exc) if code != "INTERNAL" else errors.to_status(exc).message
            self.store.record_result(
                claim.job_id,
                claim.index,
                error_code=code,
                error_message=message,
                owner=self.owner,
            )
            return
        self.store.record_result(
            claim.job_id, claim.index, plan_id=response.plan_id, owner=self.owner
        )

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
            running = dict(self._running)
        if not running:
            return
        held = {(h.job_id, h.index): h.cancelled for h in self.store.held(self.owner)}
        for key, stop in running.items():
            if held.get(key, True):  # cancelled, or no longer ours
                stop.set()

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
