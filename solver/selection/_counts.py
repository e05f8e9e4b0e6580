r"""Count tables: the multiple-choice knapsack of the allocation family, solved by its exact core.

A group that keeps its top-:math:`k` items by value (it has a count table, or every item costs
the same) is one decision, its kept count :math:`k \in K_g`, with removed value
:math:`D_g(k) = \sum_{i \in g} v_i - P_g(k)` (:math:`P_g(k)` the sum of its :math:`k` largest
values) and cost :math:`T^r_g(k)`:

.. math::
    \min_{k_g \in K_g} \sum_g D_g(k_g) \quad \text{s.t.} \quad \sum_g T^r_g(k_g) \le B^r

which is the allocation family's problem: one item per group, one option per allowed count
(most kept first), loss :math:`D_g` shifted by its minimum to be >= 0. The arrays go straight
to `solve_arrays`, the allocation family's exact method (the one `allocate` runs), without
building and validating layer profiles again; this module only translates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._result import Status
from ..allocation._exact import solve_arrays
from ._instance import F64, Instance, Solution, keep_top

__all__ = ["countable", "solve_counts"]


def _equal_costs(inst: Instance, g: int) -> bool:
    block = inst.costs[:, inst.starts[g] : inst.starts[g + 1]]
    return bool(np.all(block == block[:, :1]))


def countable(inst: Instance) -> bool:
    """Whether every group keeps its top items: a count table, or equal costs per item."""
    return all(g in inst.tables or _equal_costs(inst, g) for g in range(inst.n_groups))


@dataclass(frozen=True, eq=False)
class Tables:
    """The count-table problem as the allocation family's dense arrays.

    Option ``j`` of group ``g`` keeps ``inst.allowed[g][::-1][j]`` items (most kept first);
    ``allowed`` (G, L) marks the real options; ``loss`` (G, L) the removed value less
    ``shift`` per group (0 on padding); ``cost`` (R, G, L) (0 on padding); ``ascending`` (N,)
    every group's values sorted ascending in the group's place.
    """

    allowed: NDArray[np.bool_]
    loss: F64
    cost: F64
    shift: float
    ascending: F64


def _table(inst: Instance, g: int) -> F64:
    if g in inst.tables:
        return inst.tables[g]
    unit = inst.costs[:, inst.starts[g]]
    return np.asarray(unit[:, None] * np.arange(int(inst.sizes[g]) + 1), dtype=np.float64)


def tables(inst: Instance) -> Tables:
    """The dense arrays of the count-table problem of ``inst`` (see `Tables`).

    One pass per group: its values sorted in place, their running sums (the removed value of
    keeping ``k`` is the sum of the ``n - k`` smallest), its row written; an interval of
    counts is a slice.
    """
    sizes = np.array([a.size for a in inst.allowed], dtype=np.int64)
    shape = (inst.n_groups, int(sizes.max()))
    loss = np.empty(shape)
    cost = np.empty((len(inst.resources), *shape))
    low = np.empty(inst.n_groups)
    ascending = inst.values.copy()
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
        low[g] = row.min()
        row -= low[g]
        loss[g, m:] = 0.0
        cost[:, g, m:] = 0.0
    allowed_mask = np.arange(shape[1]) < sizes[:, None]
    return Tables(allowed_mask, loss, cost, float(low.sum()), ascending)


def solve_counts(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """Certified optimum by the allocation family's exact method; every group keeps top-k."""
    del seed  # deterministic
    t = tables(inst)
    sol = solve_arrays(t.loss, t.cost, t.allowed, inst.budget, time_limit=time_limit)
    if sol.choice is None:
        status = Status.INFEASIBLE if sol.status is Status.INFEASIBLE else Status.TIME_LIMIT
        return Solution(status, None, sol.lower_bound + t.shift, sol.message)
    mask = np.empty(inst.n_items, dtype=bool)
    starts = inst.starts.tolist()
    for g, (allowed, option) in enumerate(zip(inst.allowed, sol.choice.tolist(), strict=True)):
        a, b = starts[g], starts[g + 1]
        kept = int(allowed[allowed.size - 1 - option])
        keep_top(inst.values[a:b], kept, float(t.ascending[b - kept]) if kept else 0.0, mask[a:b])
    status = Status.OPTIMAL if sol.status is Status.OPTIMAL else Status.TIME_LIMIT
    message = "multiple-choice knapsack, the allocation family's exact method"
    return Solution(status, mask, sol.lower_bound + t.shift, f"{message}. {sol.message}".strip())
