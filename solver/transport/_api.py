"""`transport`: validate, dispatch to a method by name, and build the certified result."""

from __future__ import annotations

import math
import time
from functools import partial
from typing import Any

import numpy as np

from .._checks import COMMON_OPTIONS, validate_options
from .._progress import ProgressCallback, report, reporting
from .._registry import Method, lookup
from .._result import Status, relative_gap
from .._tolerance import FIT_RTOL
from ._pot import OPTIONS as POT_OPTIONS
from ._pot import POT_METHODS, solve_bins, solve_pot
from ._semidual import Solved, exact, solve_semidual
from ._types import BinsProblem, BinsResult, TransportProblem, TransportResult
from ._validate import F64, Bins, Instance, validate_bins, validate_problem

__all__ = ["BIN_METHODS", "METHODS", "transport", "transport_bins"]


def _semi_dual(inst: Instance, *, time_limit: float | None, seed: int) -> Solved:
    plan = exact(inst)
    if inst.reg == 0:
        return Solved(plan.mask(), plan.boundary, 0, True, plan)
    solved = solve_semidual(inst, plan.boundary)
    return Solved(solved.mask, solved.threshold, solved.iterations, solved.converged, plan)


def _pot(
    method: str, inst: Instance, *, time_limit: float | None, seed: int, **options: Any
) -> Solved:
    return solve_pot(inst, method, options)


METHODS: dict[str, Method] = {
    "semi_dual": Method(_semi_dual),
    **{name: Method(partial(_pot, name), POT_OPTIONS) for name in POT_METHODS},
}
"""Every method by name; ``auto`` resolves to ``semi_dual``."""

AUTO = "semi_dual"


def _split(inst: Instance, values: np.ndarray[Any, Any]) -> dict[str, Any]:
    return {name: inst.group(values, g) for g, name in enumerate(inst.names)}


def _per_group(inst: Instance, values: F64) -> F64:
    return (
        np.add.reduceat(values, inst.offsets[:-1])
        if len(inst.names) > 1
        else np.array([values.sum()])
    )


def _infeasible(inst: Instance, name: str, start: float) -> TransportResult:
    least, most = float(inst.lo.sum()), float(inst.hi.sum())
    empty = {n: np.zeros(0) for n in inst.names}
    return TransportResult(
        status=Status.INFEASIBLE, objective=math.inf, lower_bound=math.inf, gap=0.0,
        usage={"mass": least if inst.budget < least else most}, limit={"mass": inst.budget},
        method=name, solve_time_s=time.perf_counter() - start,
        message=f"min_keep/max_keep allow kept mass in [{least:.10g}, {most:.10g}]; "
        f"the budget is {inst.budget:.10g}.",
        soft_mask=empty, hard_mask={n: np.zeros(0, bool) for n in inst.names},
        threshold={n: math.nan for n in inst.names}, kept={n: 0.0 for n in inst.names},
        budget_error=math.inf,
    )  # fmt: skip


def _budget_error(inst: Instance, kept: F64) -> float:
    if inst.per_group:
        return float(np.max(np.abs(kept - inst.lo) / inst.lo))
    return abs(float(kept.sum()) - inst.budget) / inst.budget


def _result(inst: Instance, sol: Solved, name: str, start: float) -> TransportResult:
    plan = exact(inst) if sol.exact is None else sol.exact
    sa = inst.scores if inst.weights is None else inst.scores * inst.weights
    total = float(sa.sum())
    lower_bound = total - plan.kept_score(inst)
    exact_plan = inst.reg == 0 and name == "semi_dual"
    objective = lower_bound if exact_plan else total - float(np.einsum("i,i->", sa, sol.mask))
    kept = _per_group(inst, sol.mask if inst.weights is None else sol.mask * inst.weights)
    error = _budget_error(inst, kept)
    ok = sol.converged and error <= FIT_RTOL
    message = "" if ok else (
        f"Method {name!r} stopped with budget error {error:.3g} after {sol.iterations} "
        "iterations; raise max_iter or tol, or use semi_dual."
    )  # fmt: skip
    return TransportResult(
        status=Status.OPTIMAL if ok else Status.FEASIBLE, objective=objective,
        lower_bound=min(lower_bound, objective), gap=relative_gap(objective, lower_bound),
        usage={"mass": float(kept.sum())}, limit={"mass": inst.budget}, method=name,
        solve_time_s=time.perf_counter() - start, message=message,
        soft_mask=_split(inst, sol.mask), hard_mask=_split(inst, plan.whole),
        threshold=dict(zip(inst.names, sol.threshold.tolist(), strict=True)),
        kept=dict(zip(inst.names, kept.tolist(), strict=True)), budget_error=error,
        iterations=sol.iterations,
    )  # fmt: skip


def transport(
    problem: TransportProblem,
    *,
    method: str = "auto",
    time_limit: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> TransportResult:
    r"""Soft and hard pruning masks at an exact budget: optimal transport to two bins.

    .. math::
        \min_{P \ge 0} \; \sum_i s_i P_{i0} + \lambda\,\Omega(P) \quad \text{s.t.} \quad
        P\mathbf{1} = a, \;\; \mathbf{1}^\top P = (A - B,\; B)

    where :math:`s_i` is the score of element :math:`i`, :math:`a_i` its mass, :math:`B` the
    kept mass, :math:`A = \sum_i a_i`, :math:`\lambda` = ``reg`` and :math:`\Omega` the
    negative entropy or half the squared norm (`TransportProblem` has the group bounds). The
    soft mask is :math:`m_i = P_{i1} / a_i`.

    Parameters
    ----------
    problem : TransportProblem
    method : str
        ``"auto"`` (= ``"semi_dual"``): the closed form in the one dual variable (any ``reg``
        >= 0, both regularisers, group bounds). POT's references on the same matrices:
        ``"sinkhorn"``, ``"sinkhorn_log"`` (entropy), ``"smooth"`` (``ot.smooth.smooth_ot_dual``),
        ``"emd"`` (the exact LP; ``reg`` ignored) and ``"ot_solve"`` (``ot.solve``).
    time_limit : float, optional
        Accepted for the common signature; every method runs to its own iteration limit.
    seed : int
        Accepted for the common signature (no method is randomised).
    progress : callable, optional
        Called with a `Progress` when the solve is done (one report: every method is fast).
    **options
        POT's methods: ``max_iter`` (POT ``numItermax``) and ``tol`` (POT ``stopThr``).

    Returns
    -------
    TransportResult
        Group bounds that exclude the budget give ``status=INFEASIBLE``, not an exception.

    Raises
    ------
    InvalidProblemError
        Naming the field, the allowed values and what was received.

    Notes
    -----
    ``semi_dual`` costs a few vectorised passes over the elements per Newton step (about 3 to
    6 steps from a subsample's root) plus a sort of a band of scores for the hard mask.

    References
    ----------
    Y. Li, J. C. van Gemert, T. Hoefler, B. Moons, E. Eleftheriou, B.-E. Verhoef,
    "Differentiable Transportation Pruning", ICCV 2023.

    Examples
    --------
    >>> from pruneplan.solver.transport import TransportProblem, transport
    >>> result = transport(TransportProblem({"fc": [0.3, -1.0, 2.0, 0.1]}, budget=2, reg=0.01))
    >>> result.status.name, result.hard_mask["fc"].tolist()
    ('OPTIMAL', [True, False, True, False])
    >>> round(float(result.soft_mask["fc"].sum()), 12), round(result.threshold["fc"], 3)
    (2.0, 0.2)
    """
    start = time.perf_counter()
    name, spec = lookup(METHODS, method, AUTO)
    common = validate_options(name, COMMON_OPTIONS, {"time_limit": time_limit, "seed": seed})
    checked = validate_options(name, spec.options, options)
    inst = validate_problem(problem)
    if not inst.per_group and not inst.lo.sum() <= inst.budget <= inst.hi.sum():
        return _infeasible(inst, name, start)
    with reporting(progress):
        result = _result(inst, spec.solve(inst, **common, **checked), name, start)
        report("done", fraction=1.0, objective=result.objective, lower_bound=result.lower_bound)
    return result


BIN_METHODS: dict[str, Method] = {name: Method(solve_bins, POT_OPTIONS) for name in POT_METHODS}
"""POT's methods for several bins; ``auto``: ``emd`` at ``reg = 0``, else ``sinkhorn_log``
(entropy) or ``smooth`` (l2)."""


def _auto_bins(problem: Bins) -> str:
    if problem.reg == 0:
        return "emd"
    return "sinkhorn_log" if problem.reg_type == "entropy" else "smooth"


def transport_bins(
    problem: BinsProblem,
    *,
    method: str = "auto",
    time_limit: float | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> BinsResult:
    r"""The plan of a transport to several bins, by POT's general solvers.

    .. math::
        \min_{P \ge 0} \; \sum_{ik} C_{ik} P_{ik} + \lambda\,\Omega(P) \quad \text{s.t.} \quad
        P\mathbf{1} = a, \;\; \mathbf{1}^\top P = b

    (symbols as in `BinsProblem`). Methods: ``emd``, ``sinkhorn``, ``sinkhorn_log``,
    ``smooth``, ``ot_solve``; options ``max_iter`` and ``tol``, and ``progress``, as for
    `transport`.

    Examples
    --------
    >>> from pruneplan.solver.transport import BinsProblem, transport_bins
    >>> costs = [[0.0, 1.0, 2.0], [2.0, 0.0, 1.0], [1.0, 2.0, 0.0], [0.0, 0.5, 3.0]]
    >>> result = transport_bins(BinsProblem(costs, bins=[2, 1, 1]))
    >>> result.method, result.assignment.tolist(), float(result.objective)
    ('emd', [0, 1, 2, 0], 0.0)
    """
    start = time.perf_counter()
    validate_options("auto", COMMON_OPTIONS, {"time_limit": time_limit, "seed": seed})
    checked = validate_bins(problem)
    name, spec = lookup(BIN_METHODS, method, _auto_bins(checked))
    opts = validate_options(name, spec.options, options)
    with reporting(progress):
        plan, converged, iterations = spec.solve(checked, name, opts)
        report("done", fraction=1.0)
    rows = np.abs(plan.sum(axis=1) - checked.weights) / checked.weights
    cols = np.abs(plan.sum(axis=0) - checked.bins) / max(float(checked.bins.sum()), 1e-300)
    error = float(max(rows.max(), cols.max()))
    objective = float(np.sum(plan * checked.costs))
    ok = converged and error <= FIT_RTOL
    exact_lp = name == "emd" or (name == "ot_solve" and checked.reg == 0)
    lower_bound = objective if exact_lp and ok else -math.inf
    return BinsResult(
        status=Status.OPTIMAL if ok else Status.FEASIBLE, objective=objective,
        lower_bound=lower_bound, gap=relative_gap(objective, lower_bound),
        usage={"mass": float(plan.sum())}, limit={"mass": float(checked.bins.sum())},
        method=name, solve_time_s=time.perf_counter() - start,
        message="" if ok else f"POT stopped with marginal error {error:.3g}; raise max_iter.",
        plan=plan, assignment=np.argmax(plan, axis=1).astype(np.int64), marginal_error=error,
        iterations=iterations,
    )  # fmt: skip
