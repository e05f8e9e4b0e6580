r"""Proposal sources: level swaps, residual-perturbed re-solves, re-profiled curves.

The residual model fits the measured values :math:`m_j` of the plans told so far with one weight
per unit on the additive proxy,

.. math::
    \min_w \sum_j \Big(\sum_u w_u \ell_u(k_{ju}) + c - m_j\Big)^2
        + \lambda \sum_u (w_u - \alpha)^2,

where :math:`\ell_u(k)` is unit :math:`u`'s loss at level :math:`k`, :math:`k_{ju}` plan
:math:`j`'s level of unit :math:`u`, and :math:`\alpha, c` the least-squares fit of
:math:`m_j \approx \alpha \sum_u \ell_u(k_{ju}) + c` (the residual left by the proxy as a
whole); :math:`\lambda` is the mean diagonal of the Gram matrix. A re-solve multiplies each
unit's curve by :math:`w_u / \alpha \cdot e^{\sigma z_u}`, :math:`z_u \sim N(0, 1)`, and solves
exactly with `pruneplan.solver.allocate`, so every proposal meets every budget (SPDY's
perturb-and-solve, with the perturbation centred on what the measurements say).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from .. import AllocationProblem, Status, allocate
from ._space import Space

__all__ = ["residual_weights", "resolve", "swaps"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]

WEIGHT_RANGE = (0.1, 10.0)
"""Clip of the fitted per-unit weights (relative to the proxy's overall scale)."""


SWAP_TRIES = 4
"""Draws of one swap of a mutation before the mutation stops where it is."""


def swaps(
    space: Space, parent: I64, count: int, rng: np.random.Generator, reach: int = 1
) -> I64 | None:
    """Up to ``count`` budget-keeping level swaps (each moving its unit 1 to ``reach`` levels)
    applied in turn (a swap that finds no move is drawn again, up to `SWAP_TRIES` times);
    None if none moved the plan."""
    plan = parent
    for _ in range(count):
        for _ in range(SWAP_TRIES):
            moved = space.swap(plan, rng, reach)
            if moved is not None:
                plan = moved
                break
        else:
            break
    return None if np.array_equal(plan, parent) else plan


def residual_weights(space: Space, plans: Sequence[I64], values: Sequence[float]) -> F64:
    """Per-unit weights on the proxy fitted to the measurements (ones with fewer than 2)."""
    n_units = len(space.units)
    if len(plans) < 2:
        return np.ones(n_units)
    x = np.array([[space.loss[u][k] for u, k in enumerate(p.tolist())] for p in plans])
    m = np.asarray(values, dtype=np.float64)
    design = np.column_stack([x.sum(axis=1), np.ones(len(m))])
    (alpha, offset), *_ = np.linalg.lstsq(design, m, rcond=None)
    if not np.isfinite(alpha) or alpha <= 0:
        return np.ones(n_units)
    gram = x.T @ x
    lam = max(float(np.trace(gram)) / n_units, 1e-12)
    rhs = x.T @ (m - offset) + lam * alpha
    try:
        w = np.linalg.solve(gram + lam * np.eye(n_units), rhs)
    except np.linalg.LinAlgError:
        return np.ones(n_units)
    if not np.all(np.isfinite(w)):
        return np.ones(n_units)
    clipped: F64 = np.clip(w / alpha, *WEIGHT_RANGE)
    return clipped


def resolve(
    problem: AllocationProblem,
    space: Space,
    factors: F64,
    curves: Mapping[str, Sequence[float]] | None = None,
    method: str = "exact",
) -> I64 | None:
    """The exact plan of ``problem`` with unit ``u``'s curves times ``factors[u]`` (and the
    layers in ``curves`` given those losses first); None if no plan fits."""
    layers = list(problem.layers)
    for u, members in enumerate(space.units):
        for i in members:
            layer = layers[i]
            base = curves.get(layer.name) if curves else None
            loss = np.asarray(layer.loss if base is None else base, dtype=np.float64)
            layers[i] = replace(layer, loss=loss * float(factors[u]))
    perturbed = AllocationProblem(layers, problem.budget, problem.fingerprint)
    try:
        result = allocate(perturbed, method=method)
    except RuntimeError:  # the allocator refused its own plan (over a budget): no proposal
        return None
    if result.status is Status.INFEASIBLE or not result.level_index:
        return None
    plan = space.from_layers(result.level_index, "level_index")
    return plan if space.fits(plan) else None
