"""Batch jobs: persisted before `SubmitBatch` returns, solved in the background, resumable.

Each finished request is recorded in the store at once (its plan stored first), so a server
killed mid-batch resumes the job's pending requests at start-up and loses no result; the store
records each index once.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from pruneplan.v1 import pruning_service_pb2 as pb

from . import errors
from .planner import Planner
from .store import PlanStore

log = logging.getLogger("pruneplan.service")


class JobRunner:
    """Runs the pending requests of jobs, ``concurrency`` at a time across all jobs."""

    def __init__(self, planner: Planner, store: PlanStore, concurrency: int) -> None:
        self.planner = planner
        self.store = store
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="job")
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def create(self, job_id: str, requests: list[bytes]) -> None:
        """Persist a job (committed when this returns) and start it."""
        self.store.create_job(job_id, requests)
        self.start(job_id)

    def resume(self) -> list[str]:
        """Start every unfinished job in the store (at server start)."""
        jobs = self.store.unfinished_jobs()
        for job_id in jobs:
            self.start(job_id)
        return jobs

    def start(self, job_id: str) -> None:
        """Queue the job's pending requests."""
        with self._lock:
            stop = self._stops.setdefault(job_id, threading.Event())
        for index, payload in self.store.pending(job_id):
            self._executor.submit(self._run_one, job_id, index, payload, stop)

    def cancel(self, job_id: str) -> bool:
        """Mark the job cancelled and stop its running requests."""
        cancelled = self.store.cancel_job(job_id)
        with self._lock:
            stop = self._stops.get(job_id)
        if stop is not None:
            stop.set()
        return cancelled

    def _run_one(self, job_id: str, index: int, payload: bytes, stop: threading.Event) -> None:
        if stop.is_set() or self._closed.is_set():
            return

        def alive() -> bool:
            return not (stop.is_set() or self._closed.is_set())

        try:
            request = pb.SolveRequest.FromString(payload)
            response = self.planner.solve(request, deadline=None, alive=alive, wait=True)
        except Exception as exc:
            if not alive():
                return  # cancelled or shutting down: stays pending (resumed on restart)
            code = errors.code_name(exc)
            message = str(exc) if code != "INTERNAL" else errors.to_status(exc).message
            self.store.record_result(job_id, index, error_code=code, error_message=message)
            return
        self.store.record_result(job_id, index, plan_id=response.plan_id)

    def close(self) -> None:
        """Stop taking work; running requests are stopped and stay pending."""
        self._closed.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
