"""A model, calibration batches and a budget -> a `SelectionProblem`, and a plan that fits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pruneplan.solver import ItemGroup, SelectionProblem, SelectionResult, Status, select

from ._channels import RESOURCES, ChannelGraph, Linearized
from ._importance import Loss, channel_importance
from ._latency_tables import LatencyTable
from ._layers import Batch, fingerprint

__all__ = [
    "LATENCY",
    "ChannelPlan",
    "Importance",
    "SolveSelection",
    "plan_channels",
    "problem_for_channels",
]

LATENCY = "latency_ms"
"""The latency resource, costed by `latency_tables` (a count table per group)."""

Importance = str | Mapping[str, ArrayLike]
"""A `channel_importance` kind (``"l2"``, ``"taylor"``, ...) or values per group name."""

SolveSelection = Callable[[SelectionProblem], SelectionResult]
"""``solve(problem) -> result``: ``Client.solve`` on a server or ``select`` in-process."""

_FIT = 1e-9
_CLOSE = 1e-3


@dataclass(frozen=True, eq=False)
class ChannelPlan:
    """Which items every group keeps, and the pruned model's modelled cost.

    Attributes
    ----------
    result : SelectionResult
        The solver's answer of the round kept (its certificate is for that round's linear
        model, see `plan_channels`).
    masks : dict of str to ndarray of bool
        Keep mask per group name, shape ``(group.size,)``.
    removed : dict of str to list of int
        Root output channels each group removes (what `prune_channels` removes).
    usage : dict of str to float
        The pruned model's ``params`` and ``flops`` per sample, exactly (`ChannelGraph.usage`),
        and ``latency_ms`` by the latency tables where budgeted.
    budget : dict of str to float
    value : float
        Total kept importance.
    rounds : tuple of dict
        Each round's modelled usage (the tangent rounds of `plan_channels`).
    """

    result: SelectionResult
    masks: dict[str, NDArray[np.bool_]]
    removed: dict[str, list[int]]
    usage: dict[str, float]
    budget: dict[str, float]
    value: float
    rounds: tuple[dict[str, float], ...]

    @property
    def feasible(self) -> bool:
        return self.result.status not in (Status.INFEASIBLE,) and bool(self.masks)


def _values(
    graph: ChannelGraph, batches: Iterable[Batch], importance: Importance, loss: Loss | None
) -> dict[str, NDArray[np.float64]]:
    if isinstance(importance, str):
        return channel_importance(graph, batches, importance, loss=loss)
    values = {}
    for g in graph.groups:
        if g.name not in importance:
            raise ValueError(f"importance: has no values for group {g.name!r}")
        v = np.asarray(importance[g.name], dtype=np.float64)
        if v.shape != (g.size,):
            raise ValueError(f"importance[{g.name!r}]: must have shape ({g.size},); got {v.shape}")
        values[g.name] = v
    return values


def _check_budget(budget: Mapping[str, float], latency: LatencyTable | None) -> None:
    allowed = [*RESOURCES, LATENCY] if latency is not None else list(RESOURCES)
    for r, b in budget.items():
        if r not in allowed:
            hint = " (pass latency=latency_tables(graph))" if r == LATENCY else ""
            raise ValueError(f"budget: resource {r!r} must be one of {allowed}{hint}")
        if not np.isfinite(b) or b <= 0:
            raise ValueError(f"budget[{r!r}]: must be finite and > 0; got {b}")
    if not budget:
        raise ValueError(f"budget: must name at least one of {allowed}; got none")


def problem_for_channels(
    graph: ChannelGraph,
    batches: Iterable[Batch],
    budget: Mapping[str, float],
    *,
    importance: Importance = "l2",
    loss: Loss | None = None,
    around: Mapping[str, Any] | None = None,
    latency: LatencyTable | None = None,
    min_keep: int = 1,
    round_to: int = 1,
) -> SelectionProblem:
    r"""The channel-selection problem of ``graph``'s model under a whole-model ``budget``.

    .. math::
        \max_{m} \sum_g v_g \cdot m_g \quad \text{s.t.} \quad
        \sum_g c_{g,r} \cdot m_g \le B_r - C_r \quad \forall r

    where :math:`m_g` is group :math:`g`'s keep mask, :math:`v_g` its items' importance,
    :math:`c_{g,r}` and :math:`C_r` the per-item costs and constant of
    `ChannelGraph.linearize` (``around``: the previous plan's masks; default the upper bound)
    for ``"params"``/``"flops"``, and for ``"latency_ms"`` each group's count table (kept
    items top-k by value) with :math:`C_r` the layers no group owns; :math:`B_r` is
    ``budget[r]``, a total for the whole model (``graph.dense`` gives the dense totals).

    Raises ``ValueError`` naming the resource when a budget does not exceed :math:`C_r`.
    """
    _check_budget(budget, latency)
    values = _values(graph, batches, importance, loss)
    lin = graph.linearize(around)
    limits = {}
    for r, b in budget.items():
        constant = latency.constant if r == LATENCY and latency is not None else lin.constant[r]
        if b <= constant:
            raise ValueError(
                f"budget[{r!r}]: must exceed {constant:.6g}, the cost no group can prune; "
                f"got {b:.6g}"
            )
        limits[r] = float(b - constant)
    return _problem(graph, values, lin, limits, latency, min_keep, round_to)


def _problem(
    graph: ChannelGraph,
    values: Mapping[str, NDArray[np.float64]],
    lin: Linearized,
    limits: Mapping[str, float],
    latency: LatencyTable | None,
    min_keep: int,
    round_to: int,
) -> SelectionProblem:
    """The problem from a linear model and the solver's limits (budget less constant)."""
    groups = []
    for g, group in enumerate(graph.groups):
        costs = {r: lin.costs[g][r] for r in limits if r in RESOURCES}
        tables = {LATENCY: latency.tables[group.name]} if LATENCY in limits and latency else None
        item = ItemGroup(
            group.name,
            values[group.name],
            costs=costs,
            cost_by_count=tables,
            min_keep=min(min_keep, group.size),
            round_to=round_to,
        )
        groups.append(item)
    return SelectionProblem(groups, dict(limits), fingerprint=fingerprint(graph.model))


def plan_channels(
    graph: ChannelGraph,
    batches: Iterable[Batch],
    budget: Mapping[str, float],
    *,
    method: str = "exact",
    solve: SolveSelection | None = None,
    rounds: int = 3,
    steps: int = 8,
    importance: Importance = "l2",
    loss: Loss | None = None,
    latency: LatencyTable | None = None,
    min_keep: int = 1,
    round_to: int = 1,
) -> ChannelPlan:
    """Solve `problem_for_channels`, then re-linearise around the plan ``rounds`` times.

    Round 0 uses the upper bound, so its plan fits the exact cost; each later round uses the
    tangent at the previous plan (exact there). Within a round, when the plan's exact usage
    exceeds a budget, a factor on the budgets exceeded is bisected (at most ``steps`` more
    solves, until a plan fits within 0.1% of them). The plan kept is the round with the largest
    kept importance among those whose exact usage fits every budget; a round that repeats the
    previous masks ends the loop. With ``method`` a baseline (``"global_threshold"``,
    ``"greedy"``, ``"uniform"``) the same rounds make the comparison fair.

    ``solve`` defaults to the in-process ``select(problem, method=method)``; pass
    ``lambda p: client.solve(p, method="exact")`` to solve on a server.
    """
    values = _values(graph, batches, importance, loss)
    # Validates the budget (resources, > the constant) with round 0's problem.
    problem_for_channels(graph, (), budget, importance=values, latency=latency)
    run = solve or (lambda p: select(p, method=method))
    state = _Rounds(graph, values, budget, latency, min_keep, round_to, run)
    around: dict[str, NDArray[np.bool_]] | None = None
    for _ in range(rounds + 1):
        masks = state.round(around, steps)
        if masks is None or (
            around is not None and all(np.array_equal(masks[n], around[n]) for n in masks)
        ):
            break
        around = masks
    return state.plan()


class _Rounds:
    """The rounds of `plan_channels`: each solve, its exact usage, the best plan that fits."""

    def __init__(
        self,
        graph: ChannelGraph,
        values: dict[str, NDArray[np.float64]],
        budget: Mapping[str, float],
        latency: LatencyTable | None,
        min_keep: int,
        round_to: int,
        run: SolveSelection,
    ) -> None:
        self.graph, self.values, self.budget, self.latency = graph, values, dict(budget), latency
        self.min_keep, self.round_to = min_keep, round_to
        self.run = run
        self.history: list[dict[str, float]] = []
        self.best: ChannelPlan | None = None
        self.last: SelectionResult | None = None

    def round(
        self, around: Mapping[str, NDArray[np.bool_]] | None, steps: int
    ) -> dict[str, NDArray[np.bool_]] | None:
        """Solve at ``around``; if the exact usage exceeds a budget, bisect a factor on what
        the linear model may spend of the budgets exceeded (at most ``steps`` more solves,
        until a plan fits within 0.1% of them). The round's best fitting masks, else its
        last, else None."""
        lo, hi, t = 0.0, 1.0, 1.0
        scaled: set[str] = set()
        fitting = last = None
        lin = self.graph.linearize(around)
        room = self._room(lin)
        for _ in range(steps + 1):
            limits = {r: v * (t if r in scaled else 1.0) for r, v in room.items()}
            solved = self._solve(lin, limits)
            over: set[str] = set()
            if solved is not None:
                last, usage = solved
                over = {r for r, b in self.budget.items() if usage[r] > b * (1 + _FIT)}
                if not over:
                    fitting = last
                    self._keep(last, usage)
                    close = all(
                        usage[r] >= b * (1 - _CLOSE) for r, b in self.budget.items() if r in scaled
                    )
                    if close:
                        break
            if solved is not None and not over:
                lo = t
            else:
                hi = t
            scaled |= over
            t = (lo + hi) / 2
        return fitting if fitting is not None else last

    def _room(self, lin: Linearized) -> dict[str, float]:
        """What the linear model may spend per budgeted resource: budget less constant."""
        constant = dict(lin.constant)
        if self.latency is not None:
            constant[LATENCY] = self.latency.constant
        return {r: b - constant[r] for r, b in self.budget.items()}

    def _solve(
        self, lin: Linearized, limits: Mapping[str, float]
    ) -> tuple[dict[str, NDArray[np.bool_]], dict[str, float]] | None:
        """The masks and exact usage of one solve; None if it has no plan."""
        if any(v <= 0 for v in limits.values()):
            return None  # the budget does not exceed what no group can prune
        problem = _problem(
            self.graph, self.values, lin, limits, self.latency, self.min_keep, self.round_to
        )
        self.last = self.run(problem)
        if self.last.status == Status.INFEASIBLE or not self.last.groups:
            return None
        masks = {n: np.asarray(m, dtype=bool) for n, m in self.last.mask.items()}
        usage = _usage(self.graph, masks, self.latency, self.budget)
        self.history.append(usage)
        return masks, usage

    def _keep(self, masks: dict[str, NDArray[np.bool_]], usage: dict[str, float]) -> None:
        value = float(sum(self.values[n][m].sum() for n, m in masks.items()))
        if self.best is None or value > self.best.value:
            assert self.last is not None
            self.best = _plan(self.graph, self.last, masks, usage, self.budget, value, [])

    def plan(self) -> ChannelPlan:
        history = tuple(self.history)
        if self.best is not None:
            return dataclasses.replace(self.best, rounds=history)
        assert self.last is not None
        full = {g.name: np.ones(g.size, dtype=bool) for g in self.graph.groups}
        usage = _usage(self.graph, full, self.latency, self.budget)
        return ChannelPlan(self.last, {}, {}, usage, self.budget, 0.0, history)


def _usage(
    graph: ChannelGraph,
    masks: Mapping[str, NDArray[np.bool_]],
    latency: LatencyTable | None,
    budget: Mapping[str, float],
) -> dict[str, float]:
    usage = graph.usage(masks)
    if latency is not None and LATENCY in budget:
        usage[LATENCY] = latency.usage({n: int(m.sum()) for n, m in masks.items()})
    return usage


def _plan(
    graph: ChannelGraph,
    result: SelectionResult,
    masks: dict[str, NDArray[np.bool_]],
    usage: dict[str, float],
    budget: Mapping[str, float],
    value: float,
    history: list[dict[str, float]],
) -> ChannelPlan:
    removed = {g.name: g.root_channels(np.flatnonzero(~masks[g.name])) for g in graph.groups}
    return ChannelPlan(result, masks, removed, usage, dict(budget), value, tuple(history))
