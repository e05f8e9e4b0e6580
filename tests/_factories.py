"""The one factory module of the test suite: problems and results for every test folder.

Builders live here, not in a ``conftest.py``: test modules import them by name
(``from tests._factories import realistic_problem``). Fixtures stay in the conftests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pruneplan.solver import AllocationProblem, AllocationResult, LayerProfile, Status

# servers: see tests/service

# ----------------------------------------------------------------------------------------------
# Allocation problems


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


def cost_at(profile: LayerProfile, resource: str, k: int) -> float:
    """The cost of ``profile`` at level ``k`` in ``resource`` (``params`` by its default)."""
    if resource == "params" and (profile.costs is None or "params" not in profile.costs):
        return float(profile.size * (1.0 - np.asarray(profile.levels, dtype=float)[k]))
    assert profile.costs is not None
    return float(np.asarray(profile.costs[resource], dtype=float)[k])


def allowed_levels(profile: LayerProfile) -> list[int]:
    """Level indices within ``[min_sparsity, max_sparsity]``."""
    levels = np.asarray(profile.levels, dtype=float)
    ok = (levels >= profile.min_sparsity - 1e-12) & (levels <= profile.max_sparsity + 1e-12)
    return [int(k) for k in np.flatnonzero(ok)]


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
        least = sum(min(cost_at(p, r, k) for k in allowed_levels(p)) for p in layers)
        most = sum(max(cost_at(p, r, k) for k in allowed_levels(p)) for p in layers)
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


TINY_LEVELS = [0.0, 0.25, 0.5, 0.75, 0.9]


def tiny_problem(budget: float = 300.0, n: int = 4, seed: int = 0) -> AllocationProblem:
    """A few layers with convex-ish noisy curves; solves in milliseconds."""
    rng = np.random.default_rng(seed)
    levels = np.array(TINY_LEVELS)
    layers = [
        LayerProfile(
            f"layer{i}.weight",
            TINY_LEVELS,
            np.round(levels**2 * rng.uniform(0.5, 2.0) + 0.01 * np.arange(5), 6),
            100 + 20 * i,
            costs={"flops": np.round((1.0 - levels) * 1000 * (i + 1))},
        )
        for i in range(n)
    ]
    return AllocationProblem(layers, {"params": budget}, fingerprint="tiny")


def hard_problem(n: int = 200, k: int = 20, resources: int = 4, seed: int = 0) -> AllocationProblem:
    """Random multi-resource instance that keeps HiGHS busy far beyond the tests' deadlines."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.95, k)
    layers = [
        LayerProfile(
            f"l{i}",
            levels,
            rng.uniform(0, 100, k),
            1000,
            costs={f"r{j}": rng.uniform(0, 100, k) for j in range(resources)},
        )
        for i in range(n)
    ]
    return AllocationProblem(layers, {f"r{j}": n * 30.0 for j in range(resources)})


# ----------------------------------------------------------------------------------------------
# Allocation results


def allocation_result(
    sparsity: Mapping[str, float],
    *,
    level_index: Mapping[str, int] | None = None,
    status: Status = Status.FEASIBLE,
    fingerprint: str = "",
    method: str = "test",
) -> AllocationResult:
    """A hand-made plan, as a solver would return it (level index 0 everywhere by default)."""
    return AllocationResult(
        status=status,
        level_index=dict.fromkeys(sparsity, 0) if level_index is None else dict(level_index),
        sparsity=dict(sparsity),
        objective=0.0,
        lower_bound=0.0,
        gap=0.0,
        usage={},
        limit={},
        method=method,
        solve_time_s=0.0,
        fingerprint=fingerprint,
    )
