"""Dense form of the multiple-choice knapsack and the greedy moves the exact methods share.

Items are padded to a common number of options ``K``: a padded option has loss ``+inf`` (so no
rule ever picks it) and the item's largest cost (so no product with a multiplier is ``nan``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from .._tolerance import FEAS_RTOL, REPAIR_TOL, TIE_RTOL, TINY
from ._instance import F64, I64, Instance


@dataclass(frozen=True, eq=False)
class Dense:
    """An instance as padded arrays.

    ``loss`` has shape (n, K), ``cost`` shape (R, n, K), ``budget`` shape (R,).
    """

    loss: F64
    cost: F64
    budget: F64

    @cached_property
    def rows(self) -> I64:
        return np.arange(self.loss.shape[0])

    @cached_property
    def weight(self) -> F64:
        """Cost summed over resources, each relative to its budget, shape (n, K)."""
        if self.budget.size == 1:
            share: F64 = self.cost[0] / self.budget[0]
            return share
        total: F64 = (self.cost / self.budget[:, None, None]).sum(axis=0)
        return total

    def objective(self, choice: I64) -> float:
        return float(self.loss[self.rows, choice].sum())

    def usage(self, choice: I64) -> F64:
        used: F64 = self.cost[:, self.rows, choice].sum(axis=1)
        return used

    def fits(self, choice: I64) -> bool:
        return bool(np.all(self.usage(choice) <= self.budget * (1.0 + FEAS_RTOL)))


def dense(inst: Instance) -> Dense:
    """The items of ``inst`` as a `Dense` instance (padded costs: each item's largest)."""
    loss = inst.loss_matrix
    return from_arrays(loss, inst.cost_tensor, np.isfinite(loss), inst.budget)


def from_arrays(loss: F64, cost: F64, allowed: NDArray[np.bool_], budget: F64) -> Dense:
    """A `Dense` instance from validated arrays: options outside ``allowed`` become padding.

    ``loss`` (n, K) finite on ``allowed``, ``cost`` (R, n, K) finite and >= 0 there,
    ``allowed`` (n, K) with at least one option per item, ``budget`` (R,).
    """
    if allowed.all():
        return Dense(loss, cost, budget)
    loss = np.where(allowed, loss, np.inf)
    most = np.where(allowed, cost, -np.inf).max(axis=2, keepdims=True)
    return Dense(loss, np.where(allowed, cost, most), budget)


BLOCK = 1 << 16
"""Options per block of rows that `compact` filters at once: its temporaries stay small
(cache-sized, reused) however large the instance, and only its result is new memory."""


def compact(d: Dense) -> tuple[Dense, I64 | None]:
    """``d`` without dominated options, and the original index of every option kept.

    With one budget, an option is dominated when another of the same item costs no more and
    loses no more; no optimal plan and no LP bound needs it. Items whose loss does not
    ascend along the options are sorted by loss first. Returns ``(d, None)`` when nothing is
    dominated or several budgets are given. Padding of the result points at option 0.

    Notes
    -----
    :math:`O(nK)`, plus a sort of the items whose loss is not ascending; in blocks of about
    `BLOCK` options, so that the memory it touches beyond ``d`` is its result.
    """
    if d.budget.size != 1:
        return d, None
    n, k = d.loss.shape
    step = max(1, BLOCK // max(k, 1))
    starts = range(0, n, step)
    scratch = np.empty((min(step, n), k))
    blocks = [_undominated(d.loss[a : a + step], d.cost[0, a : a + step], scratch) for a in starts]
    counts = np.concatenate([b.keep.sum(axis=1) for b in blocks])
    width = int(counts.max())
    if width == k:
        return d, None
    index = np.zeros((n, width), dtype=np.int64)
    loss = np.full((n, width), np.inf)
    cost = np.empty((n, width))
    for a, block in zip(starts, blocks, strict=True):
        rows = slice(a, a + block.keep.shape[0])
        src = np.flatnonzero(block.keep)
        dst = np.flatnonzero(np.arange(width) < counts[rows, None])  # the same, packed left
        cost[rows] = block.cost.max(axis=1, keepdims=True)
        order = src % k if block.order is None else block.order.reshape(-1)[src]
        index[rows].reshape(-1)[dst] = order
        loss[rows].reshape(-1)[dst] = block.loss.reshape(-1)[src]
        cost[rows].reshape(-1)[dst] = block.cost.reshape(-1)[src]
    return Dense(loss, cost[None], d.budget), index


@dataclass(frozen=True, eq=False)
class _Block:
    """Rows of `compact`: ``keep`` (r, K) the undominated options of ``loss`` and ``cost``
    (r, K), sorted by loss along ``order`` where it is not ``None``."""

    keep: NDArray[np.bool_]
    loss: F64
    cost: F64
    order: I64 | None


def _undominated(loss: F64, cost: F64, scratch: F64) -> _Block:
    """The rule of `compact` on rows (r, K) of one budget's loss and cost; ``scratch`` holds
    at least (r, K)."""
    order = None
    unsorted = np.flatnonzero((loss[:, 1:] < loss[:, :-1]).any(axis=1))
    if unsorted.size:
        order = np.broadcast_to(np.arange(loss.shape[1]), loss.shape).copy()
        order[unsorted] = np.argsort(loss[unsorted], axis=1, kind="stable")
        loss = np.take_along_axis(loss, order, axis=1)
        cost = np.take_along_axis(cost, order, axis=1)
    before = np.minimum.accumulate(cost, axis=1, out=scratch[: loss.shape[0]])
    keep = np.isfinite(loss)
    keep[:, 1:] &= cost[:, 1:] < before[:, :-1]
    return _Block(keep, loss, cost, order)


def non_dominated(cost: F64 | I64, loss: F64) -> I64:
    """Indices, by ascending cost, of the points that no other matches in cost and beats in loss.

    Sorted by cost then loss, a point is kept when its loss lies strictly below that of every
    point before it; of points equal in both, the first is kept. The dominance filter of the
    DP's options and of the searches' partial plans with one budget.
    """
    order = np.lexsort((loss, cost))
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], loss[order]]))[:-1]
    kept: I64 = order[loss[order] < best_before]
    return kept


def priced(d: Dense, mu: F64) -> F64:
    """Lagrangian value ``loss + mu . cost`` of every option, shape (n, K)."""
    value: F64 | None = None
    scratch: F64 | None = None
    for r in np.flatnonzero(mu != 0.0).tolist():
        if value is None:  # the first term with the loss added to it: one array, no copy
            value = np.multiply(d.cost[r], mu[r])
            value += d.loss
            continue
        scratch = np.multiply(d.cost[r], mu[r], out=scratch)
        value += scratch
    return d.loss.copy() if value is None else value


def argmin_cheapest(d: Dense, value: F64, weight: F64 | None = None) -> I64:
    """Per item, the option of least ``value``; near-ties go to the least ``weight``.

    ``weight`` (n, K) defaults to the cost summed over resources relative to the budget.
    """
    best = value.min(axis=1, keepdims=True)
    tie = value <= best * (1.0 + TIE_RTOL) + TINY  # loss, cost and multipliers are >= 0
    choice: I64 = np.where(tie, d.weight if weight is None else weight, np.inf).argmin(axis=1)
    return choice


def cheapest(d: Dense) -> I64:
    """Per item, the option of least normalised cost; ties go to the least loss."""
    weight = np.where(np.isfinite(d.loss), d.weight, np.inf)
    least = weight.min(axis=1, keepdims=True)
    choice: I64 = np.where(weight <= least, d.loss, np.inf).argmin(axis=1)
    return choice


def fill(d: Dense, choice: I64) -> I64:
    """Spend leftover budget: switch items to options of less loss that still fit.

    Each round every item proposes its largest loss decrease that fits the current slack;
    proposals are applied by decreasing gain while they still fit. Stops when none fits.
    Only items with such a move at the start can ever move (slack only shrinks), so the
    rounds run on those rows alone.
    """
    slack = d.budget * (1.0 + FEAS_RTOL) - d.usage(choice)
    extra = d.cost - d.cost[:, d.rows, choice][:, :, None]
    ok = _fits(extra, slack) & (d.loss < d.loss[d.rows, choice][:, None])
    movable = np.flatnonzero(ok.any(axis=1))
    if movable.size == 0:
        return choice.copy()
    if movable.size == d.rows.size:
        return _fill_rows(d, choice, slack)
    sub = Dense(d.loss[movable], d.cost[:, movable], d.budget)
    out = choice.copy()
    out[movable] = _fill_rows(sub, choice[movable], slack)
    return out


def _fits(extra: F64, slack: F64) -> NDArray[np.bool_]:
    """Where the extra cost (R, n, K) of a move fits the slack (R,) in every resource."""
    fits: NDArray[np.bool_]
    if slack.size == 1:
        fits = np.less_equal(extra[0], slack[0])
    else:
        fits = np.all(extra <= slack[:, None, None], axis=0)
    return fits


def _fill_rows(d: Dense, choice: I64, slack: F64) -> I64:
    """`fill` on the rows of ``d`` with ``slack`` (R,) left by the rest of the plan; the
    arrays of a round are reused by the next."""
    choice = choice.copy()
    rows = d.rows
    extra, gain = np.empty_like(d.cost), np.empty_like(d.loss)
    for _ in range(64):
        np.subtract(d.cost, d.cost[:, rows, choice][:, :, None], out=extra)
        np.subtract(d.loss[rows, choice][:, None], d.loss, out=gain)
        ok = _fits(extra, slack)
        ok &= gain > 0
        np.copyto(gain, 0.0, where=~ok)
        best = gain.argmax(axis=1)
        movers = np.flatnonzero(gain[rows, best] > 0)
        if movers.size == 0:
            break
        ranked = movers[np.argsort(-gain[movers, best[movers]], kind="stable")]
        slack = _apply(choice, ranked, best, extra[:, ranked, best[ranked]], slack)
    return choice


def _apply(choice: I64, ranked: I64, best: I64, steps: F64, slack: F64) -> F64:
    """Move each item of ``ranked`` in turn to ``best`` if its cost ``steps`` (R, m) still
    fits ``slack``; returns the slack left. One budget: plain floats, no array per move."""
    if slack.size == 1:
        left = float(slack[0])
        for i, step in zip(ranked.tolist(), steps[0].tolist(), strict=True):
            if step <= left:
                choice[i] = best[i]
                left -= step
        return np.array([left])
    for m, i in enumerate(ranked.tolist()):
        if np.all(steps[:, m] <= slack):
            choice[i] = best[i]
            slack = slack - steps[:, m]
    return slack


def repair(d: Dense, choice: I64, max_moves: int | None = None) -> I64 | None:
    """Move items until every budget holds, trading the least loss per unit of violation.

    Returns ``None`` when no single move reduces the violation any more.
    """
    choice = choice.copy()
    rows = d.rows
    scaled = d.cost / d.budget[:, None, None]
    for _ in range(max_moves or 4 * d.loss.shape[0] + 16):
        used = scaled[:, rows, choice].sum(axis=1)
        over = np.maximum(used - 1.0, 0.0).sum()
        if over <= FEAS_RTOL:
            return choice
        after = used[:, None, None] - scaled[:, rows, choice][:, :, None] + scaled
        reduced = over - np.maximum(after - 1.0, 0.0).sum(axis=0)
        more = np.maximum(d.loss - d.loss[rows, choice][:, None], 0.0)
        score = np.where(reduced > REPAIR_TOL, reduced / (more + TINY), -np.inf)
        i, k = np.unravel_index(int(score.argmax()), score.shape)
        if not np.isfinite(score[i, k]):
            return None
        choice[i] = k
    return choice if d.fits(choice) else None
