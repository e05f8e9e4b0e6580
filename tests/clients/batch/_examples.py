"""Example requests of every problem family, for the batch tests.

`EXAMPLES` maps each ``SolveRequest.problem`` field (a key of `convert.CODECS`) to a function
``(count, seed) -> requests``: small problems that solve in milliseconds, across the family's
methods and budgets. A new family adds its entry here; `test_every_family_has_examples` fails
until it does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from pruneplan.service import convert
from pruneplan.solver import (
    AllocationProblem,
    ClusterGroup,
    ClusteringProblem,
    ItemGroup,
    LayerProfile,
    SelectionProblem,
)
from pruneplan.solver.transport import TransportProblem
from pruneplan.v1 import pruning_service_pb2 as pb

LEVELS = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 0.9])
ALLOCATION_METHODS = ("exact", "dp", "lagrangian", "uniform", "erk", "global_magnitude", "lamp")


def allocation_problem(seed: int, fraction: float, layers: int = 5) -> AllocationProblem:
    """Convex-ish noisy curves, params and flops costs, magnitudes (for ``lamp``)."""
    rng = np.random.default_rng(seed)
    profiles = []
    for i in range(layers):
        shape = (int(rng.integers(4, 20)), int(rng.integers(8, 24)))
        size = shape[0] * shape[1]
        loss = np.round(LEVELS**2 * rng.uniform(0.5, 2.0) + 0.01 * np.arange(LEVELS.size), 6)
        profiles.append(
            LayerProfile(
                f"layer{i}.weight",
                LEVELS,
                loss,
                size,
                shape=shape,
                costs={"flops": np.round((1.0 - LEVELS) * size * rng.uniform(5, 20))},
                magnitudes=np.round(np.sort(rng.uniform(0, 1, LEVELS.size)), 6),
            )
        )
    total = sum(p.size for p in profiles)
    return AllocationProblem(profiles, {"params": round(fraction * total)}, fingerprint="ex")


def allocation_requests(count: int, seed: int = 0) -> list[pb.SolveRequest]:
    grid = itertools.product(range(count), [0.3, 0.5, 0.7])
    requests = []
    for (i, fraction), method in zip(grid, itertools.cycle(ALLOCATION_METHODS), strict=False):
        if len(requests) == count:
            break
        problem = allocation_problem(seed + i, fraction)
        args = convert.SolveArgs(method=method)
        name = f"allocation-{len(requests)}"
        requests.append(convert.build_request(problem, args, request_id=name))
    return requests


SELECTION_METHODS = ("exact", "greedy", "uniform", "global_threshold")
CLUSTERING_METHODS = ("gaec", "knn")


def selection_requests(count: int, seed: int = 0) -> list[pb.SolveRequest]:
    """Three groups of channels with per-item FLOPs, a FLOPs budget at 40-70% of the total."""
    requests = []
    for i, method in zip(range(count), itertools.cycle(SELECTION_METHODS), strict=False):
        rng = np.random.default_rng(seed + i)
        groups = [
            ItemGroup(
                f"conv{g}", np.round(rng.random(12), 6), costs={"flops": np.full(12, g + 1.0)}
            )
            for g in range(3)
        ]
        budget = {"flops": round(float(rng.uniform(0.4, 0.7)) * 12 * 6)}
        problem = SelectionProblem(groups, budget)
        args = convert.SolveArgs(method=method)
        requests.append(convert.build_request(problem, args, request_id=f"selection-{i}"))
    return requests


def clustering_requests(count: int, seed: int = 0) -> list[pb.SolveRequest]:
    """Two groups of 10 channels (8 features), a per-group cluster count."""
    requests = []
    for i, method in zip(range(count), itertools.cycle(CLUSTERING_METHODS), strict=False):
        rng = np.random.default_rng(seed + i)
        groups = [
            ClusterGroup(f"conv{g}", np.round(rng.standard_normal((10, 8)), 6)) for g in (1, 2)
        ]
        problem = ClusteringProblem(groups, n_clusters={"conv1": 6, "conv2": 4})
        args = convert.SolveArgs(method=method)
        requests.append(convert.build_request(problem, args, request_id=f"clustering-{i}"))
    return requests


TRANSPORT_METHODS = ("semi_dual",)


def transport_requests(count: int, seed: int = 0) -> list[pb.SolveRequest]:
    """Two groups of scores, FLOPs masses, a kept-FLOPs budget; entropy and l2."""
    requests = []
    for i in range(count):
        rng = np.random.default_rng(seed + i)
        scores = {f"conv{g}": np.round(rng.standard_normal(16), 6) for g in (1, 2)}
        weights = {"conv1": np.full(16, 2.0), "conv2": np.full(16, 1.0)}
        reg_type = ("entropy", "l2")[i % 2]
        problem = TransportProblem(scores, 20.0, weights=weights, reg=0.1, reg_type=reg_type)
        args = convert.SolveArgs(method=TRANSPORT_METHODS[i % len(TRANSPORT_METHODS)])
        requests.append(convert.build_request(problem, args, request_id=f"transport-{i}"))
    return requests


EXAMPLES: dict[str, Callable[[int, int], list[pb.SolveRequest]]] = {
    "allocation": allocation_requests,
    "selection": selection_requests,
    "transport": transport_requests,
    "clustering": clustering_requests,
}


def mixed_requests(count_per_family: int, seed: int = 0) -> list[pb.SolveRequest]:
    """``count_per_family`` requests of every family, interleaved."""
    per_family = [EXAMPLES[name](count_per_family, seed) for name in convert.CODECS]
    mixed = itertools.chain.from_iterable(itertools.zip_longest(*per_family))
    return [request for request in mixed if request is not None]
