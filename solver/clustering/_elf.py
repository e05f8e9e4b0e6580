"""The external reference: bioimage-cpp's multicut solvers (python-elf's back end) on an
explicit graph, the complete one for small groups and the kNN graph above."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._cost import canonical
from ._knn import NPROBE, knn_graph

__all__ = ["ELF_DENSE_MAX", "explicit_graph", "multicut_elf"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

ELF_DENSE_MAX = 4_000
"""Largest group given to bioimage-cpp as the explicit complete graph (8 M edges)."""


def explicit_graph(features: F64, offset: float, neighbours: I64 | None) -> tuple[I64, F64]:
    """``(uv, costs)``: the complete graph, or the symmetrised kNN graph, with its costs."""
    n = features.shape[0]
    if neighbours is None:
        u, v = np.triu_indices(n, 1)
        costs = (features @ features.T)[u, v] - offset
        return np.column_stack([u, v]).astype(np.int64), costs
    else:
        rows = np.repeat(np.arange(n), neighbours.shape[1])
        pairs = np.sort(np.column_stack([rows, neighbours.reshape(-1)]), axis=1)
        pairs = np.unique(pairs[pairs[:, 0] != pairs[:, 1]], axis=0)
        u, v = pairs[:, 0], pairs[:, 1]
    costs = np.einsum("ij,ij->i", features[u], features[v]) - offset
    return np.column_stack([u, v]).astype(np.int64), costs


def multicut_elf(
    features: F64, offset: float, *, kl: int = 0, k: int = 10, nprobe: int = NPROBE, seed: int = 0
) -> I64:
    r"""bioimage-cpp's greedy additive contraction (then Kernighan-Lin if ``kl``).

    .. math::
        \min_{x} \sum_{(i,j) \in E} (\langle f_i, f_j\rangle - \theta)\, x_{ij}
        \quad \text{over multicuts } x \text{ of } (V, E)

    where :math:`E` is the complete graph for ``n <= ELF_DENSE_MAX`` and the kNN graph above
    (the labels are scored on the dense objective by the caller).

    Notes
    -----
    Needs ``bioimage-cpp`` (the ``[cluster-ref]`` extra), imported here only.
    O(n^2) memory for the complete graph.
    """
    import bioimage_cpp as bic  # lazy: reference only

    n = features.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    neighbours = None if n <= ELF_DENSE_MAX else knn_graph(features, k, nprobe=nprobe, seed=seed)
    uv, costs = explicit_graph(features, offset, neighbours)
    graph = bic.graph.UndirectedGraph.from_edges(n, uv.astype(np.uint64))
    objective = bic.graph.multicut.MulticutObjective(graph, costs)
    mc = bic.graph.multicut
    solver = (
        mc.ChainedMulticutSolvers([mc.GreedyAdditiveMulticut(), mc.KernighanLinMulticut()])
        if kl
        else mc.GreedyAdditiveMulticut()
    )
    return canonical(np.asarray(solver.optimize(objective), dtype=np.int64))
