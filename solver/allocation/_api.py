"""`allocate`: validate, dispatch to a method by name, and build the certified result."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

from .._checks import COMMON_OPTIONS, Interval, validate_options
from .._progress import ProgressCallback, report, reporting
from .._registry import Method, lookup
from .._result import Status, relative_gap
from .._tolerance import BUDGET_RTOL
from . import _baselines, _dp, _exact, _lagrangian, _milp
from ._instance import Instance, Solution
from ._types import AllocationProblem, AllocationResult
from ._validate import validate_problem

METHODS: dict[str, Method] = {
    "exact": Method(_exact.solve_exact, _exact.OPTIONS),
    "dp": Method(_dp.solve_dp, _dp.OPTIONS),
    "lagrangian": Method(_lagrangian.solve_lagrangian, _lagrangian.OPTIONS),
    "milp": Method(_milp.solve_milp, {"mip_rel_gap": Interval(0.0, 1.0)}),
    "uniform": Method(_baselines.solve_uniform, bounded=False),
    "erk": Method(_baselines.solve_erk, bounded=False),
    "global_magnitude": Method(_baselines.solve_global_magnitude, bounded=False),
    "lamp": Method(_baselines.solve_lamp, bounded=False),
    "random": Method(_baselines.solve_random, _baselines.RANDOM_OPTIONS, bounded=False),
}
"""Every method by name; ``auto`` resolves to ``exact``."""

AUTO = "exact"


def _lookup(method: object) -> tuple[str, Method]:
    return lookup(METHODS, method, AUTO)


def _infeasible(inst: Instance, name: str, start: float, detail: str) -> AllocationResult:
    least = inst.min_usage()
    ranges = ", ".join(
        f"{r} >= {least[i]:.6g} (budget {inst.budget[i]:.6g})" for i, r in enumerate(inst.resources)
    )
    return AllocationResult(
        status=Status.INFEASIBLE,
        level_index={},
        sparsity={},
        objective=math.inf,
        lower_bound=math.inf,
        gap=0.0,
        usage=dict(zip(inst.resources, least.tolist(), strict=True)),
        limit=dict(zip(inst.resources, inst.budget.tolist(), strict=True)),
        method=name,
        solve_time_s=time.perf_counter() - start,
        message=f"{detail} Feasible budgets need {ranges}.",
    )


def _result(inst: Instance, sol: Solution, name: str, start: float) -> AllocationResult:
    if sol.choice is None:
        detail = sol.message or "No allocation meets the budget."
        result = _infeasible(inst, name, start, detail)
        if sol.status is Status.INFEASIBLE:
            return result
        return AllocationResult(
            **{**result.__dict__, "status": sol.status, "lower_bound": sol.lower_bound}
        )
    choice = np.asarray(sol.choice, dtype=np.int64)
    if not inst.fits(choice):
        raise RuntimeError(f"internal error: method {name!r} returned a plan over the budget")
    levels = inst.level_indices(choice).tolist()
    objective = inst.objective(choice)
    lower_bound = min(sol.lower_bound, objective)
    usage = dict(zip(inst.resources, inst.usage(choice).tolist(), strict=True))
    for r in inst.reported[len(inst.resources) :]:  # reported, not budgeted
        usage[r] = float(
            sum(layer.costs[r][k] for layer, k in zip(inst.layers, levels, strict=True))
        )
    pairs = list(zip(inst.layers, levels, strict=True))
    return AllocationResult(
        status=sol.status,
        level_index={layer.name: k for layer, k in pairs},
        sparsity={layer.name: float(layer.levels[k]) for layer, k in pairs},
        objective=objective,
        lower_bound=lower_bound,
        gap=relative_gap(objective, lower_bound),
        usage=usage,
        limit=dict(zip(inst.resources, inst.budget.tolist(), strict=True)),
        method=name,
        solve_time_s=time.perf_counter() - start,
        message=sol.message,
        frontier=sol.frontier,
    )


def allocate(
    problem: AllocationProblem,
    *,
    method: str = "auto",
    time_limit: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> AllocationResult:
    r"""Choose one pruning level per layer to minimise total loss under a cost budget.

    .. math::
        \min_{k_1..k_n} \sum_i \ell_i(k_i) \quad \text{s.t.} \quad
        \sum_i c^r_i(k_i) \le B^r \;\; \forall r, \qquad k_i = k_j \text{ if } g_i = g_j

    where :math:`\ell_i(k)` is the loss of layer :math:`i` at level :math:`k`,
    :math:`c^r_i(k)` its cost in resource :math:`r`, :math:`B^r` the budget and
    :math:`g_i` its group.

    Parameters
    ----------
    problem : AllocationProblem
    method : str
        ``"auto"`` (= ``"exact"``), ``"exact"``, ``"dp"``, ``"lagrangian"``, ``"milp"`` or a
        baseline: ``"uniform"``, ``"erk"``, ``"global_magnitude"``, ``"lamp"``, ``"random"``.
    time_limit : float, optional
        Seconds; methods that can stop early return their best plan with ``TIME_LIMIT``.
    seed : int
        Seed of the randomised methods.
    progress : callable, optional
        Called with a `Progress` (phase, fraction, best objective, best bound) as the method
        makes headway; always once with phase ``"done"`` at the end of a solve.
    **options
        Method-specific options, checked against the method's table (e.g. ``buckets`` for
        ``dp``, ``n_samples`` for ``random``).

    Returns
    -------
    AllocationResult
        An infeasible budget is a result with ``status=INFEASIBLE``, not an exception.

    Raises
    ------
    InvalidProblemError
        Naming the field, the allowed values and what was received.

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, allocate
    >>> layers = [LayerProfile("a", [0.0, 0.5, 0.9], [0.0, 0.1, 2.0], 100),
    ...           LayerProfile("b", [0.0, 0.5, 0.9], [0.0, 0.4, 0.5], 100)]
    >>> result = allocate(AllocationProblem(layers, {"params": 80}))
    >>> result.status.name, dict(result.sparsity), round(result.objective, 6)
    ('OPTIMAL', {'a': 0.5, 'b': 0.9}, 0.6)
    """
    start = time.perf_counter()
    name, spec = _lookup(method)
    common = validate_options(name, COMMON_OPTIONS, {"time_limit": time_limit, "seed": seed})
    checked = validate_options(name, spec.options, options)
    inst = validate_problem(problem)
    if np.any(inst.min_usage() > inst.budget * (1.0 + BUDGET_RTOL)):
        result = _infeasible(
            inst, name, start, "The budget is below the smallest achievable total."
        )
    else:
        with reporting(progress):
            sol = spec.solve(inst, **common, **checked)
            if not spec.bounded and sol.choice is not None:
                bound = _lagrangian.dual_bound(inst)
                sol = Solution(sol.status, sol.choice, bound, sol.message, sol.frontier)
            result = _result(inst, sol, name, start)
            report("done", fraction=1.0, objective=result.objective, lower_bound=result.lower_bound)
    return replace(result, fingerprint=problem.fingerprint)
