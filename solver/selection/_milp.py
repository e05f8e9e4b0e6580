r"""The selection problem as a HiGHS 0-1 program, with every side constraint.

.. math::
    \min \; \sum_i v_i (1 - x_i) \quad \text{s.t.} \quad
    \sum_i c^r_i x_i + \sum_{g,k} T^r_g(k) w_{gk} \le B^r, \quad
    \sum_{i \in g} x_i = \sum_{k \in K_g} k\, u_{gk}, \quad \sum_k u_{gk} = 1

where :math:`x_i` keeps item :math:`i` of a per-item group, :math:`w_{gk}` picks count
:math:`k` of a counted group (its top-:math:`k` items, value :math:`P_g(k)`, cost
:math:`T_g(k)`), and :math:`u_{gk}` picks an allowed count of a per-item group (a plain row
:math:`\min K_g \le \sum_{i \in g} x_i \le \max K_g` when the allowed counts are an interval).
Items may be fixed in or out beforehand (`solve_reduced`); HiGHS sees only the rest.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._result import Status
from ._instance import B1, F64, I64, Instance, Solution

__all__ = ["lp_duals", "solve_lp_relaxation", "solve_milp", "solve_reduced"]

MIP_GAP = 1e-10
"""HiGHS's relative and absolute stopping gaps (below the certified 1e-9)."""


@dataclass
class _Model:
    cost: F64
    lower: F64
    upper: F64
    rows: sp.csc_matrix
    row_lo: F64
    row_hi: F64
    offset: float
    free: I64
    """items of the x columns (the first free.size columns)"""
    picks: list[tuple[int, I64, int]]
    """per counted group: (group, allowed counts, first w column)"""
    n_budget: int


def _count_rows(
    inst: Instance, free: I64, fixed_in: B1, n_cols: int
) -> tuple[list[Any], list[float], list[float], list[float]]:  # fmt: skip
    """Rows and extra columns (u) for the kept-count constraints of per-item groups."""
    f, u = inst.counts(fixed_in), np.bincount(inst.group_of[free], minlength=inst.n_groups)
    col_of = np.full(inst.n_items, -1)
    col_of[free] = np.arange(free.size)
    entries: list[Any] = []
    lo: list[float] = []
    hi: list[float] = []
    extra_cost: list[float] = []
    row = 0
    for g in np.flatnonzero(~inst.counted).tolist():
        allowed = inst.allowed[g]
        reach = allowed[(allowed >= f[g]) & (allowed <= f[g] + u[g])] - f[g]
        a, b = inst.starts[g], inst.starts[g + 1]
        cols = col_of[a:b][col_of[a:b] >= 0]
        if inst.interval[g]:
            if reach.size and reach[0] <= 0 and reach[-1] >= u[g]:
                continue  # every count the free items can make is allowed
            entries.append((np.full(cols.size, row), cols, np.ones(cols.size)))
            lo.append(float(reach[0]) if reach.size else 1.0)
            hi.append(float(reach[-1]) if reach.size else 0.0)
            row += 1
            continue
        first = n_cols + len(extra_cost)
        ucols = first + np.arange(reach.size)
        entries.append((np.full(cols.size, row), cols, np.ones(cols.size)))
        entries.append((np.full(reach.size, row), ucols, -reach.astype(float)))
        entries.append((np.full(reach.size, row + 1), ucols, np.ones(reach.size)))
        lo += [0.0, 1.0]
        hi += [0.0, 1.0]
        extra_cost += [0.0] * reach.size
        row += 2
    return entries, lo, hi, extra_cost


def _model(inst: Instance, fixed_in: B1, fixed_out: B1) -> _Model:
    free = np.flatnonzero(inst.per_item & ~fixed_in & ~fixed_out)
    n_res = len(inst.resources)
    cost: list[F64] = [-inst.values[free]]
    budget_cols: list[F64] = [inst.costs[:, free]]
    picks = []
    n_cols = free.size
    for g, table in inst.tables.items():
        allowed = inst.allowed[g]
        a, b = inst.starts[g], inst.starts[g + 1]
        prefix = np.concatenate([[0.0], np.cumsum(inst.values[a:b][inst.order[g]])])
        picks.append((g, allowed, n_cols))
        cost.append(-prefix[allowed])
        budget_cols.append(table[:, allowed])
        n_cols += allowed.size
    residual = inst.budget - inst.costs @ fixed_in.astype(float)
    budget = sp.csr_matrix(np.concatenate(budget_cols, axis=1))
    entries, lo, hi, extra_cost = _count_rows(inst, free, fixed_in, n_cols)
    n_total = n_cols + len(extra_cost)
    pick_rows = [sp.csr_matrix((np.ones(al.size), (np.zeros(al.size, int), c + np.arange(al.size))),
                               shape=(1, n_total)) for _, al, c in picks]  # fmt: skip
    n_count = len(lo)
    if entries:
        r, c, v = (np.concatenate(x) for x in zip(*entries, strict=True))
        counts = sp.csr_matrix((v, (r, c)), shape=(n_count, n_total))
    else:
        counts = sp.csr_matrix((0, n_total))
    budget.resize((n_res, n_total))
    rows = sp.vstack([budget, counts, *pick_rows]).tocsc()
    n_pick = len(picks)
    return _Model(
        cost=np.concatenate([*cost, np.array(extra_cost)]),
        lower=np.zeros(n_total),
        upper=np.ones(n_total),
        rows=rows,
        row_lo=np.concatenate([np.full(n_res, -np.inf), lo, np.ones(n_pick)]),
        row_hi=np.concatenate([residual, hi, np.ones(n_pick)]),
        offset=inst.total_value - float(inst.values[fixed_in].sum()),
        free=free,
        picks=picks,
        n_budget=n_res,
    )


def _mask(inst: Instance, model: _Model, x: F64, fixed_in: B1) -> B1:
    mask = fixed_in.copy()
    mask[model.free[x[: model.free.size] > 0.5]] = True
    for g, allowed, first in model.picks:
        k = int(allowed[int(np.argmax(x[first : first + allowed.size]))])
        mask[inst.starts[g] : inst.starts[g + 1]] = inst.top_mask(g, k)
    return mask


def _highs(model: _Model, integral: bool, stop: float, cutoff: float) -> Any:
    import highspy

    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("mip_rel_gap", MIP_GAP)
    h.setOptionValue(
        "mip_abs_gap", MIP_GAP * max(abs(cutoff) if math.isfinite(cutoff) else 1.0, 1e-12)
    )
    if math.isfinite(stop):
        h.setOptionValue("time_limit", max(stop - time.perf_counter(), 1e-3))
    if math.isfinite(cutoff):
        h.setOptionValue("objective_bound", float(cutoff))
    a = model.rows
    n = model.cost.size
    h.passModel(
        n, a.shape[0], a.nnz, 1, 1, model.offset,
        model.cost, model.lower, model.upper, model.row_lo, model.row_hi,
        a.indptr.astype(np.int32), a.indices.astype(np.int32), a.data.astype(np.float64),
        np.ones(n, dtype=np.int32) if integral else np.zeros(n, dtype=np.int32),
    )  # fmt: skip
    h.run()
    return h


def _solve(
    inst: Instance, fixed_in: B1, fixed_out: B1, integral: bool, stop: float, cutoff: float
) -> tuple[Solution, F64]:
    import highspy

    model = _model(inst, fixed_in, fixed_out)
    h = _highs(model, integral, stop, cutoff)
    status, info = h.getModelStatus(), h.getInfo()
    kinds = highspy.HighsModelStatus
    duals = np.zeros(model.n_budget)
    if status in (kinds.kInfeasible, kinds.kObjectiveBound):
        return Solution(Status.INFEASIBLE, None, math.inf, "HiGHS: no selection fits"), duals
    if not integral:
        sol = h.getSolution()
        duals = np.maximum(-np.asarray(sol.row_dual[: model.n_budget]), 0.0)
        x = np.asarray(sol.col_value)
        return Solution(
            Status.FEASIBLE, _mask(inst, model, x, fixed_in), float(info.objective_function_value)
        ), duals
    bound = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else -math.inf
    if info.primal_solution_status == 0:
        return Solution(Status.TIME_LIMIT, None, bound, "HiGHS found no selection"), duals
    mask = _mask(inst, model, np.asarray(h.getSolution().col_value), fixed_in)
    optimal = status == kinds.kOptimal
    return Solution(Status.OPTIMAL if optimal else Status.TIME_LIMIT, mask, bound), duals


def solve_milp(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """HiGHS on the whole 0-1 program (every side constraint), to ``mip_rel_gap`` 1e-10."""
    del seed
    stop = math.inf if time_limit is None else time.perf_counter() + time_limit
    none = np.zeros(inst.n_items, dtype=bool)
    return _solve(inst, none, none, True, stop, math.inf)[0]


def solve_lp_relaxation(inst: Instance) -> tuple[Solution, F64]:
    """The LP relaxation: its value bounds the removed value; the budget rows' duals."""
    none = np.zeros(inst.n_items, dtype=bool)
    return _solve(inst, none, none, False, math.inf, math.inf)


def lp_duals(inst: Instance) -> F64:
    """Multipliers of the budgets from the LP relaxation (>= 0)."""
    return solve_lp_relaxation(inst)[1]


def solve_reduced(
    inst: Instance, fixed_in: B1 | None, fixed_out: B1 | None, incumbent: B1 | None, stop: float
) -> Solution:
    """HiGHS on the items not fixed; only selections better than ``incumbent`` are sought.

    A fixed item takes its fixed value in every selection better than the incumbent, so when
    HiGHS proves that none exists the incumbent is optimal.
    """
    none = np.zeros(inst.n_items, dtype=bool)
    fixed_in = none if fixed_in is None else fixed_in
    fixed_out = none if fixed_out is None else fixed_out
    cutoff = math.inf if incumbent is None else inst.objective(incumbent)
    sol, _ = _solve(inst, fixed_in, fixed_out, True, stop, cutoff)
    if incumbent is None:
        return sol
    if sol.mask is not None and inst.objective(sol.mask) < cutoff:
        return sol
    if sol.status is Status.TIME_LIMIT:
        return Solution(Status.TIME_LIMIT, incumbent, min(sol.lower_bound, cutoff), sol.message)
    return Solution(Status.OPTIMAL, incumbent, cutoff, "no better selection than the incumbent")
