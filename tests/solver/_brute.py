"""Brute force and instance builders shared by the solver tests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from pruneplan.solver import AllocationProblem, LayerProfile

RTOL = 1e-9


def layer(
    name: str,
    levels: Sequence[float],
    loss: Sequence[float],
    size: int = 100,
    *,
    costs: dict[str, Sequence[float]] | None = None,
    group: str | None = None,
    min_sparsity: float = 0.0,
    max_sparsity: float = 1.0,
) -> LayerProfile:
    """A layer with ``shape`` and ``magnitudes`` set, so every baseline can run on it."""
    levels_arr = np.asarray(levels, dtype=float)
    return LayerProfile(
        name,
        levels_arr,
        np.asarray(loss, dtype=float),
        size,
        costs=costs,
        shape=(size,),
        min_sparsity=min_sparsity,
        max_sparsity=max_sparsity,
        group=group,
        magnitudes=0.01 + levels_arr * (1.0 + len(name) / 10.0),
    )


def _cost(profile: LayerProfile, resource: str, k: int) -> float:
    if resource == "params":
        return float(profile.size * (1.0 - np.asarray(profile.levels, dtype=float)[k]))
    assert profile.costs is not None
    return float(np.asarray(profile.costs[resource], dtype=float)[k])


def _allowed(profile: LayerProfile) -> list[int]:
    levels = np.asarray(profile.levels, dtype=float)
    ok = (levels >= profile.min_sparsity - 1e-12) & (levels <= profile.max_sparsity + 1e-12)
    return [int(k) for k in np.flatnonzero(ok)]


def brute_force(problem: AllocationProblem, scale: float = 1.0) -> float:
    """Optimal total loss by enumeration (``inf`` if infeasible); budgets times ``scale``."""
    layers = list(problem.layers)
    best = math.inf
    for combo in itertools.product(*(_allowed(p) for p in layers)):
        by_group: dict[str, int] = {}
        if any(
            by_group.setdefault(p.group, k) != k
            for p, k in zip(layers, combo, strict=True)
            if p.group
        ):
            continue
        fits = all(
            sum(_cost(p, r, k) for p, k in zip(layers, combo, strict=True))
            <= limit * scale * (1 + 1e-12)
            for r, limit in problem.budget.items()
        )
        if fits:
            best = min(
                best, sum(float(np.asarray(p.loss)[k]) for p, k in zip(layers, combo, strict=True))
            )
    return best


def random_problem(
    rng: np.random.Generator,
    n_layers: int,
    n_levels: int,
    *,
    resources: int = 1,
    groups: bool = False,
    bounds: bool = False,
    tightness: float = 0.5,
) -> AllocationProblem:
    """A small random problem with noisy, non-monotone loss curves."""
    levels = np.sort(rng.choice(np.linspace(0.0, 0.95, 20), n_levels, replace=False))
    layers = []
    for i in range(n_layers):
        size = int(rng.integers(10, 200))
        loss = np.round(levels**2 * rng.uniform(0.5, 3.0) + rng.uniform(0, 0.3, n_levels), 3)
        costs = {
            "flops": size * (1 - levels) * rng.uniform(1, 5),
            "latency_ms": rng.uniform(0.1, 1.0) * (1.2 - levels) + rng.uniform(0, 0.05, n_levels),
        }
        lo = float(levels[rng.integers(0, 2)]) if bounds and rng.random() < 0.4 else 0.0
        hi = float(levels[-rng.integers(1, 3)]) if bounds and rng.random() < 0.4 else 1.0
        group = f"g{i % 2}" if groups and i < 4 else None
        layers.append(
            layer(
                f"l{i}",
                levels,
                loss,
                size,
                costs=costs,
                group=group,
                min_sparsity=lo,
                max_sparsity=max(hi, lo),
            )
        )
    names = ["params", "flops", "latency_ms"][:resources]
    budget = {}
    for r in names:
        least = sum(min(_cost(p, r, k) for k in _allowed(p)) for p in layers)
        most = sum(max(_cost(p, r, k) for k in _allowed(p)) for p in layers)
        budget[r] = least + tightness * (most - least) + 1e-6
    return AllocationProblem(layers, budget)


def realistic_problem(
    seed: int, n_layers: int, n_levels: int, *, resources: int = 1, tightness: float = 0.4
) -> AllocationProblem:
    """Noisy, non-monotone plateau-then-cliff curves; budgets of params, flops, latency."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.99, n_levels)
    layers = []
    for i in range(n_layers):
        size = int(rng.integers(1_000, 100_000))
        cliff = rng.uniform(0.4, 0.95)
        curve = np.exp(rng.uniform(5, 12) * (levels - cliff)) * rng.uniform(0.05, 2.0)
        loss = np.abs(curve + rng.normal(0.0, 0.01, n_levels))
        costs = {
            "flops": size * (1 - levels) * rng.uniform(10, 100),
            "latency_ms": (size * (1 - levels)) ** 0.8 * 1e-3 + rng.uniform(0, 0.05, n_levels),
        }
        layers.append(layer(f"layer{i}.weight", levels, loss, size, costs=costs))
    full = {
        "params": sum(p.size for p in layers),
        "flops": sum(float(np.asarray(p.costs["flops"])[0]) for p in layers if p.costs),
        "latency_ms": sum(float(np.asarray(p.costs["latency_ms"])[0]) for p in layers if p.costs),
    }
    shares = {"params": tightness, "flops": tightness + 0.05, "latency_ms": tightness + 0.1}
    names = ["params", "flops", "latency_ms"][:resources]
    return AllocationProblem(layers, {r: shares[r] * full[r] for r in names})
