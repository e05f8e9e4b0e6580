r"""Kernighan-Lin on the dense multicut objective, over the cluster pairs the kNN graph joins.

Keuper et al. (2015)'s two-cluster Kernighan-Lin, with the dense cost: for a pair of
clusters :math:`(A, B)` joined by a kNN edge (or a cluster and an empty one), elements of
:math:`A \cup B` move to the other side one at a time, each the best remaining move, the
gains of the others updated after it; the best prefix of that sequence is kept when it
lowers the cut cost, or the two clusters are joined when that lowers it more. Only the
pairs of :math:`A \cup B` change, so the move's effect is computed exactly from the
:math:`(m_A + m_B)^2` Gram matrix, whatever lies outside the kNN graph. Each round takes
a matching of cluster pairs (disjoint, so all are improved at once, in padded batches);
the unmatched clusters are tried against an empty one.

References
----------
.. [1] M. Keuper, E. Levinkov, N. Bonneel, G. Lavoue, T. Brox, B. Andres, "Efficient
   decomposition of image and mesh graphs by lifted multicuts", ICCV 2015.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from .._tolerance import CLUSTER_MOVE_RTOL
from ._cost import BLOCK_ENTRIES as PAIR_BLOCK
from ._cost import canonical

__all__ = ["edge_inner", "kernighan_lin"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B8 = NDArray[np.bool_]

BATCH_ENTRIES = 1 << 21
"""Entries (pairs x width x max(width, d)) of one padded batch of two-cluster problems."""

MAX_WIDTH = 1_024
"""Largest pair (elements of both clusters) given to the two-cluster sequence; larger pairs
are left as they are (their Gram matrix and sequence grow as the square)."""

_EMPTY = (1 << 32) - 1
"""Partner code of the empty cluster in a pair's key."""


def _two_cluster(x: F64, idx: I64, side: F64, offset: float) -> tuple[F64, I64, I64, F64]:
    """Best move-sequence gain, its length, the sequence and the join gain of each pair.

    ``idx`` is ``(P, M)`` element indices (``-1`` pads), ``side`` is ``+1`` for cluster A,
    ``-1`` for B, ``0`` for pads. Returns ``(best, length, order, join)``: the best prefix
    moves the columns ``order[p, :length[p]]`` of pair ``p`` to the other side.
    """
    p, m = idx.shape
    valid = idx >= 0
    f = x[np.where(valid, idx, 0)] * valid[..., None]
    c = np.matmul(f, f.transpose(0, 2, 1)) - offset
    c *= valid[:, :, None] & valid[:, None, :]
    c[:, np.arange(m), np.arange(m)] = 0.0
    s = side.copy()
    join = 0.25 * (c.sum(axis=(1, 2)) - np.einsum("pv,pvw,pw->p", s, c, s))
    gain = np.where(valid, -s * np.einsum("pvw,pw->pv", c, s), -np.inf)
    rows = np.arange(p)
    order = np.empty((p, m), dtype=np.int64)
    got = np.empty((p, m))
    for t in range(m):
        v = gain.argmax(axis=1)
        order[:, t], got[:, t] = v, gain[rows, v]
        sv = s[rows, v]
        gain += 2.0 * s * sv[:, None] * c[rows, :, v]
        s[rows, v] = -sv
        gain[rows, v] = -np.inf
    done = np.isfinite(got)
    cum = np.where(done, np.cumsum(np.where(done, got, 0.0), axis=1), -np.inf)
    length = cum.argmax(axis=1)
    return cum[rows, length], length + 1, order, join


def edge_inner(features: F64, u: I64, v: I64) -> F64:
    """``<f_u, f_v>`` per edge, in chunks (no (E, d) gathers)."""
    out = np.empty(u.size)
    step = max(1, PAIR_BLOCK // (2 * features.shape[1]))
    for lo in range(0, u.size, step):
        a, b = u[lo : lo + step], v[lo : lo + step]
        out[lo : lo + step] = np.einsum("ij,ij->i", features[a], features[b])
    return out


class _State:
    """Labels, per-cluster change rounds and the pairs tried without a gain since."""

    def __init__(self, features: F64, labels: I64, neighbours: I64, offset: float) -> None:
        n, k = neighbours.shape
        self.x, self.offset = features, offset
        self.labels = labels.astype(np.int64).copy()
        self.u = np.repeat(np.arange(n, dtype=np.int64), k)
        self.v = neighbours.reshape(-1).astype(np.int64)
        self.changed = np.full(n + 1, -1, dtype=np.int64)
        self.fresh = int(self.labels.max()) + 1
        self.done_code = np.zeros(0, dtype=np.int64)
        self.done_round = np.zeros(0, dtype=np.int64)
        norm2 = float(np.einsum("ij,ij->i", features, features).max())
        self.unit = CLUSTER_MOVE_RTOL * (norm2 + abs(offset))

    def sums(self) -> tuple[F64, F64]:
        cap = self.changed.size
        onehot = sparse.csr_array(
            (np.ones(self.labels.size), (self.labels, np.arange(self.labels.size))),
            shape=(cap, self.labels.size),
        )
        return onehot @ self.x, np.bincount(self.labels, minlength=cap).astype(np.float64)

    def stale(self, a: I64, b: I64, code: I64) -> B8:
        """Pairs tried with no gain after both clusters last changed."""
        if self.done_code.size == 0:
            return np.zeros(code.size, dtype=bool)
        at = np.minimum(np.searchsorted(self.done_code, code), self.done_code.size - 1)
        last = np.maximum(self.changed[a], np.where(b >= 0, self.changed[np.maximum(b, 0)], -1))
        out: B8 = (self.done_code[at] == code) & (self.done_round[at] > last)
        return out

    def remember(self, code: I64, round_: int) -> None:
        keep = ~np.isin(self.done_code, code)
        self.done_code = np.concatenate([self.done_code[keep], code])
        self.done_round = np.concatenate([self.done_round[keep], np.full(code.size, round_)])
        order = np.argsort(self.done_code, kind="stable")
        self.done_code, self.done_round = self.done_code[order], self.done_round[order]


def _matching(lo: I64, hi: I64, score: F64, cap: int) -> tuple[B8, B8]:
    """A matching of the pairs ``(lo, hi)``, sorted by code, best ``score`` first, and the free.

    Each sweep takes every pair that ranks first at both its clusters (a few sweeps, not
    necessarily maximal); unmatched clusters are ``free``.
    """
    rank = np.empty(lo.size, dtype=np.int64)
    rank[np.argsort(-score, kind="stable")] = np.arange(lo.size)  # ties: (lo, hi) order
    taken = np.zeros(lo.size, dtype=bool)
    free = np.ones(cap, dtype=bool)
    for _ in range(6):
        alive = ~taken & free[lo] & free[hi]
        if not alive.any():
            break
        best = np.full(cap, lo.size, dtype=np.int64)
        np.minimum.at(best, lo[alive], rank[alive])
        np.minimum.at(best, hi[alive], rank[alive])
        pick = alive & (best[lo] == rank) & (best[hi] == rank)
        taken |= pick
        free[lo[pick]] = False
        free[hi[pick]] = False
    return taken, free


def _pairs(state: _State) -> tuple[I64, I64]:
    """This round's disjoint pairs ``(a, b)``; ``b = -1`` is the empty cluster."""
    labels = state.labels
    a, b = labels[state.u], labels[state.v]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    code = np.sort((lo << 32 | hi)[lo != hi])
    code = code[np.concatenate([code[:1] == code[:1], code[1:] != code[:-1]])]
    lo, hi = code >> 32, code & _EMPTY
    keep = ~state.stale(lo, hi, code)
    lo, hi = lo[keep], hi[keep]
    sums, sizes = state.sums()
    score = edge_inner(sums, lo, hi) - state.offset * sizes[lo] * sizes[hi]
    small = sizes[lo] + sizes[hi] <= MAX_WIDTH
    lo, hi, score = lo[small], hi[small], score[small]
    taken, free = _matching(lo, hi, score, state.changed.size)
    alone = np.flatnonzero(free & (sizes >= 2) & (sizes <= MAX_WIDTH))
    split = alone[~state.stale(alone, np.full(alone.size, -1), alone << 32 | _EMPTY)]
    return np.concatenate([lo[taken], split]), np.concatenate([hi[taken], np.full(split.size, -1)])


def _members(labels: I64, cap: int, a: I64, b: I64) -> tuple[I64, F64]:
    """``(P, M)`` padded members of ``a`` then ``b`` and their sides (+1, -1, 0 pads)."""
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels, minlength=cap)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    ma, mb = sizes[a], np.where(b >= 0, sizes[np.maximum(b, 0)], 0)
    j = np.arange(int((ma + mb).max()))[None, :]
    in_a, in_b = j < ma[:, None], (j >= ma[:, None]) & (j < (ma + mb)[:, None])
    from_b = starts[np.maximum(b, 0)] - ma
    pos = np.where(in_a, starts[a][:, None], from_b[:, None]) + j
    idx = np.where(in_a | in_b, order[np.clip(pos, 0, labels.size - 1)], -1)
    return idx, np.where(in_a, 1.0, np.where(in_b, -1.0, 0.0))


def _apply(state: _State, a: I64, b: I64, round_: int) -> int:
    """Improve every pair ``(a[p], b[p])`` (disjoint) by its best moves or a join."""
    if state.fresh + a.size >= state.changed.size:  # room for a new label per split
        state.changed = np.concatenate([state.changed, np.full(a.size + 1, -1)])
    idx, side = _members(state.labels, state.changed.size, a, b)
    width = (idx >= 0).sum(axis=1)
    by_width = np.argsort(width, kind="stable")
    d = state.x.shape[1]
    improved = np.zeros(a.size, dtype=bool)
    sorted_width = width[by_width]
    lo = 0
    while lo < a.size:
        count = max(1, BATCH_ENTRIES // int(sorted_width[lo] * max(sorted_width[lo], d)))
        while count > 1:  # widths ascend: the chunk's last pair is its widest
            m = int(sorted_width[min(a.size, lo + count) - 1])
            if count * m * max(m, d) <= BATCH_ENTRIES:
                break
            count //= 2
        chunk = by_width[lo : lo + count]
        m = int(sorted_width[min(a.size, lo + count) - 1])
        improved[chunk] = _apply_chunk(state, idx[chunk, :m], side[chunk, :m], a[chunk], b[chunk])
        lo += count
    state.changed[a[improved]] = round_
    state.changed[b[improved & (b >= 0)]] = round_
    not_b = np.where(b >= 0, b, _EMPTY)
    state.remember(np.minimum(a, not_b)[~improved] << 32 | np.maximum(a, not_b)[~improved], round_)
    return int(improved.sum())


def _apply_chunk(state: _State, idx: I64, side: F64, a: I64, b: I64) -> B8:
    best, length, order, join = _two_cluster(state.x, idx, side, state.offset)
    tol = state.unit * np.maximum(1, (idx >= 0).sum(axis=1)) ** 2
    do_join = (join > tol) & (join > best) & (b >= 0)
    do_move = (best > tol) & ~do_join
    fresh = state.fresh + np.cumsum(do_move & (b < 0)) - 1
    state.fresh += int((do_move & (b < 0)).sum())
    target_b = np.where(b >= 0, b, fresh)
    prefix = (np.arange(idx.shape[1])[None, :] < length[:, None]) & do_move[:, None]
    moved = np.zeros(idx.shape, dtype=bool)
    moved[np.nonzero(prefix)[0], order[prefix]] = True  # distinct columns within a prefix
    moved |= do_join[:, None] & (side < 0)
    new = np.where(side > 0, target_b[:, None], a[:, None])
    new = np.where(do_join[:, None], a[:, None], new)
    state.labels[idx[moved]] = new[moved]
    out: B8 = do_join | do_move
    return out


def kernighan_lin(
    features: F64, labels: I64, neighbours: I64, offset: float, *, rounds: int, deadline: float
) -> tuple[I64, int]:
    r"""Improve ``labels`` by two-cluster Kernighan-Lin rounds on the dense cut cost.

    .. math::
        \Delta(A, B) = \max\Big(\max_t \sum_{s \le t} g_s,\
        \langle S_A, S_B\rangle - \theta\, m_A m_B\Big)

    where :math:`g_s` is the gain of the :math:`s`-th move of the greedy sequence between
    :math:`A` and :math:`B` (each the best remaining one), and the second term the join.
    A pair is improved when :math:`\Delta > 0`, so the cut cost never increases.

    Notes
    -----
    A round costs O(n k) for the cluster pairs and O(sum over pairs of (m_A + m_B)^2 d)
    for the Gram matrices (pairs of more than ``MAX_WIDTH`` elements are skipped). Rounds
    stop when no pair is left to try, at ``rounds`` or at ``deadline``; a pair tried with
    no gain is tried again only after one of its clusters changed.
    Returns the canonical labels and the number of pairs improved.
    """
    if neighbours.shape[1] == 0 or rounds == 0:
        return canonical(labels), 0
    state = _State(features, labels, neighbours, offset)
    count = 0
    for round_ in range(rounds):
        if time.perf_counter() > deadline:
            break
        a, b = _pairs(state)
        if a.size == 0:
            break
        count += _apply(state, a, b, round_)
    return canonical(state.labels), count
