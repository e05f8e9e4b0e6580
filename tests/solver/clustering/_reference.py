"""Straightforward references: all partitions, and GAEC on the explicit complete graph."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def pair_costs(features: F64, offset: float) -> F64:
    """The explicit n x n cost matrix ``<f_i, f_j> - offset`` (diagonal unused)."""
    return features @ features.T - offset


def cut_cost(features: F64, labels: I64, offset: float) -> float:
    """Sum of the costs of the pairs in different clusters, pair by pair."""
    w = pair_costs(features, offset)
    i, j = np.triu_indices(len(labels), 1)
    return float(w[i, j][labels[i] != labels[j]].sum())


def partitions(n: int) -> Iterator[list[int]]:
    """Every set partition of ``range(n)`` as restricted-growth label lists."""

    def grow(prefix: list[int], top: int) -> Iterator[list[int]]:
        if len(prefix) == n:
            yield prefix
            return
        for c in range(top + 2):
            yield from grow([*prefix, c], max(top, c))

    yield from grow([0], 0)


def brute_force(features: F64, offset: float) -> float:
    """The least cut cost over all partitions."""
    return min(cut_cost(features, np.asarray(p), offset) for p in partitions(features.shape[0]))


def complete_gaec(
    features: F64, offset: float, init: I64 | None = None, n_clusters: int | None = None
) -> I64:
    """GAEC on the explicit complete graph: contract the costliest pair, costs add up.

    Ties go to the lowest pair (row-major in the current cluster order); clusters keep the
    smaller id. Labels numbered by first appearance.
    """
    n = features.shape[0]
    labels = np.arange(n) if init is None else np.asarray(init).copy()
    ids = sorted(set(labels.tolist()))
    w = pair_costs(features, offset)
    cw = {(a, b): float(w[np.ix_(labels == a, labels == b)].sum()) for a in ids for b in ids}
    alive = list(ids)
    target = 1 if n_clusters is None else n_clusters
    while len(alive) > target:
        best, pair = -np.inf, None
        for x in alive:
            for y in alive:
                if x != y and cw[x, y] > best:
                    best, pair = cw[x, y], (x, y)
        if pair is None or (n_clusters is None and best <= 0):
            break
        keep, gone = min(pair), max(pair)
        alive.remove(gone)
        for z in alive:
            cw[keep, z] = cw[z, keep] = cw[keep, z] + cw[gone, z]
        labels[labels == gone] = keep
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    return rank[inverse].astype(np.int64)
