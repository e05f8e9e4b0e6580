"""Generic MILP back end: HiGHS through `scipy.optimize.milp`."""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from .._result import Status
from .._tolerance import OPTIMAL_GAP
from ._instance import I64, Instance, Solution

# scipy.optimize.milp status codes
_OPTIMAL, _LIMIT, _INFEASIBLE = 0, 1, 2


def _model(inst: Instance) -> tuple[np.ndarray, list[LinearConstraint], np.ndarray]:
    sizes = np.array([item.loss.size for item in inst.items])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    n = int(starts[-1])
    c = np.concatenate([item.loss for item in inst.items])
    rows = np.repeat(np.arange(inst.n_items), sizes)
    one_each = sp.csr_array((np.ones(n), (rows, np.arange(n))), shape=(inst.n_items, n))
    constraints = [LinearConstraint(one_each, 1.0, 1.0)]
    if inst.resources:
        costs = np.concatenate([item.costs for item in inst.items], axis=1)
        constraints.append(LinearConstraint(costs, -np.inf, inst.budget))
    return c, constraints, starts


def solve_milp(
    inst: Instance,
    *,
    time_limit: float | None,
    seed: int,
    mip_rel_gap: float = OPTIMAL_GAP,
) -> Solution:
    r"""Solve the multiple-choice knapsack as a 0-1 program with HiGHS.

    .. math::
        \min_x \sum_{j,k} \ell_{jk} x_{jk} \quad \text{s.t.} \quad \sum_k x_{jk} = 1,\;
        \sum_{j,k} c^r_{jk} x_{jk} \le B^r,\; x_{jk} \in \{0, 1\}

    where :math:`\ell_{jk}` is the loss of item :math:`j` at option :math:`k`,
    :math:`c^r_{jk}` its cost in resource :math:`r` and :math:`B^r` the budget.
    """
    del seed  # HiGHS is deterministic here
    c, constraints, starts = _model(inst)
    options: dict[str, float | bool] = {"mip_rel_gap": mip_rel_gap, "presolve": True}
    if time_limit is not None:
        options["time_limit"] = time_limit
    res = milp(
        c,
        constraints=constraints,
        integrality=np.ones_like(c),
        bounds=Bounds(0.0, 1.0),
        options=options,
    )
    if res.status == _INFEASIBLE:
        return Solution(Status.INFEASIBLE, None, np.inf, "HiGHS proved the budget infeasible.")
    raw = getattr(res, "mip_dual_bound", None)
    bound = -np.inf if raw is None or not np.isfinite(raw) else float(raw)
    if res.x is None:
        return Solution(Status.TIME_LIMIT, None, bound, f"HiGHS found no plan: {res.message}")
    choice: I64 = np.array(
        [int(np.argmax(res.x[a:b])) for a, b in itertools.pairwise(starts)],
        dtype=np.int64,
    )
    status = Status.OPTIMAL if res.status == _OPTIMAL else Status.TIME_LIMIT
    message = "" if status is Status.OPTIMAL else f"HiGHS stopped: {res.message}"
    if status is Status.TIME_LIMIT:
        message += " Raise time_limit for a proven optimum."
    return Solution(status, choice, bound, message)
