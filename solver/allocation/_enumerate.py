r"""Fast core of the exact method: every plan the reduced costs allow, enumerated in blocks.

With multipliers :math:`\mu \ge 0`, dual value :math:`g(\mu)` and reduced costs
:math:`\bar\ell_{jk} \ge 0` (see `_core_search`), every plan :math:`x` within budget satisfies

.. math::
    z(x) - g(\mu) = \sum_j \bar\ell_{j x_j} + \mu^\top \Bigl(B - \sum_j c_{j x_j}\Bigr)
    \ge \sum_j \bar\ell_{j x_j}

so a plan better than the incumbent :math:`z^+` has :math:`\sum_j \bar\ell_{j x_j} \le
z^+ - g(\mu)`. When the bound is tight, few options pass and few combinations of them do.
They are enumerated in *blocks* of open items (all combinations of a block at once, by
mixed-radix decoding), joined to the partial plans so far through one sort and one
``searchsorted`` per block: tens of array operations in all, however many items are open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from .._tolerance import FEAS_RTOL
from ._core_search import HullBound, Incumbent, Setup, checkpoint, hull_bound, prune_tol
from ._dense import Dense, non_dominated
from ._instance import F64, I64

B2 = NDArray[np.bool_]

BLOCK = 1024
"""Most combinations of one block of open items."""

HULL_STATES = 256
"""Partial plans beyond which the LP bounds of the blocks to come (`hull_bound`) prune too.

Building them costs tens of microseconds per open item; with few partial plans the cheap
bounds suffice (the allocation benchmarks), with many (count tables) they cut most away.
"""


@dataclass(frozen=True, eq=False)
class Block:
    """The combinations of a few open items' candidate options with reduced cost <= gap.

    Combination ``index[m]`` is a flat index into the grid of shape ``counts``; its option
    for item ``items[i]`` is ``table[i, digit_i]``. ``value`` (2 + R, M) holds the reduced
    cost, the loss change and the cost changes relative to the base options.
    """

    items: I64
    table: I64
    counts: tuple[int, ...]
    index: I64
    value: F64

    def options(self, m: int) -> I64:
        """Option per item of combination ``m``."""
        digits = np.unravel_index(int(self.index[m]), self.counts)
        picked: I64 = self.table[np.arange(self.items.size), np.array(digits)]
        return picked


def _candidates(
    d: Dense, st: Setup, open_items: I64, cand: NDArray[np.bool_]
) -> tuple[I64, I64, F64]:
    """Candidate options of the open items, left-aligned (m, w), their counts, and values.

    The values (2 + R, m, w) are reduced cost, loss change and cost changes against the
    base option; padding holds ``inf`` reduced cost and no change.
    """
    rows, cols = np.nonzero(cand[open_items])
    counts = np.bincount(rows, minlength=open_items.size)
    width = int(counts.max(initial=1))
    table = np.zeros((open_items.size, width), dtype=np.int64)
    pos = np.arange(rows.size) - (np.cumsum(counts) - counts)[rows]
    table[rows, pos] = cols
    items, base = open_items[rows], st.base[open_items[rows]]
    value = np.zeros((2 + d.budget.size, open_items.size, width))
    value[0] = np.inf
    value[0, rows, pos] = st.reduced[items, cols]
    value[1, rows, pos] = d.loss[items, cols] - d.loss[items, base]
    value[2:, rows, pos] = d.cost[:, items, cols] - d.cost[:, items, base]
    return table, counts, value


def _partition(counts: I64, size: int) -> list[slice]:
    """Consecutive runs of items whose numbers of options multiply to at most ``size``."""
    runs, start, product = [], 0, 1
    for i, n in enumerate(counts.tolist()):
        if product * n > size:
            runs.append(slice(start, i))
            start, product = i, 1
        product *= n
    runs.append(slice(start, counts.size))
    return [r for r in runs if r.stop > r.start]


def _block(items: I64, table: I64, counts: I64, value: F64, gap: float) -> Block:
    """Every combination of the items' candidate options, reduced cost within ``gap``."""
    shape = tuple(counts.tolist())
    grid = value[:, 0, : shape[0]]
    for i in range(1, len(shape)):
        grid = (grid[:, :, None] + value[:, i, None, : shape[i]]).reshape(grid.shape[0], -1)
    index = np.flatnonzero(grid[0] <= gap)
    return Block(items, table, shape, index, grid[:, index])


@dataclass(frozen=True, eq=False)
class Partial:
    """Partial plans over the blocks joined so far, with how each was built.

    ``value`` (2 + R, S) as in `Block`; ``history`` per block: the parent partial plan and
    the block combination of every plan.
    """

    value: F64
    history: tuple[tuple[I64, I64], ...]


def _join(part: Partial, block: Block, gap: float, max_states: int) -> Partial | None:
    """Every pair (partial plan, block combination) whose reduced costs sum within ``gap``."""
    order = np.argsort(part.value[0], kind="stable")
    count = np.searchsorted(part.value[0, order], gap - block.value[0], side="right")
    total = int(count.sum())
    if total > max_states:
        return None
    combo = np.repeat(np.arange(count.size), count)
    parent = order[np.arange(total) - np.repeat(np.cumsum(count) - count, count)]
    value = part.value[:, parent] + block.value[:, combo]
    return Partial(value, (*part.history, (parent, combo)))


@dataclass(frozen=True, eq=False)
class Bounds:
    """What the blocks still to come can add, per block ``t``: shape (R, T + 1) or (T + 1,).

    ``most``/``least`` bound their cost change, ``base_loss``/``base_cost`` are their base
    options' totals; ``start[t]`` is the index into the open items where block ``t`` begins,
    the stage of the LP bounds in ``hulls`` (built by `with_hulls` when first needed).
    """

    most: F64
    least: F64
    base_loss: F64
    base_cost: F64
    start: I64
    hulls: tuple[HullBound, ...] = ()


def _prune(
    d: Dense, st: Setup, part: Partial, t: int, rest: Bounds, spent: F64, fixed: float, gap: float
) -> Partial:
    """Drop partial plans that cannot fit or cannot close the gap; then dominated ones.

    ``spent`` (R,) and ``fixed`` are the cost and loss of the base plan; ``rest`` bounds what
    the blocks from ``t`` on can add. The LP bounds of those blocks (`HullBound`) prune on
    the loss, the reduced costs with the slack left on the gap.
    """
    used = spent[:, None] + part.value[2:]
    limit = d.budget[:, None] * (1.0 + FEAS_RTOL)
    slack = np.maximum(d.budget[:, None] - used - rest.most[:, t, None], 0.0)
    fits = np.all(used + rest.least[:, t, None] <= limit, axis=0)
    keep = fits & (part.value[0] + st.mu @ slack <= gap)
    if rest.hulls:
        cost = used - rest.base_cost[:, t, None]  # without the blocks to come
        loss = fixed + part.value[1] - rest.base_loss[t]
        target = st.bound + gap
        for hull in rest.hulls:
            room = hull.weights @ (limit - cost)
            keep &= loss + hull.least_loss(int(rest.start[t]), room) <= target
    keep = np.flatnonzero(keep)
    if d.budget.size == 1:
        keep = keep[non_dominated(part.value[2, keep], part.value[1, keep])]
    parent, combo = part.history[-1]
    last = (parent[keep], combo[keep])
    return Partial(part.value[:, keep], (*part.history[:-1], last))


def enumerate_core(
    d: Dense,
    st: Setup,
    inc: Incumbent,
    max_states: int,
    deadline: float = math.inf,
    block: int = BLOCK,
    below: float = math.inf,
) -> Incumbent | None:
    r"""The best plan among the incumbent and every plan the reduced costs leave.

    Enumerates, block by block, the plans with :math:`\sum_j \bar\ell_{j x_j} \le z^+ -
    g(\mu)`, which by the identity above include every plan better than :math:`z^+`.
    After each block the best partial plan that fits (the other items at their base
    options) may improve :math:`z^+`; partial plans that cannot fit, cannot close the gap
    (slack bounded through the most the later blocks can spend, or the LP bound of the
    blocks to come, `hull_bound`) or, with one budget, are dominated in (cost, loss) are
    dropped.

    With ``below``, only plans of loss below it are looked for (a cheaper search; the best
    plan found is optimal if its loss lies below ``below``). Returns ``None`` (and proves
    nothing) when more than ``max_states`` partial plans would be needed; raises
    `SearchAborted` past ``deadline`` (a `time.perf_counter` value).

    Notes
    -----
    :math:`O(nK)` to find the candidates, then per block :math:`O(M b + S \log S)` for
    :math:`M` combinations of :math:`b` items and :math:`S` partial plans.

    References
    ----------
    Pisinger, "A minimal algorithm for the multiple-choice knapsack problem", European
    Journal of Operational Research 83 (1995).
    Horowitz and Sahni, "Computing partitions with applications to the knapsack problem",
    Journal of the ACM 21 (1974).
    """
    top = min(inc.loss, below)
    gap = top - st.bound + prune_tol(top, st.bound)
    cand = st.reduced <= gap
    closeness = np.where(cand & (st.reduced > 0), st.reduced, np.inf).min(axis=1)
    open_items = np.flatnonzero(cand.sum(axis=1) > 1)
    open_items = open_items[np.argsort(closeness[open_items], kind="stable")]
    table, counts, value = _candidates(d, st, open_items, cand)
    runs = _partition(counts, block)
    blocks = [_block(open_items[run], table[run], counts[run], value[:, run], gap) for run in runs]
    rest = _bounds(d, st, blocks, runs, open_items, cand)
    spent = d.cost[:, d.rows, st.base].sum(axis=1)
    fixed = float(d.loss[d.rows, st.base].sum())
    part = Partial(np.zeros((2 + d.budget.size, 1)), ())
    last = 0.0
    for t, blk in enumerate(blocks):
        last = checkpoint(last, inc, st.bound, deadline)
        joined = _join(part, blk, gap, max_states)
        if joined is None:
            return None
        if joined.value.shape[1] == 0:  # no partial plan can still beat the incumbent
            return inc
        inc = _improve(d, st, blocks[: t + 1], joined, spent, fixed, inc)
        gap = min(gap, inc.loss - st.bound + prune_tol(inc.loss, st.bound))
        if not rest.hulls and joined.value.shape[1] > HULL_STATES:
            rest = _with_hulls(d, st, rest, open_items, cand)
        part = _prune(d, st, joined, t + 1, rest, spent, fixed, gap)
    return inc


def _bounds(
    d: Dense, st: Setup, blocks: list[Block], runs: list[slice], open_items: I64, cand: B2
) -> Bounds:
    most, least = _suffix(
        [b.value[2:].max(axis=1) for b in blocks],
        [b.value[2:].min(axis=1) for b in blocks],
        d.budget.size,
    )
    base = st.base[open_items]
    loss, cost = d.loss[open_items, base], d.cost[:, open_items, base]
    start = np.array([r.start for r in runs] + [open_items.size], dtype=np.int64)
    suffix_loss = np.concatenate([np.cumsum(loss[::-1])[::-1], [0.0]])[start]
    suffix_cost = np.concatenate(
        [np.cumsum(cost[:, ::-1], axis=1)[:, ::-1], np.zeros((d.budget.size, 1))], axis=1
    )[:, start]
    return Bounds(most, least, suffix_loss, suffix_cost, start)


def _with_hulls(d: Dense, st: Setup, rest: Bounds, open_items: I64, cand: B2) -> Bounds:
    hulls = tuple(hull_bound(d, w, open_items, cand) for w in st.weights)
    return replace(rest, hulls=hulls)


def _suffix(most: list[F64], least: list[F64], n_res: int) -> tuple[F64, F64]:
    """Per block, the most and least the blocks from it on can add: shape (R, T + 1)."""

    def total(parts: list[F64]) -> F64:
        per_block = np.stack(parts, axis=1) if parts else np.zeros((n_res, 0))
        out: F64 = np.zeros((n_res, len(parts) + 1))
        out[:, :-1] = np.cumsum(per_block[:, ::-1], axis=1)[:, ::-1]
        return out

    return total(most), total(least)


def _improve(
    d: Dense,
    st: Setup,
    blocks: list[Block],
    part: Partial,
    spent: F64,
    fixed: float,
    inc: Incumbent,
) -> Incumbent:
    """The incumbent, or the best partial plan finished with base options if it is better."""
    used = spent[:, None] + part.value[2:]
    fits = np.all(used <= d.budget[:, None] * (1.0 + FEAS_RTOL), axis=0)
    loss = np.where(fits, fixed + part.value[1], np.inf)
    best = int(loss.argmin())
    if not loss[best] < inc.loss - prune_tol(inc.loss, st.bound):
        return inc
    choice = _trace(st.base, blocks, part.history, best)
    return Incumbent(choice, float(d.loss[d.rows, choice].sum()))


def _trace(base: I64, blocks: list[Block], history: tuple[tuple[I64, I64], ...], s: int) -> I64:
    choice = base.copy()
    for blk, (parent, combo) in zip(reversed(blocks), reversed(history), strict=True):
        choice[blk.items] = blk.options(int(combo[s]))
        s = int(parent[s])
    return choice
