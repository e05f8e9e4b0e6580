"""`select`: validate, dispatch to a method by name, and build the certified result."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._checks import COMMON_OPTIONS, validate_options
from .._progress import ProgressCallback, report, reporting
from .._registry import Method, lookup
from .._result import Status, relative_gap, status_for_gap
from .._tolerance import BUDGET_RTOL, FIT_RTOL
from . import _baselines, _counts, _knapsack01, _milp
from ._instance import Instance, Solution
from ._slack import spend_free_slack
from ._types import GroupSelection, SelectionProblem, SelectionResult
from ._validate import validate_problem

__all__ = ["METHODS", "select"]


def _solve_exact(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    if _counts.countable(inst):
        sol = _counts.solve_counts(inst, time_limit, seed)
    else:
        sol = _knapsack01.solve_exact01(inst, time_limit, seed)
    if sol.mask is None:
        return sol
    return Solution(sol.status, spend_free_slack(inst, sol.mask), sol.lower_bound, sol.message)


def _solve_lp(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """The LP relaxation's value as the bound; its integral part, repaired and filled, as plan."""
    relaxed, duals = _milp.solve_lp_relaxation(inst)
    if relaxed.mask is None:
        return relaxed
    plan = _knapsack01.incumbent(inst, duals)
    if plan is None:
        plan = _baselines.solve_greedy(inst).mask
    if plan is None:
        return Solution(Status.INFEASIBLE, None, relaxed.lower_bound, "lp: no rounding fits")
    return Solution(Status.FEASIBLE, plan, relaxed.lower_bound, "LP relaxation bound")


METHODS: dict[str, Method] = {
    "exact": Method(_solve_exact),
    "milp": Method(_milp.solve_milp),
    "lp": Method(_solve_lp),
    "global_threshold": Method(_baselines.solve_global_threshold, bounded=False),
    "greedy": Method(_baselines.solve_greedy, bounded=False),
    "uniform": Method(_baselines.solve_uniform, bounded=False),
    "halp": Method(_baselines.solve_halp, bounded=False),
}
"""Every method by name; ``auto`` resolves to ``exact``."""

AUTO = "exact"


def _usage(inst: Instance, values: np.ndarray) -> dict[str, float]:
    return dict(zip(inst.resources, np.asarray(values, dtype=float).tolist(), strict=True))


def _infeasible(inst: Instance, name: str, start: float, detail: str) -> SelectionResult:
    least = inst.min_usage()
    ranges = ", ".join(
        f"{r} >= {least[i]:.6g} (budget {inst.budget[i]:.6g})" for i, r in enumerate(inst.resources)
    )
    return SelectionResult(
        status=Status.INFEASIBLE,
        objective=math.inf,
        lower_bound=math.inf,
        gap=0.0,
        usage=_usage(inst, least),
        limit=_usage(inst, inst.budget),
        method=name,
        solve_time_s=time.perf_counter() - start,
        message=f"{detail} Feasible budgets need {ranges}.",
        groups={},
        fingerprint=inst.fingerprint,
    )


def _groups(inst: Instance, mask: np.ndarray) -> dict[str, GroupSelection]:
    """Per group its kept indices and mask: views into one index array and one mask copy."""
    mask = mask.copy()
    kept = np.flatnonzero(mask).astype(np.int64, copy=False)
    cuts = np.searchsorted(kept, inst.starts).tolist()
    starts = inst.starts.tolist()
    out = {}
    for g, name in enumerate(inst.names):
        local = kept[cuts[g] : cuts[g + 1]]
        local -= starts[g]
        out[name] = GroupSelection(
            kept=local, count=int(local.size), mask=mask[starts[g] : starts[g + 1]]
        )
    return out


def _result(inst: Instance, sol: Solution, name: str, start: float) -> SelectionResult:
    if sol.mask is None:
        result = _infeasible(inst, name, start, sol.message or "No selection meets the budget.")
        if sol.status is Status.INFEASIBLE:
            return result
        detail = sol.message or "No selection found."
        return SelectionResult(
            **{**result.__dict__, "status": Status.TIME_LIMIT, "lower_bound": sol.lower_bound,
               "message": f"{detail} {result.message}"}
        )  # fmt: skip
    mask = sol.mask
    counts = inst.counts(mask)
    used = inst.usage(mask, counts)
    if not inst.within(used, FIT_RTOL) or not inst.side_ok(mask, counts):
        raise RuntimeError(f"internal error: method {name!r} returned a selection out of bounds")
    objective = inst.objective(mask)
    lower_bound = min(sol.lower_bound, objective)
    gap = relative_gap(objective, lower_bound)
    status = sol.status
    if status is Status.OPTIMAL or status is Status.FEASIBLE:
        status = status_for_gap(gap)
    return SelectionResult(
        status=status,
        objective=objective,
        lower_bound=lower_bound,
        gap=gap,
        usage=_usage(inst, used),
        limit=_usage(inst, inst.budget),
        method=name,
        solve_time_s=time.perf_counter() - start,
        message=sol.message,
        groups=_groups(inst, mask),
        fingerprint=inst.fingerprint,
    )


def _bounded(inst: Instance, sol: Solution) -> Solution:
    """A baseline's selection with the Lagrangian bound added."""
    if sol.mask is None:
        return sol
    lam = _knapsack01.multipliers(inst)
    bound = inst.total_value - _knapsack01.lagrangian(inst, lam)
    return Solution(sol.status, sol.mask, bound, sol.message)


def select(
    problem: SelectionProblem,
    *,
    method: str = "auto",
    time_limit: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> SelectionResult:
    r"""Choose which items (channels, neurons, heads) every group keeps, within the budgets.

    .. math::
        \min_{x \in \{0,1\}^N} \sum_i v_i (1 - x_i) \quad \text{s.t.} \quad
        \sum_g C^r_g(x_g) \le B^r \;\; \forall r, \qquad \sum_{i \in g} x_i \in K_g

    where :math:`v_i` is item :math:`i`'s value, :math:`x_g` the keep vector of group
    :math:`g`, :math:`C^r_g` its cost in resource :math:`r` (the kept items' costs summed, or its
    count table at :math:`|x_g|`, top items by value), :math:`B^r` the budget and :math:`K_g`
    the counts that ``min_keep``, ``max_keep`` and ``round_to`` allow.

    Parameters
    ----------
    problem : SelectionProblem
    method : str
        ``"auto"`` (= ``"exact"``), ``"exact"``, ``"milp"``, ``"lp"`` or a baseline:
        ``"global_threshold"``, ``"greedy"``, ``"uniform"``, ``"halp"``.
    time_limit : float, optional
        Seconds; methods that can stop early return their best selection with ``TIME_LIMIT``.
    seed : int
        Seed of randomised methods (none is, yet).
    progress : callable, optional
        Called with a `Progress` once with phase ``"done"`` at the end of a solve.
    **options
        Method-specific options (none yet; unknown ones are refused).

    Returns
    -------
    SelectionResult
        ``objective`` is the value removed. An infeasible budget is a result with
        ``status=INFEASIBLE`` and the smallest achievable totals as ``usage``.

    Raises
    ------
    InvalidProblemError
        Naming the field (group and item), the allowed values and what was received.

    Notes
    -----
    ``exact``: count tables or equal costs in every group go to `allocate` (multiple-choice
    knapsack); otherwise Dantzig / Lagrangian bound, variable fixing and a core search
    (`_knapsack01`), HiGHS on the core when side constraints bind in it or with several
    resources. Among optimal plans it then keeps more items where that removes no more value
    and fits (items of value 0, e.g. dead channels, fill the budget: `_slack`), so a plan
    does not stop short of a budget that a plan of the same value reaches.

    Examples
    --------
    >>> from pruneplan.solver.selection import ItemGroup, SelectionProblem, select
    >>> groups = [ItemGroup("a", [3.0, 1.0, 2.0], costs={"flops": [2.0, 1.0, 2.0]}),
    ...           ItemGroup("b", [5.0, 0.5], costs={"flops": [3.0, 1.0]})]
    >>> result = select(SelectionProblem(groups, {"flops": 6.0}))
    >>> result.status.name, result.kept["a"].tolist(), result.kept["b"].tolist(), result.objective
    ('OPTIMAL', [0, 1], [0], 2.5)
    """
    start = time.perf_counter()
    name, spec = lookup(METHODS, method, AUTO)
    common = validate_options(name, COMMON_OPTIONS, {"time_limit": time_limit, "seed": seed})
    checked = validate_options(name, spec.options, options)
    inst = validate_problem(problem)
    if np.any(inst.min_usage() > inst.budget * (1.0 + BUDGET_RTOL)):
        return _infeasible(inst, name, start, "The budget is below the smallest achievable total.")
    with reporting(progress):
        sol = spec.solve(inst, **common, **checked)
        if not spec.bounded:
            sol = _bounded(inst, sol)
        result = _result(inst, sol, name, start)
        report("done", fraction=1.0, objective=result.objective, lower_bound=result.lower_bound)
    return result
