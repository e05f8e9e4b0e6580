"""From a `SolveRequest` to a stored plan: limits, plan cache, solver pool, plan store.

The servicer's ``Solve``/``SolveStream`` and the batch jobs all go through `Planner`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from pruneplan.solver import AllocationProblem, InvalidProblemError
from pruneplan.v1 import allocation_pb2 as apb
from pruneplan.v1 import pruning_service_pb2 as pb

from . import convert, worker
from .metrics import Metrics
from .pool import SolverPool, SolveTask
from .store import PlanStore

_HEARTBEAT_S = 0.5


@dataclass(frozen=True)
class Limits:
    """Per-problem limits of the server, each reported as `InvalidProblemError`."""

    max_layers: int
    max_elements: int
    max_batch: int


@dataclass(frozen=True)
class Prepared:
    """A request decoded, checked and identified."""

    problem: AllocationProblem
    args: convert.SolveArgs
    canonical: bytes
    plan_id: str


def check_limits(request: pb.SolveRequest, limits: Limits) -> None:
    """Reject problems over the server's limits before decoding them."""
    layers = len(request.allocation.layers)
    if layers > limits.max_layers:
        raise InvalidProblemError(
            "allocation.layers",
            f"at most {limits.max_layers} layers (server limit --max-layers)",
            f"{layers} layers",
        )
    elements = convert.count_elements(request.allocation)
    if elements > limits.max_elements:
        raise InvalidProblemError(
            "allocation",
            f"at most {limits.max_elements} numbers in all arrays (server limit --max-elements)",
            f"{elements} numbers",
        )


class Planner:
    """Solves requests once: identical requests share a plan id and the stored plan."""

    def __init__(
        self,
        pool: SolverPool,
        store: PlanStore,
        limits: Limits,
        solver_version: str,
        metrics: Metrics,
    ) -> None:
        self.pool = pool
        self.store = store
        self.limits = limits
        self.solver_version = solver_version
        self.metrics = metrics

    def prepare(self, request: pb.SolveRequest) -> Prepared:
        """Decode and identify a request (raises `InvalidProblemError`)."""
        problem, args = convert.parse_request(request)
        check_limits(request, self.limits)
        canonical = convert.canonical_request(problem, args)
        return Prepared(problem, args, canonical, convert.plan_key(canonical, self.solver_version))

    def cached(self, prepared: Prepared) -> pb.SolveResponse | None:
        """The stored plan of an identical earlier request, if any."""
        stored = self.store.get_plan(prepared.plan_id)
        return None if stored is None else pb.SolveResponse.FromString(stored)

    def plan(self, plan_id: str) -> pb.SolveResponse | None:
        """Any stored plan by id."""
        stored = self.store.get_plan(plan_id)
        return None if stored is None else pb.SolveResponse.FromString(stored)

    def events(
        self,
        request: pb.SolveRequest,
        *,
        deadline: float | None,
        alive: Callable[[], bool],
        wait: bool = False,
        heartbeat: bool = False,
    ) -> Iterator[pb.SolveStreamResponse]:
        """Progress events (if ``heartbeat``), then the result; stops the solve when not alive."""
        prepared = self.prepare(request)
        cached = self.cached(prepared)
        if cached is not None:
            yield pb.SolveStreamResponse(result=cached)
            return
        start = time.monotonic()
        task = self.pool.submit(prepared.canonical, deadline=deadline, wait=wait)
        try:
            while True:
                try:
                    outcome = task.future.result(timeout=_HEARTBEAT_S if heartbeat else 0.1)
                    break
                except FutureTimeout:
                    if not alive():
                        task.cancel()
                    elif heartbeat:
                        yield pb.SolveStreamResponse(progress=_progress(task, prepared, start))
        finally:
            task.cancel()  # no-op once finished; stops it if the consumer went away
        yield pb.SolveStreamResponse(result=self._finish(prepared, outcome))

    def solve(
        self,
        request: pb.SolveRequest,
        *,
        deadline: float | None,
        alive: Callable[[], bool],
        wait: bool = False,
    ) -> pb.SolveResponse:
        """The plan of one request (from the store, or solved and stored)."""
        for event in self.events(request, deadline=deadline, alive=alive, wait=wait):
            if event.HasField("result"):
                return event.result
        raise AssertionError("events() ends with a result")

    def _finish(self, prepared: Prepared, outcome: worker.Outcome) -> pb.SolveResponse:
        kind = outcome[0]
        if kind == "invalid":
            field, allowed, got, hint = (str(x) for x in outcome[1:])
            raise InvalidProblemError(field, allowed, got, hint)
        if kind != "ok":
            raise RuntimeError(f"solver process: {outcome[1]!r}")
        payload = outcome[1]
        assert isinstance(payload, bytes)
        response = pb.SolveResponse.FromString(payload)
        response.solver_version = self.solver_version
        response.plan_id = prepared.plan_id
        if response.status == apb.STATUS_TIME_LIMIT:
            # Depends on the time it got: never served as the answer to an identical request,
            # but kept under its own id so GetPlan finds it.
            response.plan_id = convert.plan_key(prepared.canonical + payload, self.solver_version)
        self.metrics.observe_solve(response.method, response.solve_time_s)
        self.store.put_plan(response.plan_id, response.SerializeToString(deterministic=True))
        stored = self.store.get_plan(response.plan_id)
        return response if stored is None else pb.SolveResponse.FromString(stored)


def _progress(task: SolveTask, prepared: Prepared, start: float) -> pb.SolveProgress:
    elapsed = time.monotonic() - start
    totals = [prepared.args.time_limit]
    if task.deadline is not None:
        totals.append(task.deadline - start)
    known = [t for t in totals if t is not None and t > 0]
    fraction = min(1.0, elapsed / min(known)) if known else 0.0
    return pb.SolveProgress(
        phase="solving" if task.started.is_set() else "queued",
        fraction=fraction,
        best_objective=math.nan,
        best_bound=math.nan,
        elapsed_s=elapsed,
    )
