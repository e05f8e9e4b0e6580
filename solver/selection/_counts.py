r"""Count tables: the multiple-choice knapsack of the allocation family, solved by its exact core.

A group that keeps its top-:math:`k` items by value (it has a count table, or every item costs
the same) is one decision, its kept count :math:`k \in K_g`, with removed value
:math:`D_g(k) = \sum_{i \in g} v_i - P_g(k)` (:math:`P_g(k)` the sum of its :math:`k` largest
values) and cost :math:`T^r_g(k)`:

.. math::
    \min_{k_g \in K_g} \sum_g D_g(k_g) \quad \text{s.t.} \quad \sum_g T^r_g(k_g) \le B^r

which is the allocation family's problem: one item per group, one option per allowed count
(most kept first), loss :math:`D_g` shifted by its minimum to be >= 0. The dense instance goes
straight to `solve_dense`, the allocation family's exact method (the one `allocate` runs),
without building and validating layer profiles again; this module only translates. Dominated
counts are dropped (`compact`) before the solve, so that only the compact instance is held
while it runs; no group's items are argsorted (sorted values and `keep_top` suffice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._result import Status
from ..allocation._dense import Dense, compact
from ..allocation._exact import solve_dense
from ._instance import F64, I64, Instance, Solution, keep_top

__all__ = ["countable", "solve_counts"]


def _equal_costs(inst: Instance, g: int) -> bool:
    block = inst.costs[:, inst.starts[g] : inst.starts[g + 1]]
    return bool(np.all(block == block[:, :1]))


def countable(inst: Instance) -> bool:
    """Whether every group keeps its top items: a count table, or equal costs per item."""
    return all(g in inst.tables or _equal_costs(inst, g) for g in range(inst.n_groups))


@dataclass(frozen=True, eq=False)
class Tables:
    """The count-table problem as the allocation family's dense instance, dominated counts out.

    Option ``j`` of group ``g`` keeps ``counts[g, j]`` items (most kept first); ``dense`` holds
    its removed value less ``shift`` per group (``loss``, (G, W)) and its cost (``cost``,
    (R, G, W)), padded as `Dense` says (loss ``inf``); ``kth`` (G, W) is the group's
    ``counts[g, j]``-th largest value (0 where nothing is kept). With one resource, `compact`
    has dropped the counts that another beats in both cost and removed value.
    """

    dense: Dense
    counts: I64
    kth: F64
    shift: float


def _table(inst: Instance, g: int) -> F64:
    if g in inst.tables:
        return inst.tables[g]
    unit = inst.costs[:, inst.starts[g]]
    return np.asarray(unit[:, None] * np.arange(int(inst.sizes[g]) + 1), dtype=np.float64)


def _rows(inst: Instance, ascending: F64) -> tuple[Dense, float]:
    """Every allowed count of every group as a padded `Dense`, and the shift.

    One pass per group: its values sorted in place in ``ascending`` (N,), their running sums
    (keeping ``k`` removes the ``n - k`` smallest), its row written; an interval of counts is
    a slice.
    """
    shape = (inst.n_groups, max(a.size for a in inst.allowed))
    loss = np.empty(shape)
    cost = np.empty((len(inst.resources), *shape))
    shift = 0.0
    removed = np.zeros(int(inst.sizes.max()) + 1)  # removed[j]: the j smallest values summed
    starts = inst.starts.tolist()
    for g, allowed in enumerate(inst.allowed):
        a, b = starts[g], starts[g + 1]
        n, m, lo, hi = b - a, allowed.size, int(allowed[0]), int(allowed[-1])
        ranked = ascending[a:b]
        ranked.sort()
        np.cumsum(ranked, out=removed[1 : n + 1])
        row = loss[g, :m]
        if hi - lo + 1 == m:
            row[:] = removed[n - hi : n - lo + 1]
            cost[:, g, :m] = _table(inst, g)[:, hi : lo - 1 if lo > 0 else None : -1]
        else:
            row[:] = removed[n - allowed[::-1]]
            cost[:, g, :m] = _table(inst, g)[:, allowed[::-1]]
        low = float(row.min())
        row -= low
        shift += low
        loss[g, m:] = np.inf
        cost[:, g, m:] = cost[:, g, :m].max(axis=1, keepdims=True)
    return Dense(loss, cost, inst.budget), shift


def _option_counts(inst: Instance, index: I64 | None, shape: tuple[int, ...]) -> I64:
    """(G, W): the count option ``j`` keeps, ``index`` (G, W) the original options `compact`
    kept (``None``: all of them; the padding then gets a count of the group too)."""
    options = np.broadcast_to(np.arange(shape[1]), shape) if index is None else index
    counts: I64 = np.maximum(inst.kmax[:, None] - options, inst.kmin[:, None])  # intervals
    for g in np.flatnonzero(~inst.interval).tolist():
        allowed = inst.allowed[g]
        counts[g] = allowed[::-1][np.minimum(options[g], allowed.size - 1)]
    return counts


def tables(inst: Instance) -> Tables:
    """The dense instance of the count-table problem of ``inst`` (see `Tables`).

    The rows of every allowed count (`_rows`) live only until `compact` has dropped the
    dominated ones: the solve holds the compact instance alone.
    """
    ascending = inst.values.copy()
    full, shift = _rows(inst, ascending)
    dense, index = compact(full)
    del full
    counts = _option_counts(inst, index, dense.loss.shape)
    last = inst.starts[1:, None] - 1  # k = 0 reads the group's last value, then 0
    kth = ascending[np.minimum(inst.starts[:-1, None] + inst.sizes[:, None] - counts, last)]
    kth[counts == 0] = 0.0
    return Tables(dense, counts, kth, shift)


def solve_counts(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """Certified optimum by the allocation family's exact method; every group keeps top-k."""
    del seed  # deterministic
    t = tables(inst)
    sol = solve_dense(t.dense, time_limit=time_limit)
    if sol.choice is None:
        status = Status.INFEASIBLE if sol.status is Status.INFEASIBLE else Status.TIME_LIMIT
        return Solution(status, None, sol.lower_bound + t.shift, sol.message)
    rows = np.arange(inst.n_groups)
    kept, kth = t.counts[rows, sol.choice].tolist(), t.kth[rows, sol.choice].tolist()
    mask = np.empty(inst.n_items, dtype=bool)
    starts = inst.starts.tolist()
    for g in range(inst.n_groups):
        a, b = starts[g], starts[g + 1]
        keep_top(inst.values[a:b], kept[g], kth[g], mask[a:b])
    status = Status.OPTIMAL if sol.status is Status.OPTIMAL else Status.TIME_LIMIT
    message = "multiple-choice knapsack, the allocation family's exact method"
    return Solution(status, mask, sol.lower_bound + t.shift, f"{message}. {sol.message}".strip())
