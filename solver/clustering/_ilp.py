"""Exact multicut of a tiny complete graph: a 0-1 program with lazily added cycle inequalities."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import sparse
from scipy.optimize import LinearConstraint, milp
from scipy.sparse.csgraph import connected_components

from ._cost import canonical

__all__ = ["ILP_MAX_N", "IlpOutcome", "multicut_ilp"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

ILP_MAX_N = 40
"""Largest group the exact method accepts (n(n-1)/2 variables)."""


@dataclass
class IlpOutcome:
    """Labels (canonical), the proven bound, whether the time limit stopped the search."""

    labels: I64
    lower_bound: float
    timed_out: bool


def _violated(cut: NDArray[np.bool_], index: I64) -> list[tuple[int, int, int]]:
    """Triangles ``(ij, ik, jk)`` as variable indices with ``x_ij = 1``, ``x_ik = x_jk = 0``."""
    joined = ~cut
    bad = cut[:, :, None] & joined[:, None, :] & joined[None, :, :]
    i, j, k = np.nonzero(bad)
    keep = (i < j) & (k != i) & (k != j)
    return [
        (int(index[a, b]), int(index[a, c]), int(index[b, c]))
        for a, b, c in zip(i[keep], j[keep], k[keep], strict=True)
    ]


def _rows(triangles: list[tuple[int, int, int]], m: int) -> sparse.csr_array:
    r = np.repeat(np.arange(len(triangles)), 3)
    c = np.asarray(triangles, dtype=np.int64).reshape(-1)
    v = np.tile([1.0, -1.0, -1.0], len(triangles))
    return sparse.csr_array((v, (r, c)), shape=(len(triangles), m))


def multicut_ilp(features: F64, offset: float, *, deadline: float = math.inf) -> IlpOutcome:
    r"""Minimum cut cost partition, exactly, by branch and cut in HiGHS.

    .. math::
        \min_{x \in \{0,1\}^{E}} \sum_{i<j} (\langle f_i, f_j\rangle - \theta)\, x_{ij}
        \quad \text{s.t.} \quad x_{ij} \le x_{ik} + x_{kj} \;\; \forall i, j, k

    where :math:`x_{ij} = 1` cuts the pair. On a complete graph the triangle inequalities
    are all the cycle inequalities; they are added only when an integer solution violates
    one, and the program solved again.

    Notes
    -----
    :math:`n(n-1)/2` binary variables; limited to ``ILP_MAX_N`` elements.
    """
    n = features.shape[0]
    if n == 1:
        return IlpOutcome(np.zeros(1, dtype=np.int64), 0.0, False)
    iu, ju = np.triu_indices(n, 1)
    index = np.zeros((n, n), dtype=np.int64)
    index[iu, ju] = index[ju, iu] = np.arange(iu.size)
    costs = (features @ features.T)[iu, ju] - offset
    triangles: list[tuple[int, int, int]] = []
    while True:
        left = deadline - time.perf_counter()
        options = {} if math.isinf(left) else {"time_limit": max(left, 1e-3)}
        constraints = (
            [LinearConstraint(_rows(triangles, iu.size), -np.inf, 0.0)] if triangles else []
        )
        res = milp(
            costs,
            integrality=np.ones(iu.size),
            bounds=(0, 1),
            constraints=constraints,
            options=options,
        )
        if res.x is None:
            return IlpOutcome(np.arange(n, dtype=np.int64), -math.inf, True)
        cut = np.zeros((n, n), dtype=bool)
        cut[iu, ju] = cut[ju, iu] = res.x > 0.5
        new = _violated(cut, index)
        timed_out = res.status == 1
        if not new or timed_out:
            break
        triangles.extend(new)
    _, labels = connected_components(sparse.csr_array(~cut & ~np.eye(n, dtype=bool)))
    bound = float(getattr(res, "mip_dual_bound", res.fun))
    return IlpOutcome(canonical(labels.astype(np.int64)), bound, timed_out or bool(new))
