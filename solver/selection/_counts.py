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
from ._instance import F64, Instance, Solution
from ._slack import grow_options

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
    ``shift`` per group; ``cost`` (R, G, L).
    """

    allowed: NDArray[np.bool_]
    loss: F64
    cost: F64
    shift: float


def _ranked_prefix(inst: Instance, g: int, out: F64) -> F64:
    """Sums of the group's top-k values, k = 0 .. n, written into ``out[: n + 1]``."""
    values = inst.values[inst.starts[g] : inst.starts[g + 1]]
    order = inst.order.get(g)
    ranked = values[order] if order is not None else np.sort(values)[::-1]
    prefix = out[: values.size + 1]
    prefix[0] = 0.0
    np.cumsum(ranked, out=prefix[1:])
    return prefix


def _table(inst: Instance, g: int) -> F64:
    if g in inst.tables:
        return inst.tables[g]
    unit = inst.costs[:, inst.starts[g]]
    return np.asarray(unit[:, None] * np.arange(int(inst.sizes[g]) + 1), dtype=np.float64)


def tables(inst: Instance) -> Tables:
    """The dense arrays of the count-table problem of ``inst`` (see `Tables`).

    One pass per group writes its row; an interval of counts is a reversed slice.
    """
    sizes = np.array([a.size for a in inst.allowed], dtype=np.int64)
    shape = (inst.n_groups, int(sizes.max()))
    loss = np.zeros(shape)
    cost = np.zeros((len(inst.resources), *shape))
    buffer = np.empty(int(inst.sizes.max()) + 1)
    for g, allowed in enumerate(inst.allowed):
        m, lo, hi = allowed.size, int(allowed[0]), int(allowed[-1])
        pick = slice(hi, lo - 1 if lo > 0 else None, -1) if hi - lo + 1 == m else allowed[::-1]
        prefix, table = _ranked_prefix(inst, g, buffer), _table(inst, g)
        np.subtract(prefix[-1], prefix[pick], out=loss[g, :m])
        cost[:, g, :m] = table[:, pick]
    allowed_mask = np.arange(shape[1]) < sizes[:, None]
    low = np.where(allowed_mask, loss, np.inf).min(axis=1)
    loss -= low[:, None]
    return Tables(allowed_mask, loss, cost, float(low.sum()))


def solve_counts(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """Certified optimum by the allocation family's exact method; every group keeps top-k
    (the most items among its options of equal value that fit: `grow_options`)."""
    del seed  # deterministic
    t = tables(inst)
    sol = solve_arrays(t.loss, t.cost, t.allowed, inst.budget, time_limit=time_limit)
    if sol.choice is None:
        status = Status.INFEASIBLE if sol.status is Status.INFEASIBLE else Status.TIME_LIMIT
        return Solution(status, None, sol.lower_bound + t.shift, sol.message)
    choice = grow_options(t.loss, t.cost, t.allowed, sol.choice, inst.budget)
    mask = np.zeros(inst.n_items, dtype=bool)
    for g, allowed in enumerate(inst.allowed):
        kept = int(allowed[allowed.size - 1 - choice[g]])
        mask[inst.starts[g] : inst.starts[g + 1]] = inst.top_mask(g, kept)
    status = Status.OPTIMAL if sol.status is Status.OPTIMAL else Status.TIME_LIMIT
    message = "multiple-choice knapsack, the allocation family's exact method"
    return Solution(status, mask, sol.lower_bound + t.shift, f"{message}. {sol.message}".strip())
