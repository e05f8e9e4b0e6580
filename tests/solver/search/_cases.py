"""Problems and measurement functions shared by the search tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import numpy as np

from pruneplan.solver import AllocationProblem, LayerProfile
from pruneplan.solver.search import Candidate, SearchSession

RTOL = 1e-9

Measure = Callable[[Candidate], float]


def multi_resource(seed: int = 0, n: int = 8, k: int = 7) -> AllocationProblem:
    """Params, flops and latency budgets, a group of two layers, sparsity bounds."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.9, k)
    layers = []
    for i in range(n):
        loss = np.concatenate([[0.0], np.sort(rng.random(k - 1))]) * rng.uniform(0.2, 3)
        size = int(rng.integers(50, 500))
        flops = size * rng.uniform(1, 4) * (1 - levels)
        latency = 0.2 + rng.random() * (1 - levels) ** 2
        layers.append(
            LayerProfile(
                f"l{i}",
                levels,
                loss,
                size,
                costs={"flops": flops, "latency_ms": latency},
                group="g" if i in (2, 5) else None,
                min_sparsity=0.1 if i == 0 else 0.0,
                max_sparsity=0.6 if i == 1 else 1.0,
            )
        )
    dense = {
        "params": sum(layer.size for layer in layers),
        "flops": sum(float(np.asarray(layer.costs["flops"])[0]) for layer in layers),
        "latency_ms": sum(float(np.asarray(layer.costs["latency_ms"])[0]) for layer in layers),
    }
    return AllocationProblem(
        layers,
        {
            "params": 0.5 * dense["params"],
            "flops": 0.45 * dense["flops"],
            "latency_ms": 0.7 * dense["latency_ms"],
        },
    )


def tiny(seed: int, n: int = 4, k: int = 4) -> tuple[AllocationProblem, list[np.ndarray]]:
    """A small single-budget problem and "true" curves that the proxy misjudges."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.8, k)
    proxy = [np.concatenate([[0.0], np.sort(rng.random(k - 1))]) for _ in range(n)]
    true = [
        p * rng.uniform(0.2, 5) + 0.3 * np.concatenate([[0.0], np.sort(rng.random(k - 1))])
        for p in proxy
    ]
    layers = [LayerProfile(f"l{i}", levels, proxy[i], int(rng.integers(50, 200))) for i in range(n)]
    budget = 0.6 * sum(layer.size for layer in layers)
    return AllocationProblem(layers, {"params": budget}), true


def levels_of(problem: AllocationProblem, c: Candidate) -> list[int]:
    return [c.level_index[layer.name] for layer in problem.layers]


def additive(problem: AllocationProblem, curves: list[np.ndarray]) -> Measure:
    """Measured value: the sum of ``curves`` at the candidate's levels (no sample noise)."""

    def measure(c: Candidate) -> float:
        return float(sum(curves[i][k] for i, k in enumerate(levels_of(problem, c))))

    return measure


def noisy(problem: AllocationProblem, curves: list[np.ndarray], scale: float) -> Measure:
    """``additive`` plus noise fixed by (plan, sample_set, samples): the same samples give the
    same value, other samples another one."""
    base = additive(problem, curves)

    def measure(c: Candidate) -> float:
        key = hash((tuple(levels_of(problem, c)), c.sample_set, c.samples)) % 2**32
        return base(c) + scale * float(np.random.default_rng(key).standard_normal()) / c.samples

    return measure


def run(session: SearchSession, measure: Measure, batch: int = 100) -> list[Candidate]:
    """Ask and tell until the session stops; every candidate asked, in order."""
    asked: list[Candidate] = []
    while candidates := session.ask(batch):
        asked += candidates
        session.tell([(c.candidate_id, measure(c), c.samples) for c in candidates])
    return asked


def feasible_plans(problem: AllocationProblem) -> Iterator[tuple[int, ...]]:
    """Every level choice within the budget (brute force; ungrouped, no bounds)."""
    sizes = [layer.size for layer in problem.layers]
    levels = [np.asarray(layer.levels) for layer in problem.layers]
    limit = problem.budget["params"] * (1 + RTOL)
    for plan in itertools.product(*(range(lv.size) for lv in levels)):
        if sum(s * (1 - lv[k]) for s, lv, k in zip(sizes, levels, plan, strict=True)) <= limit:
            yield plan
