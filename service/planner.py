"""From a `SolveRequest` to a stored plan: limits, plan cache, solver pool, plan store.

The servicer's ``Solve``/``SolveStream`` and the batch jobs all go through `Planner`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import cast

from pruneplan.solver import InvalidProblemError, Progress
from pruneplan.v1 import pruning_service_pb2 as pb

from . import convert, worker
from .errors import Cancelled, DeadlineExceeded
from .metrics import Metrics
from .pool import SolverPool, SolveTask
from .store import PlanStore

_HEARTBEAT_S = 0.5
_ALIVE_S = 0.1
"""How often a pooled solve checks that its call is still wanted."""


@dataclass(frozen=True)
class Limits:
    """Per-problem limits of the server, each reported as `InvalidProblemError`."""

    max_layers: int
    max_elements: int
    max_batch: int


@dataclass(frozen=True)
class Prepared:
    """A request checked and identified (not decoded: the solver's side does that)."""

    canonical: bytes
    plan_id: str
    elements: int
    time_limit: float | None
    """The request's own time limit (for the progress fraction)."""


def check_limits(canonical: convert.Canonical, limits: Limits) -> None:
    """Reject problems over the server's limits."""
    if canonical.parts > limits.max_layers:
        raise InvalidProblemError(
            canonical.parts_path,
            f"at most {limits.max_layers} layers or groups (server limit --max-layers)",
            f"{canonical.parts}",
        )
    if canonical.elements > limits.max_elements:
        raise InvalidProblemError(
            canonical.parts_path.split(".")[0],
            f"at most {limits.max_elements} numbers in all arrays (server limit --max-elements)",
            f"{canonical.elements} numbers",
        )


class Planner:
    """Solves requests once: identical requests share a plan id and the stored plan.

    Problems with at most ``inline_max_elements`` numbers are solved on the calling thread (no
    pipe, no second process; they hold this process's GIL while they solve), bigger ones in the
    solver pool, where they use every core and a cancelled or expired call kills its solve.
    """

    def __init__(
        self,
        pool: SolverPool,
        store: PlanStore,
        limits: Limits,
        solver_version: str,
        metrics: Metrics,
        inline_max_elements: int = 0,
    ) -> None:
        self.pool = pool
        self.store = store
        self.limits = limits
        self.solver_version = solver_version
        self.metrics = metrics
        self.inline_max_elements = inline_max_elements

    def prepare(self, request: pb.SolveRequest) -> Prepared:
        """Check and identify a request (raises `InvalidProblemError`)."""
        canonical = convert.canonical_request(request)
        check_limits(canonical, self.limits)
        limit = request.time_limit if request.HasField("time_limit") else None
        plan_id = convert.plan_key(canonical.payload, self.solver_version)
        return Prepared(canonical.payload, plan_id, canonical.elements, limit)

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
        """Progress events (if ``heartbeat``), then the result; stops the solve when not alive.

        Progress events come with each report of the solver (at most one per 100 ms) and every
        `_HEARTBEAT_S` without news; a problem solved inline sends none.
        """
        prepared = self.prepare(request)
        cached = self.plan(prepared.plan_id)
        if cached is not None:
            yield pb.SolveStreamResponse(result=cached)
            return
        if prepared.elements <= self.inline_max_elements:
            outcome = self._inline(prepared, deadline, alive, wait)
        else:
            outcome = yield from self._pooled(prepared, deadline, alive, wait, heartbeat)
        yield pb.SolveStreamResponse(result=self._finish(prepared, outcome))

    def _inline(
        self, prepared: Prepared, deadline: float | None, alive: Callable[[], bool], wait: bool
    ) -> worker.Outcome:
        self.pool.admit(wait=wait)  # counts against the same bound as pooled solves
        try:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise DeadlineExceeded("the deadline passed before the solve started")
            if not alive():
                raise Cancelled("the call was cancelled")
            return worker.run_one(prepared.canonical, None if left is None else 0.8 * left)
        finally:
            self.pool.release()

    def _pooled(
        self,
        prepared: Prepared,
        deadline: float | None,
        alive: Callable[[], bool],
        wait: bool,
        heartbeat: bool,
    ) -> Generator[pb.SolveStreamResponse, None, worker.Outcome]:
        start = time.monotonic()
        task = self.pool.submit(
            prepared.canonical,
            deadline=deadline,
            alive=alive,
            wait=wait,
            reports=heartbeat,
            time_limit=prepared.time_limit,
        )
        run = self.pool.run(task, tick=_HEARTBEAT_S if heartbeat else _ALIVE_S)
        try:
            for item in run:
                if item is None or isinstance(item, Progress):
                    if heartbeat:
                        yield pb.SolveStreamResponse(progress=_progress(task, prepared, start))
                    continue
                return item
        finally:
            run.close()  # stops the solve if the consumer went away
        raise AssertionError("SolverPool.run ends with the outcome")

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
        response, mine = self.response(prepared, outcome)
        self.store.put_plan(response.plan_id, mine)
        stored = self.store.get_plan(response.plan_id)  # an identical solve may have won the race
        if stored is None or stored == mine:
            return response
        return pb.SolveResponse.FromString(stored)

    def identity(self, prepared: Prepared) -> worker.Identity:
        """What the solver process gives a batch item's response (`worker.run_one`)."""
        return prepared.plan_id, self.solver_version

    def stored(self, prepared: Prepared, outcome: worker.Outcome) -> tuple[str, bytes]:
        """The plan id of a batch item's outcome and the bytes to store it as (not stored
        yet): those the solver process made (a ``"stored"`` outcome), else `response`'s."""
        if outcome[0] != "stored":
            response, data = self.response(prepared, outcome)
            return response.plan_id, data
        _, plan_id, stored, method, seconds = cast(tuple[str, str, bytes, str, float], outcome)
        self.metrics.observe_solve(method, seconds)
        return plan_id, stored

    def response(
        self, prepared: Prepared, outcome: worker.Outcome
    ) -> tuple[pb.SolveResponse, bytes]:
        """The response of a solve's outcome and the bytes to store it as (not stored yet);
        raises `InvalidProblemError` or `RuntimeError` for an outcome that is an error."""
        kind = outcome[0]
        if kind == "invalid":
            field, allowed, got, hint, label = (str(x) for x in outcome[1:])
            raise InvalidProblemError(field, allowed, got, hint, label=label)
        if kind != "ok":
            raise RuntimeError(f"solver process: {outcome[1]!r}")
        payload = outcome[1]
        assert isinstance(payload, bytes)
        response = pb.SolveResponse.FromString(payload)
        worker.identify(response, prepared.canonical, self.identity(prepared), payload)
        self.metrics.observe_solve(response.certificate.method, response.certificate.solve_time_s)
        return response, response.SerializeToString(deterministic=True)


def _finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def _progress(task: SolveTask, prepared: Prepared, start: float) -> pb.SolveProgress:
    """Phase, fraction, best objective and bound of the solver's latest report, if any."""
    elapsed = time.monotonic() - start
    report = task.progress
    if report is not None and math.isfinite(report.fraction):
        fraction = min(1.0, max(0.0, report.fraction))
    else:
        totals = [prepared.time_limit]
        if task.deadline is not None:
            totals.append(task.deadline - start)
        known = [t for t in totals if t is not None and t > 0]
        fraction = min(1.0, elapsed / min(known)) if known else 0.0
    phase = "solving" if report is None else report.phase
    if not task.started:
        phase = "queued"
    return pb.SolveProgress(
        phase=phase,
        fraction=fraction,
        best_objective=math.nan if report is None else _finite_or_nan(report.objective),
        best_bound=math.nan if report is None else _finite_or_nan(report.lower_bound),
        elapsed_s=elapsed,
    )
