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
without building and validating layer profiles again; this module only translates. It is
built a block of groups at a time, dominated counts dropped at once (`compact`), so that
neither the full (G, max n) arrays nor an argsort of any group's items is ever made.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._result import Status
from ..allocation._dense import BLOCK, Dense, compact
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

    Option ``j`` of group ``g`` keeps ``counts[g, j]`` items, most kept first; ``dense`` holds
    its removed value less ``shift`` per group (``loss``, (G, W)) and its cost (``cost``,
    (R, G, W)), padded as `Dense` says (loss ``inf``); ``kth`` (G, W) is the group's
    ``counts[g, j]``-th largest value (0 where nothing is kept). With one resource, the counts
    that another count beats in both cost and removed value are left out (`compact`, per
    block of groups).
    """

    dense: Dense
    counts: I64
    kth: F64
    shift: float


@dataclass(frozen=True, eq=False)
class _Rows:
    """`Tables` of a block of groups, before the blocks are joined."""

    loss: F64
    cost: F64
    counts: I64
    kth: F64


def _table(inst: Instance, g: int) -> F64:
    if g in inst.tables:
        return inst.tables[g]
    unit = inst.costs[:, inst.starts[g]]
    return np.asarray(unit[:, None] * np.arange(int(inst.sizes[g]) + 1), dtype=np.float64)


def _block(inst: Instance, groups: range, width: int) -> tuple[_Rows, float]:
    """Rows of ``groups``: each group's values sorted, their running sums (keeping ``k``
    removes the ``n - k`` smallest), its options (an interval of counts is a slice), then
    `compact`. Returns the rows and the block's part of the shift."""
    n_res, rows = len(inst.resources), len(groups)
    loss = np.full((rows, width), np.inf)
    cost = np.empty((n_res, rows, width))
    counts = np.zeros((rows, width), dtype=np.int64)
    kth = np.zeros((rows, width))
    ranked = np.zeros(int(inst.sizes.max()) + 1)  # ranked[n] = 0: the "k-th" value at k = 0
    removed = np.zeros(ranked.size)  # removed[j]: the j smallest values summed
    shift = 0.0
    for i, g in enumerate(groups):
        a, b = int(inst.starts[g]), int(inst.starts[g + 1])
        n, allowed = b - a, inst.allowed[g]
        m, lo, hi = allowed.size, int(allowed[0]), int(allowed[-1])
        ranked[:n] = inst.values[a:b]
        ranked[:n].sort()
        ranked[n] = 0.0
        np.cumsum(ranked[:n], out=removed[1 : n + 1])
        if hi - lo + 1 == m:
            pick: slice | I64 = slice(n - hi, n - lo + 1)
            counts[i, :m] = np.arange(hi, lo - 1, -1)
            cost[:, i, :m] = _table(inst, g)[:, hi : lo - 1 if lo > 0 else None : -1]
        else:
            pick = n - allowed[::-1]
            counts[i, :m] = allowed[::-1]
            cost[:, i, :m] = _table(inst, g)[:, allowed[::-1]]
        low = float(removed[pick].min())
        np.subtract(removed[pick], low, out=loss[i, :m])
        kth[i, :m] = ranked[pick]
        cost[:, i, m:] = cost[:, i, :m].max(axis=1, keepdims=True)
        shift += low
    sub, index = compact(Dense(loss, cost, inst.budget))
    if index is not None:
        counts = np.take_along_axis(counts, index, axis=1)
        kth = np.take_along_axis(kth, index, axis=1)
    return _Rows(sub.loss, sub.cost, counts, kth), shift


def _join(blocks: list[_Rows]) -> _Rows:
    """The blocks stacked, padded to the widest."""
    if len(blocks) == 1:
        return blocks[0]
    width = max(b.loss.shape[1] for b in blocks)
    n_groups = sum(b.loss.shape[0] for b in blocks)
    loss = np.full((n_groups, width), np.inf)
    cost = np.empty((blocks[0].cost.shape[0], n_groups, width))
    counts = np.zeros((n_groups, width), dtype=np.int64)
    kth = np.zeros((n_groups, width))
    a = 0
    for b in blocks:
        rows, w = slice(a, a + b.loss.shape[0]), b.loss.shape[1]
        loss[rows, :w], counts[rows, :w], kth[rows, :w] = b.loss, b.counts, b.kth
        cost[:, rows, :w] = b.cost
        cost[:, rows, w:] = b.cost.max(axis=2, keepdims=True)
        a = rows.stop
    return _Rows(loss, cost, counts, kth)


def tables(inst: Instance) -> Tables:
    """The dense instance of the count-table problem of ``inst`` (see `Tables`).

    Built in blocks of about `BLOCK` options, each compacted at once: the memory it touches
    is about that of the result, not of every count of every group.
    """
    width = max(a.size for a in inst.allowed)
    step = max(1, BLOCK // width)
    parts = [
        _block(inst, range(a, min(a + step, inst.n_groups)), width)
        for a in range(0, inst.n_groups, step)
    ]
    rows = _join([p for p, _ in parts])
    dense = Dense(rows.loss, rows.cost, inst.budget)
    return Tables(dense, rows.counts, rows.kth, sum(shift for _, shift in parts))


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
