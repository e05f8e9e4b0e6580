r"""Spend budget that costs no value: keep more items where the removed value does not rise.

An optimum of the selection problem need not spend its budget: items of value 0 (a dead ReLU
channel has Taylor importance 0) lower no objective, so the exact methods have no reason to keep
them, and a plan can end several percent under a latency budget while another plan of the same
value sits right at it. Given an optimal keep mask :math:`x`, this pass grows groups in turn,

.. math::
    k_g \to k'_g = \max\{k \in K_g,\ k > k_g :\ \Delta v_g(k) \ge 0,\
        u + \Delta T_g(k) \le B\},

where :math:`\Delta v_g(k)` is the value of the items the group would add (its next ones by
value: the top-:math:`k` of a counted group, the best unkept ones of a per-item group, so a
count stays in :math:`K_g`), :math:`\Delta T_g(k)` their cost per resource, :math:`u` the usage
so far and :math:`B` the budget (no tolerance: a grown plan is never over). The removed value
never rises, so an optimum stays an optimum (with its certificate), and only value-0 items or
what lies inside the optimality tolerance are ever added. A counted group is looked at only
when its best unkept item has value exactly 0 (a positive one that fitted would contradict the
optimum, a negative one only lowers the value): one vectorised test, then a loop over those.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._instance import Instance

__all__ = ["spend_free_slack"]

B1 = NDArray[np.bool_]
F64 = NDArray[np.float64]


def _grow_counted(inst: Instance, mask: B1, g: int, k: int, slack: F64) -> F64 | None:
    """Grow counted group ``g`` (keeping ``k``) to its largest free count; the cost added, or
    None."""
    a = int(inst.starts[g])
    allowed = inst.allowed[g]
    larger = allowed[allowed > k]
    if larger.size == 0:
        return None
    ranked = inst.values[a + inst.order[g]]
    gain = np.cumsum(ranked[k:])[larger - k - 1]
    table = inst.tables[g]
    delta = table[:, larger] - table[:, [k]]
    ok = (gain >= 0.0) & np.all(delta <= slack[:, None], axis=0)
    if not ok.any():
        return None
    j = int(np.flatnonzero(ok)[-1])
    mask[a + inst.order[g][: larger[j]]] = True
    added: F64 = delta[:, j]
    return added


def _grow_per_item(inst: Instance, mask: B1, g: int, k: int, slack: F64) -> F64 | None:
    """Add group ``g``'s best unkept items (value >= 0) to its ``k`` kept, up to its largest
    free allowed count."""
    a, n = int(inst.starts[g]), int(inst.sizes[g])
    local = np.flatnonzero(~mask[a : a + n]) + a
    costs = inst.costs[:, local]
    free = (inst.values[local] >= 0.0) & np.all(costs <= slack[:, None], axis=0)
    local, costs = local[free], costs[:, free]
    allowed = inst.allowed[g]
    larger = allowed[(allowed > k) & (allowed - k <= local.size)]
    if larger.size == 0:
        return None
    order = np.lexsort((costs.sum(axis=0), -inst.values[local]))
    spent = np.cumsum(costs[:, order], axis=1)[:, larger - k - 1]
    fits = np.flatnonzero(np.all(spent <= slack[:, None], axis=0))
    if fits.size == 0:
        return None
    j = int(fits[-1])
    mask[local[order[: larger[j] - k]]] = True
    added: F64 = spent[:, j]
    return added


def _best_unkept(inst: Instance, mask: B1) -> F64:
    """(G,): the largest value a group leaves out (-inf where it keeps everything)."""
    out = np.full(inst.n_groups, -np.inf)
    nonempty = np.flatnonzero(inst.sizes > 0)
    if nonempty.size:
        left = np.where(mask, -np.inf, inst.values)
        out[nonempty] = np.maximum.reduceat(left, inst.starts[nonempty])
    return out


def spend_free_slack(inst: Instance, mask: B1) -> B1:
    """``mask`` with every group grown (in order) as far as it costs no value and fits."""
    out = mask.copy()
    counts = inst.counts(out)  # a group's count changes only when it grows, after its turn
    slack = inst.budget - inst.usage(out, counts)
    if np.any(slack < 0):
        return out
    counted = inst.counted
    grow = np.zeros(inst.n_groups, dtype=bool)
    if counted.any() and np.min(inst.values) <= 0.0:
        grow = counted & (_best_unkept(inst, out) == 0.0)
    if inst.any_per_item:
        # A per-item group grows only by an unkept item of value >= 0 that fits on its own.
        free = ~out & (inst.values >= 0.0) & inst.per_item
        if free.any():
            free[free] = np.all(inst.costs[:, free] <= slack[:, None], axis=0)
        grow |= np.bincount(inst.group_of[free], minlength=inst.n_groups) > 0
    for g in np.flatnonzero(grow).tolist():
        step = _grow_counted if counted[g] else _grow_per_item
        added = step(inst, out, g, int(counts[g]), slack)
        if added is not None:
            slack = slack - added
    return out
