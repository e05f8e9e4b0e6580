r"""Count tables: the multiple-choice knapsack of the allocation family, solved by `allocate`.

A group that keeps its top-:math:`k` items by value (it has a count table, or every item costs
the same) is one decision, its kept count :math:`k \in K_g`, with removed value
:math:`D_g(k) = \sum_{i \in g} v_i - P_g(k)` (:math:`P_g(k)` the sum of its :math:`k` largest
values) and cost :math:`T^r_g(k)`:

.. math::
    \min_{k_g \in K_g} \sum_g D_g(k_g) \quad \text{s.t.} \quad \sum_g T^r_g(k_g) \le B^r

which is an `AllocationProblem`: one layer per group, one level per allowed count (on one
shared grid, unused levels cut off by ``max_sparsity``), loss :math:`D_g` shifted by its
minimum to be >= 0. The allocation family's exact method solves and certifies it; this module
only translates.
"""

from __future__ import annotations

import numpy as np

from .. import AllocationProblem, LayerProfile, allocate
from .._result import Status
from ._instance import F64, Instance, Solution

__all__ = ["countable", "solve_counts"]


def _equal_costs(inst: Instance, g: int) -> bool:
    block = inst.costs[:, inst.starts[g] : inst.starts[g + 1]]
    return bool(np.all(block == block[:, :1]))


def countable(inst: Instance) -> bool:
    """Whether every group keeps its top items: a count table, or equal costs per item."""
    return all(g in inst.tables or _equal_costs(inst, g) for g in range(inst.n_groups))


def _table(inst: Instance, g: int) -> F64:
    if g in inst.tables:
        return inst.tables[g]
    n = int(inst.sizes[g])
    unit = inst.costs[:, inst.starts[g]]
    return np.asarray(unit[:, None] * np.arange(n + 1)[None, :], dtype=np.float64)


def _removed(inst: Instance, g: int) -> F64:
    values = inst.values[inst.starts[g] : inst.starts[g + 1]]
    ranked = values[inst.order[g]] if g in inst.order else np.sort(values)[::-1]
    prefix = np.concatenate([[0.0], np.cumsum(ranked)])
    return np.asarray(prefix[-1] - prefix, dtype=np.float64)


def _layers(inst: Instance) -> tuple[list[LayerProfile], float]:
    width = max(a.size for a in inst.allowed)
    levels = np.linspace(0.0, 1.0, width) if width > 1 else np.zeros(1)
    layers, shift = [], 0.0
    for g in range(inst.n_groups):
        counts = inst.allowed[g][::-1]  # most kept first: sparsity ascending
        loss = _removed(inst, g)[counts]
        low = float(loss.min())
        shift += low
        pad = width - counts.size
        table = _table(inst, g)[:, counts]
        costs = {r: np.pad(table[i], (0, pad), mode="edge") for i, r in enumerate(inst.resources)}
        layers.append(
            LayerProfile(
                inst.names[g],
                levels,
                np.pad(loss - low, (0, pad), mode="edge"),
                1,
                costs=costs,
                max_sparsity=float(levels[counts.size - 1]),
            )
        )
    return layers, shift


def solve_counts(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """Certified optimum through `allocate` (``method="exact"``); every group keeps top-k."""
    layers, shift = _layers(inst)
    budget = dict(zip(inst.resources, inst.budget.tolist(), strict=True))
    result = allocate(
        AllocationProblem(layers, budget), method="exact", time_limit=time_limit, seed=seed
    )
    if not result.level_index:
        status = Status.INFEASIBLE if result.status is Status.INFEASIBLE else Status.TIME_LIMIT
        return Solution(status, None, result.lower_bound + shift, result.message)
    mask = np.zeros(inst.n_items, dtype=bool)
    for g, name in enumerate(inst.names):
        k = int(inst.allowed[g][::-1][result.level_index[name]])
        mask[inst.starts[g] : inst.starts[g + 1]] = inst.top_mask(g, k)
    status = Status.OPTIMAL if result.status is Status.OPTIMAL else Status.TIME_LIMIT
    return Solution(status, mask, result.lower_bound + shift, "via allocate: " + result.message)
