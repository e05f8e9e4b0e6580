"""The dense multicut objective in factorised form, and label bookkeeping."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["canonical", "cluster_sums", "cut_cost", "negative_part", "representatives"]

BLOCK_ENTRIES = 1 << 22
"""Entries of one block of a pairwise pass (32 MiB of float64)."""

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


def canonical(labels: I64) -> I64:
    """Labels renumbered by first appearance: element 0 is in cluster 0, and so on."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    return np.ascontiguousarray(order[inverse.reshape(-1)], dtype=np.int64)


def cluster_sums(features: F64, labels: I64) -> tuple[F64, F64]:
    """``(S, m)``: the feature sum and the size of every cluster label ``0..max``."""
    k = int(labels.max()) + 1
    sums = np.zeros((k, features.shape[1]))
    np.add.at(sums, labels, features)
    return sums, np.bincount(labels, minlength=k).astype(np.float64)


def cut_cost(features: F64, labels: I64, offset: float) -> float:
    r"""The multicut objective, without forming a single pairwise cost.

    .. math::
        \sum_{i<j,\ c_i \ne c_j} (\langle f_i, f_j\rangle - \theta)
        = \tfrac12\big(\lVert F\rVert^2 - \textstyle\sum_C \lVert S_C\rVert^2\big)
          - \theta \big(\tbinom{n}{2} - \textstyle\sum_C \tbinom{m_C}{2}\big)

    where :math:`F = \sum_i f_i`, :math:`S_C = \sum_{i \in C} f_i` and :math:`m_C = |C|`.
    O(n d).
    """
    sums, sizes = cluster_sums(features, labels)
    total = features.sum(axis=0)
    n = float(features.shape[0])
    inner = 0.5 * (float(total @ total) - float(np.einsum("ij,ij->", sums, sums)))
    pairs = 0.5 * (n * (n - 1.0) - float(sizes @ (sizes - 1.0)))
    return inner - offset * pairs


def representatives(features: F64, labels: I64, importance: F64 | None) -> I64:
    r"""One element per cluster label: the most important, else the medoid.

    The medoid of :math:`C` maximises :math:`\langle f_i, S_C - f_i\rangle`, its total
    affinity to the rest of the cluster; ties go to the lowest index.
    """
    if importance is None:
        sums, _ = cluster_sums(features, labels)
        score = np.einsum("ij,ij->i", features, sums[labels] - features)
    else:
        score = importance
    k = int(labels.max()) + 1
    order = np.lexsort((np.arange(labels.size), -score, labels))  # by label, best first
    first = np.searchsorted(labels[order], np.arange(k))
    return np.ascontiguousarray(order[first], dtype=np.int64)


def negative_part(features: F64, offset: float) -> float:
    r"""The lower bound :math:`\sum_{i<j} \min(0, \langle f_i, f_j\rangle - \theta)` on any cut.

    Cutting exactly the repulsive pairs and joining the attractive ones is the best any
    partition could do. O(n^2 d) in blocks.
    """
    n = features.shape[0]
    step = max(1, BLOCK_ENTRIES // max(n, 1))
    total = 0.0
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        block = features[lo:hi] @ features.T - offset
        diagonal = np.minimum(block[np.arange(hi - lo), np.arange(lo, hi)], 0.0).sum()
        total += float(np.minimum(block, 0.0).sum() - diagonal) / 2.0
    return total
