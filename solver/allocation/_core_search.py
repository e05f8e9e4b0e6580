r"""Core search of the exact method: Pareto states over the items the dual bound leaves open.

With multipliers :math:`\mu` and dual value :math:`g(\mu)`, every plan :math:`x` within budget
satisfies

.. math::
    z(x) - g(\mu) = \sum_j \bar\ell_j(x_j) + \mu^\top \left(B - \sum_j c_j(x_j)\right)

with reduced costs :math:`\bar\ell_{jk} = \ell_{jk} + \mu^\top c_{jk} - \min_k(\cdot)`,
all :math:`\ge 0`.
A plan better than the incumbent :math:`z^+` thus uses only options with
:math:`\bar\ell_{jk} \le z^+ - g(\mu)`; items with one such option are fixed, and the rest are
enumerated as a list of non-dominated partial plans (Pisinger's states), each pruned by the
same identity with the slack term bounded through the largest costs still to come.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._progress import report
from .._tolerance import FEAS_RTOL, PRUNE_RTOL, TIE_RTOL, TINY
from ._dense import Dense, argmin_cheapest, non_dominated, priced
from ._instance import F64, I64

REPORT_EVERY = 0.005
"""Seconds between two progress reports of a search."""

PAIRWISE_LIMIT = 3000
"""Most states compared pairwise for dominance when several resources are budgeted."""


@dataclass
class Incumbent:
    """Best plan known and its loss."""

    choice: I64
    loss: float


class SearchAborted(Exception):
    """The search passed its deadline or its state limit; ``incumbent`` is the best plan."""

    def __init__(self, reason: str, incumbent: Incumbent) -> None:
        super().__init__(reason)
        self.reason = reason
        self.incumbent = incumbent


@dataclass(frozen=True, eq=False)
class States:
    """Partial plans over the open items processed so far."""

    loss: F64
    cost: F64  # (R, S)
    reduced: F64
    parent: NDArray[np.int64]
    option: NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class Setup:
    """Reduced costs, the option of zero reduced cost per item, and the gap to close."""

    mu: F64
    reduced: F64
    base: I64
    bound: float
    weights: tuple[F64, ...]
    """Weight vectors of the surrogate resources whose LP bounds prune states."""


def checkpoint(last: float, inc: Incumbent, bound: float, deadline: float) -> float:
    """Raise `SearchAborted` past ``deadline``; else report phase ``"search"`` if `REPORT_EVERY`
    has passed since ``last``. Returns the new ``last``.

    Costs one clock read when it is not yet time, and one context-variable lookup when
    nobody listens.
    """
    now = time.perf_counter()
    if now > deadline:
        raise SearchAborted("time_limit", inc)
    if now - last < REPORT_EVERY:
        return last
    report("search", objective=inc.loss, lower_bound=bound)
    return now


def setup(d: Dense, mu: F64, bound: float) -> Setup:
    """Reduced costs at the multipliers ``mu`` whose dual value is ``bound``."""
    value = priced(d, mu)
    base = argmin_cheapest(d, value)
    value -= value.min(axis=1, keepdims=True)  # the reduced costs, in place
    weights = [mu] if np.any(mu > 0) else []
    if mu.size > 1:
        weights += [np.eye(mu.size)[r] / d.budget[r] for r in range(mu.size)]
    return Setup(mu, value, base, bound, tuple(weights))


def _dominance(loss: F64, cost: F64) -> NDArray[np.int64]:
    """Indices of states that no other state beats in loss and every cost."""
    if cost.shape[0] == 1:
        return non_dominated(cost[0], loss)
    order = np.lexsort((*cost[::-1], loss))
    if order.size > PAIRWISE_LIMIT:
        return order
    c = cost[:, order]
    below = np.all(c[:, None, :] <= c[:, :, None], axis=0)  # below[i, j]: j no costlier
    dominated = np.tril(below, k=-1).any(axis=1)
    kept: NDArray[np.int64] = order[~dominated]
    return kept


def prune_tol(loss: float, bound: float) -> float:
    """The slack of pruning against an incumbent of ``loss`` with dual ``bound``."""
    return PRUNE_RTOL * (abs(loss) + abs(bound)) + TINY


@dataclass(frozen=True, eq=False)
class Rest:
    """Per stage, what the items not yet processed can add: shape (R, T + 1) or (T + 1,)."""

    least: F64
    most: F64
    base_loss: F64
    base_cost: F64


def _rest(d: Dense, st: Setup, order: I64, cand: NDArray[np.bool_]) -> Rest:
    cost = d.cost[:, order, :]
    least = np.where(cand[order], cost, np.inf).min(axis=2)
    most = np.where(cand[order], cost, -np.inf).max(axis=2)
    base = st.base[order]
    idx = np.arange(order.size)
    base_loss, base_cost = d.loss[order, base], cost[:, idx, base]

    def suffix(a: F64) -> F64:
        out: F64 = np.concatenate([np.cumsum(a[..., ::-1], axis=-1)[..., ::-1], 0 * a[..., :1]], -1)
        return out

    return Rest(suffix(least), suffix(most), suffix(base_loss), suffix(base_cost))


def _lower_hull(cost: F64, loss: F64) -> tuple[float, float, F64, F64]:
    """Cheapest point and the falling segments (dx > 0, dy < 0) of a lower convex hull.

    Plain Python on the few points an item has open (array calls cost more there).
    """
    hull: list[tuple[float, float]] = []
    for x, y in sorted(zip(cost.tolist(), loss.tolist(), strict=True)):
        if hull and x == hull[-1][0]:
            continue
        while len(hull) >= 2:
            (ox, oy), (ax, ay) = hull[-2], hull[-1]
            if (ax - ox) * (y - oy) - (ay - oy) * (x - ox) > 0:
                break
            hull.pop()
        hull.append((x, y))
    dx, dy = [], []
    for (ax, ay), (bx, by) in itertools.pairwise(hull):
        if by - ay >= 0:
            break
        dx.append(bx - ax)
        dy.append(by - ay)
    return hull[0][0], hull[0][1], np.array(dx), np.array(dy)


@dataclass(frozen=True, eq=False)
class HullBound:
    """LP relaxation of the items still to come, as a function of their surrogate budget.

    Segments of every item's lower hull sorted by slope; ``stage`` says after which stage
    the item stops being "to come".
    """

    weights: F64
    start_cost: F64  # (T + 1,) suffix sums of each item's cheapest hull point
    start_loss: F64
    dx: F64
    dy: F64
    stage: NDArray[np.int64]

    def least_loss(self, t: int, room: F64) -> F64:
        """Least LP loss of the items from stage ``t`` on within ``room`` of budget."""
        mask = self.stage >= t
        xs = self.start_cost[t] + np.concatenate([[0.0], np.cumsum(self.dx[mask])])
        ys = self.start_loss[t] + np.concatenate([[0.0], np.cumsum(self.dy[mask])])
        reachable = room >= xs[0] * (1 - TIE_RTOL) - TINY
        value: F64 = np.where(reachable, np.interp(room, xs, ys), np.inf)
        return value


def hull_bound(d: Dense, weights: F64, order: I64, cand: NDArray[np.bool_]) -> HullBound:
    """The LP bound of the surrogate problem: costs and budgets summed with weights ``mu``."""
    starts = np.zeros((2, order.size + 1))
    segments: list[tuple[F64, F64, NDArray[np.int64]]] = []
    for t, item in enumerate(order):
        keep = cand[item]
        x0, y0, dx, dy = _lower_hull(weights @ d.cost[:, item, keep], d.loss[item, keep])
        starts[:, t] = (x0, y0)
        segments.append((dx, dy, np.full(dx.size, t)))
    suffix = np.cumsum(starts[:, ::-1], axis=1)[:, ::-1]
    dx = np.concatenate([s[0] for s in segments] + [np.zeros(0)])
    dy = np.concatenate([s[1] for s in segments] + [np.zeros(0)])
    stage = np.concatenate([s[2] for s in segments] + [np.zeros(0, dtype=np.int64)])
    by_slope = np.argsort(dy / dx, kind="stable")
    return HullBound(weights, suffix[0], suffix[1], dx[by_slope], dy[by_slope], stage[by_slope])


def _expand(d: Dense, st: Setup, states: States, item: int, options: I64, gap: float) -> States:
    """Every state extended by every option of ``item`` whose reduced cost still fits."""
    reduced = states.reduced[:, None] + st.reduced[item, options]
    parent, k = np.nonzero(reduced <= gap)
    chosen = options[k]
    return States(
        loss=states.loss[parent] + d.loss[item, chosen],
        cost=states.cost[:, parent] + d.cost[:, item, chosen],
        reduced=reduced[parent, k],
        parent=parent,
        option=chosen,
    )


def _select(states: States, keep: NDArray[np.int64] | NDArray[np.bool_]) -> States:
    return States(
        states.loss[keep],
        states.cost[:, keep],
        states.reduced[keep],
        states.parent[keep],
        states.option[keep],
    )


def _prune(
    d: Dense,
    st: Setup,
    states: States,
    rest: Rest,
    t: int,
    inc: Incumbent,
    hulls: list[HullBound],
) -> States:
    """Drop states that cannot fit or cannot beat the incumbent, then dominated ones."""
    limit = d.budget[:, None] * (1.0 + FEAS_RTOL)
    fits = np.all(states.cost + rest.least[:, t, None] <= limit, axis=0)
    tol = prune_tol(inc.loss, st.bound)
    gap = inc.loss - st.bound + tol
    slack = np.maximum(d.budget[:, None] - states.cost - rest.most[:, t, None], 0.0)
    promising = states.reduced + st.mu @ slack <= gap
    for hull in hulls:
        room = hull.weights @ (limit - states.cost)
        promising &= states.loss + hull.least_loss(t, room) <= inc.loss - tol
    states = _select(states, fits & promising)
    # A resource that no completion can exhaust plays no part in dominance.
    binding = np.any(states.cost + rest.most[:, t, None] > limit, axis=1)
    if not binding.any():
        binding[0] = True
    return _select(states, _dominance(states.loss, states.cost[binding]))


def _complete(
    d: Dense, st: Setup, states: States, rest: Rest, t: int, inc: Incumbent
) -> int | None:
    """Index of the state that, finished with base options, beats the incumbent most."""
    total = states.cost + rest.base_cost[:, t, None]
    fits = np.all(total <= d.budget[:, None] * (1.0 + FEAS_RTOL), axis=0)
    loss = np.where(fits, states.loss + rest.base_loss[t], np.inf)
    if loss.size == 0:
        return None
    best = int(loss.argmin())
    return best if loss[best] < inc.loss - prune_tol(inc.loss, st.bound) else None


def _trace(
    st: Setup, order: I64, history: list[tuple[NDArray[np.int64], NDArray[np.int64]]], s: int
) -> I64:
    choice = st.base.copy()
    for t in range(len(history) - 1, -1, -1):
        parent, option = history[t]
        choice[order[t]] = option[s]
        s = int(parent[s])
    return choice


def search(
    d: Dense, st: Setup, inc: Incumbent, deadline: float, max_states: int, beam: int = 0
) -> Incumbent:
    """The optimal plan: the incumbent or a better one found by the core search.

    A first pass keeps only the ``beam`` most promising states per stage, a heuristic that
    finds good plans fast; exact passes follow. Every pass restarts with a smaller core
    whenever a better plan shrinks the gap to close by a third. Raises `SearchAborted` past
    ``deadline`` or beyond ``max_states`` states.
    """
    for width in (beam, None) if beam else (None,):
        finished = False
        while not finished:
            inc, finished = _search_pass(d, st, inc, deadline, max_states, width)
    return inc


def _start(d: Dense, st: Setup, fixed: I64) -> States:
    return States(
        loss=np.array([d.loss[fixed, st.base[fixed]].sum()]),
        cost=d.cost[:, fixed, st.base[fixed]].sum(axis=1)[:, None],
        reduced=np.zeros(1),
        parent=np.zeros(1, dtype=np.int64),
        option=np.zeros(1, dtype=np.int64),
    )


def _search_pass(
    d: Dense, st: Setup, inc: Incumbent, deadline: float, max_states: int, beam: int | None
) -> tuple[Incumbent, bool]:
    initial_gap = inc.loss - st.bound
    cand = st.reduced <= initial_gap + prune_tol(inc.loss, st.bound)
    is_open = cand.sum(axis=1) > 1
    closeness = np.where(cand & (st.reduced > 0), st.reduced, np.inf).min(axis=1)
    order = np.flatnonzero(is_open)[np.argsort(closeness[is_open], kind="stable")]
    rest = _rest(d, st, order, cand)
    hulls = [hull_bound(d, w, order, cand) for w in st.weights]
    states = _start(d, st, np.flatnonzero(~is_open))
    history: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []
    last = 0.0
    for t, item in enumerate(order):
        last = checkpoint(last, inc, st.bound, deadline)
        gap = inc.loss - st.bound + prune_tol(inc.loss, st.bound)
        options = np.flatnonzero(st.reduced[item] <= gap)
        if states.loss.size * options.size > max_states:
            raise SearchAborted("max_states", inc)
        states = _prune(d, st, _expand(d, st, states, item, options, gap), rest, t + 1, inc, hulls)
        if beam is not None and states.loss.size > beam:
            states = _select(states, np.argpartition(states.reduced, beam)[:beam])
        history.append((states.parent, states.option))
        best = _complete(d, st, states, rest, t + 1, inc)
        if best is not None:
            choice = _trace(st, order, history, best)
            inc = Incumbent(choice, float(d.loss[d.rows, choice].sum()))
            if inc.loss - st.bound < initial_gap * (2.0 / 3.0) and t + 1 < order.size:
                return inc, False
    if not order.size and d.fits(st.base) and d.objective(st.base) < inc.loss:
        inc = Incumbent(st.base.copy(), d.objective(st.base))
    return inc, True
