"""Brute force of the allocation problem: every plan enumerated (tiny instances only)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from pruneplan.solver import AllocationProblem
from tests._factories import allowed_levels, cost_at


def brute_force(problem: AllocationProblem, scale: float = 1.0) -> float:
    """Optimal total loss by enumeration (``inf`` if infeasible); budgets times ``scale``.

    Layers that share a group take the same level index; ``[min_sparsity, max_sparsity]``
    holds; every budget holds within a relative 1e-12.
    """
    layers = list(problem.layers)
    best = math.inf
    for combo in itertools.product(*(allowed_levels(p) for p in layers)):
        by_group: dict[str, int] = {}
        if any(
            by_group.setdefault(p.group, k) != k
            for p, k in zip(layers, combo, strict=True)
            if p.group
        ):
            continue
        fits = all(
            sum(cost_at(p, r, k) for p, k in zip(layers, combo, strict=True))
            <= limit * scale * (1 + 1e-12)
            for r, limit in problem.budget.items()
        )
        if fits:
            best = min(
                best, sum(float(np.asarray(p.loss)[k]) for p, k in zip(layers, combo, strict=True))
            )
    return best
