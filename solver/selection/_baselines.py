"""The baselines, reproduced: global threshold (Torch-Pruning), greedy (Aflalo), uniform, HALP.

Each returns a selection within every budget and side constraint, or none; none proves a bound
(the family adds the Lagrangian one).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from .._result import Status
from ._instance import B1, F64, I64, Instance, Solution
from ._knapsack01 import BUDGET_SLACK, greedy_fill, repair

__all__ = ["solve_global_threshold", "solve_greedy", "solve_halp", "solve_uniform"]

GRID = 64
"""Points of the scan over the pruned fraction (global threshold) before the bisection."""
BISECT = 40
"""Bisection steps of global threshold and uniform."""


def _none(lower: float, message: str) -> Solution:
    """No selection found: reported as INFEASIBLE, though ``exact`` may still find one."""
    return Solution(Status.INFEASIBLE, None, lower, f"{message} (try method 'exact').")


def _weights(inst: Instance) -> F64:
    return 1.0 / inst.budget


def _by_value(inst: Instance, g: int) -> I64:
    a, b = inst.starts[g], inst.starts[g + 1]
    return inst.order.get(g, np.argsort(-inst.values[a:b], kind="stable"))


def _top_cost(inst: Instance) -> tuple[F64, I64]:
    """Per group, cost (R, n + 1) of its top-k items by value, flattened with offsets."""
    blocks, offsets = [], [0]
    for g in range(inst.n_groups):
        if g in inst.tables:
            blocks.append(inst.tables[g])
        else:
            a = inst.starts[g]
            cum = np.cumsum(inst.costs[:, a + _by_value(inst, g)], axis=1)
            blocks.append(np.concatenate([np.zeros((cum.shape[0], 1)), cum], axis=1))
        offsets.append(offsets[-1] + blocks[-1].shape[1])
    return np.concatenate(blocks, axis=1), np.array(offsets[:-1], dtype=np.int64)


def _snap(inst: Instance, k: I64, up: bool) -> I64:
    """Each count moved to an allowed one (the nearest below, or above if ``up``)."""
    out = np.empty_like(k)
    for g, allowed in enumerate(inst.allowed):
        i = int(np.searchsorted(allowed, k[g], side="left" if up else "right"))
        i = min(i, allowed.size - 1) if up else max(i - 1, 0)
        out[g] = allowed[i]
    return out


def _mask_of(inst: Instance, k: I64) -> B1:
    return np.concatenate([inst.top_mask(g, int(k[g])) for g in range(inst.n_groups)])


def _fits(inst: Instance, flat: F64, offsets: I64, k: I64) -> bool:
    usage = flat[:, offsets + k].sum(axis=1)
    return bool(np.all(usage <= inst.budget * (1.0 + BUDGET_SLACK)))


def solve_uniform(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """The same kept fraction ``f`` in every group (the largest that fits), top items by value.

    Group ``g`` keeps the allowed count at or below ``round(f n_g)``.
    """
    flat, offsets = _top_cost(inst)
    n = inst.sizes

    def counts(f: float) -> I64:
        return _snap(inst, np.rint(f * n).astype(np.int64), up=False)

    lo, hi = 0.0, 1.0
    if _fits(inst, flat, offsets, counts(1.0)):
        lo = 1.0
    for _ in range(BISECT):
        mid = 0.5 * (lo + hi)
        if _fits(inst, flat, offsets, counts(mid)):
            lo = mid
        else:
            hi = mid
    k = counts(lo)
    if not _fits(inst, flat, offsets, k):
        return _none(-math.inf, "uniform: no fraction fits")
    return Solution(Status.FEASIBLE, _mask_of(inst, k), -math.inf, f"kept fraction {lo:.6g}")


def _normalised(inst: Instance) -> F64:
    """Torch-Pruning's group normaliser ``"mean"``: each group's values over their mean size."""
    sizes = inst.sizes.astype(np.float64)
    mean = np.add.reduceat(np.abs(inst.values), inst.starts[:-1]) / sizes
    scale = np.where(mean > 0, mean, 1.0)
    return inst.values / scale[inst.group_of]


def solve_global_threshold(
    inst: Instance, time_limit: float | None = None, seed: int = 0
) -> Solution:
    """Torch-Pruning's global pruning, its ratio tuned until the budget is met.

    One global ranking of the normalised values; pruning ratio ``p`` removes the ``p N``
    lowest. A group the threshold would empty is skipped (kept whole, as Torch-Pruning does);
    otherwise its kept count is raised to ``min_keep`` and to the next allowed count (its
    ``round_to``). The ratio is the smallest that meets the budget: a scan, then bisection.
    """
    flat, offsets = _top_cost(inst)
    ranked = inst.group_of[np.argsort(_normalised(inst), kind="stable")]
    n = inst.sizes

    def counts(p: float) -> I64:
        pruned = np.bincount(ranked[: int(p * inst.n_items)], minlength=inst.n_groups)
        kept = n - pruned
        kept = np.where(kept == 0, n, kept)
        return _snap(inst, np.minimum(np.maximum(kept, inst.kmin), inst.kmax), up=True)

    grid = np.linspace(0.0, 1.0, GRID + 1)
    fits = [_fits(inst, flat, offsets, counts(p)) for p in grid]
    first = next((i for i, ok in enumerate(fits) if ok), -1)
    if first < 0:
        return _none(-math.inf, "global_threshold: no ratio fits")
    lo, hi = (grid[first - 1], grid[first]) if first > 0 else (0.0, 0.0)
    for _ in range(BISECT if first > 0 else 0):
        mid = 0.5 * (lo + hi)
        if _fits(inst, flat, offsets, counts(mid)):
            hi = mid
        else:
            lo = mid
    return Solution(Status.FEASIBLE, _mask_of(inst, counts(hi)), -math.inf, f"ratio {hi:.6g}")


def _steps(
    inst: Instance, g: int, order: I64
) -> tuple[I64, F64, F64]:  # fmt: skip
    """Allowed counts of group ``g`` along ``order``, their kept values and costs (R, K)."""
    allowed = inst.allowed[g]
    a = inst.starts[g]
    value = np.concatenate([[0.0], np.cumsum(inst.values[a + order])])[allowed]
    if g in inst.tables:
        cost = inst.tables[g][:, allowed]
    else:
        cum = np.cumsum(inst.costs[:, a + order], axis=1)
        cost = np.concatenate([np.zeros((cum.shape[0], 1)), cum], axis=1)[:, allowed]
    return allowed, value, cost


def _ascend(inst: Instance, orders: dict[int, I64], mask: B1, residual: F64) -> F64:
    """Each group in ``orders`` climbs its allowed counts, best value per weighted cost first.

    A group whose next step does not fit stops there (HALP's augmented knapsack).
    """
    w = _weights(inst)
    table = {g: _steps(inst, g, o) for g, o in orders.items()}
    at = dict.fromkeys(orders, 0)
    heap: list[tuple[float, int]] = []

    def push(g: int) -> None:
        j = at[g]
        _, value, cost = table[g]
        if j + 1 < value.size:
            dv, dc = value[j + 1] - value[j], float(w @ (cost[:, j + 1] - cost[:, j]))
            ratio = math.inf if dc <= 0 else dv / dc
            heapq.heappush(heap, (-ratio, g))

    for g in orders:
        push(g)
    while heap:
        _, g = heapq.heappop(heap)
        j = at[g]
        delta = table[g][2][:, j + 1] - table[g][2][:, j]
        if np.all(delta <= residual):
            at[g], residual = j + 1, residual - delta
            push(g)
    for g, j in at.items():
        a = inst.starts[g]
        k = int(table[g][0][j])
        mask[a : inst.starts[g + 1]] = False
        mask[a + orders[g][:k]] = True
    return residual


def _start(inst: Instance, orders: dict[int, I64]) -> tuple[B1, F64]:
    mask = np.zeros(inst.n_items, dtype=bool)
    for g, order in orders.items():
        mask[inst.starts[g] + order[: inst.kmin[g]]] = True
    return mask, inst.budget - inst.usage(mask)


def _result(inst: Instance, mask: B1, name: str) -> Solution:
    if not inst.fits(mask, BUDGET_SLACK) or not inst.side_ok(mask):
        return _none(-math.inf, f"{name}: smallest counts do not fit")
    return Solution(Status.FEASIBLE, mask, -math.inf)


def solve_halp(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """HALP's greedy augmented knapsack: items by importance, groups climb latency steps.

    Every group keeps its top items by value and starts at its smallest allowed count; the
    next step of every group (to its next allowed count) competes on value gained per
    weighted cost, steps that cost nothing first, until no next step fits.
    """
    orders = {g: _by_value(inst, g) for g in range(inst.n_groups)}
    mask, residual = _start(inst, orders)
    if np.any(residual < 0):
        return _none(-math.inf, "halp: smallest counts do not fit")
    _ascend(inst, orders, mask, residual)
    return _result(inst, mask, "halp")


def solve_greedy(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """Aflalo's greedy: items by value per (weighted) cost, each added if it fits.

    Every group starts with its ``min_keep`` best items by that ratio; counted groups then
    climb their steps as in HALP; kept counts are cut to allowed ones at the end.
    """
    weighted = _weights(inst) @ inst.costs
    with np.errstate(divide="ignore", invalid="ignore"):
        free = np.where(inst.values > 0, np.inf, -np.inf)
        ratio = np.where(weighted > 0, inst.values / weighted, free)
    orders = {}
    for g in range(inst.n_groups):
        a, b = inst.starts[g], inst.starts[g + 1]
        orders[g] = (
            _by_value(inst, g) if g in inst.tables else np.argsort(-ratio[a:b], kind="stable")
        )
    mask, residual = _start(inst, orders)
    if np.any(residual < 0):
        return _none(-math.inf, "greedy: smallest counts do not fit")
    cand = np.flatnonzero(inst.per_item & ~mask & (inst.values > 0))
    cand = cand[np.argsort(-ratio[cand], kind="stable")]
    residual = greedy_fill(inst, mask, cand, residual)
    counted = {g: o for g, o in orders.items() if g in inst.tables}
    _ascend(inst, counted, mask, residual)
    repair(inst, mask, ratio)
    return _result(inst, mask, "greedy")
