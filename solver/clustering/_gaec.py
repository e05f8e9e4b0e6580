r"""Dense greedy additive edge contraction on the factorised complete graph (ClusterFuG).

The cost of contracting clusters :math:`A, B` is
:math:`\langle S_A, S_B\rangle - \theta\, m_A m_B` (feature sums, sizes): a maximum inner
product between augmented vectors, so the best partner of a cluster is one matrix-vector
product over the live clusters, and no pairwise cost is ever stored.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from ._cost import canonical, cluster_sums

__all__ = ["GaecOutcome", "gaec", "partners"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

BLOCK_ENTRIES = 1 << 22
"""Entries of one block of the initial all-pairs pass (32 MiB of float64)."""

DEADLINE_EVERY = 256
"""Contractions between two looks at the clock."""


@dataclass
class GaecOutcome:
    """Labels (canonical), the cost of every contraction in order, whether timed out."""

    labels: I64
    merge_costs: list[float] = field(default_factory=list)
    timed_out: bool = False


class _State:
    """Live clusters as two contiguous matrices over active positions, and the lazy heap.

    Row ``p`` of ``query`` is :math:`[S, m]` and of ``key`` :math:`[S, -\\theta m]`, so the
    contraction costs of one cluster with all others are one product ``key @ query[p]``.
    Positions are renumbered when fewer than half are alive; ``gen`` (-1 when dead) tells
    stale heap entries apart. Heap entries hold original cluster ids.
    """

    def __init__(self, sums: F64, sizes: F64, offset: float) -> None:
        self.query = np.ascontiguousarray(np.column_stack([sums, sizes]))
        self.key = np.ascontiguousarray(np.column_stack([sums, -offset * sizes]))
        k = sizes.size
        self.offset = offset
        self.ids = np.arange(k, dtype=np.int64)  # position -> cluster id
        self.pos = np.arange(k, dtype=np.int64)  # cluster id -> position
        self.dead = np.zeros(k, dtype=bool)  # per position
        self.gen = np.zeros(k, dtype=np.int64)
        self.parent = np.arange(k, dtype=np.int64)
        self.live = k
        self.heap: list[tuple[float, int, int, int, int]] = []

    def scores(self, rows: I64) -> F64:
        """Contraction cost of clusters ``rows`` with every live cluster (self: -inf)."""
        p = self.pos[rows]
        out: F64 = (self.key @ self.query[p].T).T
        if self.live < self.dead.size:
            out[:, self.dead] = -np.inf
        out[np.arange(p.size), p] = -np.inf
        return out

    def push_best(self, rows: I64, scores: F64) -> None:
        best = np.argmax(scores, axis=1)
        values = scores[np.arange(rows.size), best]
        gen, ids = self.gen, self.ids
        for a, j, v in zip(rows.tolist(), best.tolist(), values.tolist(), strict=True):
            if v > -math.inf:
                b = int(ids[j])
                heapq.heappush(self.heap, (-v, a, b, int(gen[a]), int(gen[b])))

    def top(self) -> tuple[float, int, int] | None:
        """The best valid contraction; stale entries re-search their live endpoint."""
        heap, gen = self.heap, self.gen
        while True:
            stale: list[int] = []
            while heap and (gen[heap[0][1]] != heap[0][3] or gen[heap[0][2]] != heap[0][4]):
                _, a, _, ga, _ = heapq.heappop(heap)
                if gen[a] == ga:
                    stale.append(a)
            if not stale:
                return (-heap[0][0], heap[0][1], heap[0][2]) if heap else None
            rows = np.unique(np.asarray(stale, dtype=np.int64))
            self.push_best(rows, self.scores(rows))

    def contract(self, a: int, b: int) -> None:
        keep, gone = min(a, b), max(a, b)
        heapq.heappop(self.heap)
        pk, pg = self.pos[keep], self.pos[gone]
        self.query[pk] += self.query[pg]
        self.key[pk] += self.key[pg]
        self.dead[pg] = True
        self.gen[keep] += 1
        self.gen[gone] = -1
        self.parent[gone] = keep
        self.live -= 1
        if 2 * self.live < self.dead.size:
            self._compact()
        rows = np.array([keep], dtype=np.int64)
        self.push_best(rows, self.scores(rows))

    def _compact(self) -> None:
        alive = ~self.dead
        self.query = np.ascontiguousarray(self.query[alive])
        self.key = np.ascontiguousarray(self.key[alive])
        self.ids = self.ids[alive]
        self.pos[self.ids] = np.arange(self.ids.size, dtype=np.int64)
        self.dead = np.zeros(self.ids.size, dtype=bool)

    def roots(self) -> I64:
        parent = self.parent
        while True:
            up = parent[parent]
            if np.array_equal(up, parent):
                return parent
            parent = up


def partners(features: F64) -> tuple[I64, F64]:
    """Each element's best partner :math:`\\arg\\max_{j \\ne i} \\langle f_i, f_j\\rangle` and the
    inner product (ties: lowest ``j``): the first GAEC step at every offset, in blocks."""
    n = features.shape[0]
    best = np.zeros(n, dtype=np.int64)
    inner = np.full(n, -np.inf)
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        block = features[lo:hi] @ features.T
        block[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
        best[lo:hi] = np.argmax(block, axis=1)
        inner[lo:hi] = block[np.arange(hi - lo), best[lo:hi]]
    return best, inner


def _initial(state: _State, first: tuple[I64, F64] | None) -> None:
    """Every cluster's best partner: from ``first`` (singletons), else block by block."""
    if first is not None:
        for a, b, v in zip(range(first[0].size), first[0].tolist(), first[1].tolist(), strict=True):
            if v > -math.inf:
                state.heap.append((-(v - state.offset), a, b, 0, 0))
        heapq.heapify(state.heap)
        return
    n = state.ids.size
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    for lo in range(0, n, step):
        rows = np.arange(lo, min(n, lo + step), dtype=np.int64)
        raw = (state.key @ state.query[rows].T).T
        raw[np.arange(rows.size), rows] = -np.inf
        state.push_best(rows, raw)


def gaec(
    features: F64,
    offset: float,
    *,
    init: I64 | None = None,
    n_clusters: int | None = None,
    deadline: float = math.inf,
    record: bool = False,
    first: tuple[I64, F64] | None = None,
) -> GaecOutcome:
    r"""Greedy additive edge contraction of the dense multicut, factorised.

    .. math::
        \text{repeat: } (A, B) = \arg\max_{A \ne B}\
        \langle S_A, S_B\rangle - \theta\, m_A m_B, \ \text{contract while the max is } > 0

    where :math:`S_A` is the feature sum and :math:`m_A` the size of cluster :math:`A`.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    offset : float
        :math:`\theta`.
    init : ndarray of int64, shape (n,), optional
        Start from these clusters instead of singletons.
    n_clusters : int, optional
        Contract until exactly this many clusters remain, whatever the sign of the cost.
    deadline : float
        `time.perf_counter` instant after which the contraction stops (``timed_out``).
    record : bool
        Keep the cost of every contraction in ``merge_costs``.
    first : (ndarray, ndarray), optional
        `partners` of ``features``, when several offsets are tried on the same features.

    Notes
    -----
    The first step's partners do not depend on the offset (`partners`). Each cluster
    keeps its best partner in a lazy heap; an entry whose partner has been
    contracted is re-searched when it surfaces. The best pair is always found (the later
    of its two clusters searched over the other), so this is exactly the complete-graph
    GAEC. O(n^2 d) time for the first pass (in blocks) and one O(n d) product per
    contraction and per re-search; O(n d) memory.

    References
    ----------
    A. Abbas, P. Swoboda, "ClusterFuG: Clustering Fully connected Graphs by Multicut",
    ICML 2023. T. Beier et al., "Fusion moves for correlation clustering", CVPR 2015.
    """
    singletons = init is None
    init = np.arange(features.shape[0], dtype=np.int64) if init is None else canonical(init)
    sums, sizes = cluster_sums(features, init)
    state = _State(sums, sizes, offset)
    outcome = GaecOutcome(init)
    if singletons and first is None:
        first = partners(features)
    _initial(state, first if singletons else None)
    target = 1 if n_clusters is None else n_clusters
    count = 0
    while state.live > target:
        best = state.top()
        if best is None or (n_clusters is None and best[0] <= 0.0):
            break
        state.contract(best[1], best[2])
        if record:
            outcome.merge_costs.append(best[0])
        count += 1
        if count % DEADLINE_EVERY == 0 and time.perf_counter() > deadline:
            outcome.timed_out = True
            break
    outcome.labels = canonical(state.roots()[init])
    return outcome
