"""HiGHS through `highspy` with a start plan, for the restricted problems of the exact method.

`scipy.optimize.milp` takes no start solution. `highspy` (installed with the ``[server]``
extra) does, and a start plan as good as the optimum cuts most of the branch-and-bound
tree. It is imported lazily; without it `solve_restricted` falls back to `solve_milp`.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from ._result import Status
from ._tolerance import OPTIMAL_GAP
from .allocation._instance import F64, I64, Instance, Solution
from .allocation._milp import solve_milp

QUIET: dict[str, bool | float] = {
    "mip_allow_restart": False,
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_zi_round": False,
    "mip_heuristic_run_shifting": False,
}
"""Options for a start plan near the optimum: no restarts, no primal heuristics (sub-MIPs).

On the benchmark residual problems (100 to 2,000 options) they cut HiGHS's time 3 to 6 fold.
"""


def has_highspy() -> bool:
    """Whether `highspy` can be imported."""
    return importlib.util.find_spec("highspy") is not None


def _columns(inst: Instance) -> tuple[F64, I64, F64, I64]:
    """Objective, column owner, column costs (R, N) and column starts of the 0-1 model."""
    loss = np.concatenate([item.loss for item in inst.items])
    sizes = np.array([item.loss.size for item in inst.items], dtype=np.int64)
    owner = np.repeat(np.arange(inst.n_items, dtype=np.int64), sizes)
    costs = np.concatenate([item.costs for item in inst.items], axis=1)
    starts: I64 = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return loss, owner, costs, starts


def _model(h: Any, inst: Instance) -> I64:
    """Pass the 0-1 model to ``h`` column-wise: one row per item, one per budget."""
    loss, owner, costs, starts = _columns(inst)
    n, n_res, m = inst.n_items, inst.budget.size, loss.size
    index = np.empty((m, 1 + n_res), dtype=np.int32)
    value = np.empty((m, 1 + n_res))
    index[:, 0], value[:, 0] = owner, 1.0
    index[:, 1:], value[:, 1:] = n + np.arange(n_res), costs.T
    h.passModel(
        m, n + n_res, m * (1 + n_res), 1, 1, 0.0,
        loss, np.zeros(m), np.ones(m),
        np.concatenate([np.ones(n), np.full(n_res, -np.inf)]),
        np.concatenate([np.ones(n), inst.budget]),
        np.arange(0, m * (1 + n_res) + 1, 1 + n_res, dtype=np.int32),
        index.ravel(), value.ravel(), np.ones(m, dtype=np.int32),
    )  # fmt: skip
    return starts


def _run(
    inst: Instance, start: I64 | None, time_limit: float | None, gap: float, cutoff: float
) -> Solution:
    import highspy

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", gap)
    h.setOptionValue("threads", 1)
    for key, value in QUIET.items():
        h.setOptionValue(key, value)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    if np.isfinite(cutoff):
        h.setOptionValue("objective_bound", float(cutoff))
    starts = _model(h, inst)
    if start is not None:
        x = np.zeros(int(starts[-1]))
        x[starts[:-1] + start] = 1.0
        plan = highspy.HighsSolution()
        plan.col_value = x.tolist()
        h.setSolution(plan)
    h.run()
    status, info = h.getModelStatus(), h.getInfo()
    if status == highspy.HighsModelStatus.kInfeasible:
        return Solution(Status.INFEASIBLE, None, np.inf, "HiGHS proved the budget infeasible.")
    bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -np.inf
    if info.primal_solution_status == 0:
        return Solution(Status.TIME_LIMIT, None, bound, "HiGHS found no plan.")
    x = np.asarray(h.getSolution().col_value)
    choice: I64 = np.maximum.reduceat(
        np.where(x > 0.5, np.arange(x.size) - np.repeat(starts[:-1], np.diff(starts)), -1),
        starts[:-1],
    ).astype(np.int64)
    if np.any(choice < 0):
        return Solution(Status.TIME_LIMIT, None, bound, "HiGHS returned no 0-1 plan.")
    optimal = status == highspy.HighsModelStatus.kOptimal
    return Solution(Status.OPTIMAL if optimal else Status.TIME_LIMIT, choice, bound)


def solve_restricted(
    inst: Instance,
    *,
    start: I64 | None,
    time_limit: float | None,
    mip_rel_gap: float = OPTIMAL_GAP,
    cutoff: float = np.inf,
) -> Solution:
    r"""The 0-1 program of `solve_milp`, started from the plan ``start`` when `highspy` is there.

    Parameters
    ----------
    inst : Instance
        The (restricted) problem; every item has at least one option.
    start : ndarray of int, shape (n,), optional
        A plan within budget: one option index per item.
    time_limit : float, optional
        Seconds HiGHS may run.
    mip_rel_gap : float
        Relative gap at which HiGHS stops.
    cutoff : float
        Only plans of loss below ``cutoff`` are wanted: HiGHS prunes every node whose LP
        bound exceeds it (option ``objective_bound``). A finished run then proves that no
        plan below ``cutoff`` exists beyond the one it returns; a plan it returns may lie
        above ``cutoff``. Ignored without `highspy` (the optimum is computed anyway).

    Returns
    -------
    Solution
        ``choice`` one option per item (``None`` if HiGHS found none); ``lower_bound`` the
        MIP dual bound; status ``OPTIMAL``, ``TIME_LIMIT`` or ``INFEASIBLE``.

    Notes
    -----
    Branch and bound: exponential in the worst case; the start plan prunes every node
    whose LP bound exceeds its loss from the first node on, and ``cutoff`` does the same
    without a plan: proving that nothing lies below a low cutoff is fast (a few ms on the
    benchmark residual problems), while finding and proving the optimum is not.
    """
    if not has_highspy():
        return solve_milp(inst, time_limit=time_limit, seed=0, mip_rel_gap=mip_rel_gap)
    return _run(inst, start, time_limit, mip_rel_gap, cutoff)
