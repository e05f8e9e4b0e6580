"""Allocation in the conformance harness: every registered method on every case.

Exact methods (``exact``, ``milp``) must equal brute force, and so must any method that claims
``OPTIMAL``; ``dp`` must lie within its rounding; baselines must be feasible and never beat the
optimum. No method may exceed a budget, and every lower bound must be valid.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pruneplan.solver import (
    METHODS,
    AllocationProblem,
    AllocationResult,
    Certificate,
    Status,
    allocate,
)
from tests._factories import layer, random_problem
from tests.solver._conformance import Case, Conformance, Family, check_infeasible, check_result

from ._brute import brute_force

DP_BUCKETS = 10_000
LEVELS = [0.0, 0.5, 0.9]

TWO = [layer("a", LEVELS, [0.0, 0.1, 2.0]), layer("b", LEVELS, [0.0, 0.4, 0.5])]
FLOPS = {"flops": [40.0, 30.0, 5.0]}
THREE = [
    layer("a", LEVELS, [0.0, 0.1, 2.0], costs={**FLOPS, "latency_ms": [1.0, 0.9, 0.2]}),
    layer("b", LEVELS, [0.0, 0.4, 0.5], costs={**FLOPS, "latency_ms": [1.0, 0.5, 0.4]}),
    layer("c", LEVELS, [0.0, 0.2, 0.9], costs={**FLOPS, "latency_ms": [1.0, 0.6, 0.1]}),
]

KNOWN = [
    Case("two_layers", AllocationProblem(TWO, {"params": 80}), 0.6),
    Case("one_layer", AllocationProblem(TWO[:1], {"params": 60}), 0.1),
    Case(
        "groups",
        AllocationProblem(
            [
                layer("a", LEVELS, [0.0, 0.1, 2.0], group="g"),
                layer("b", LEVELS, [0.0, 0.4, 0.5], group="g"),
                layer("c", LEVELS, [0.0, 0.3, 0.35]),
            ],
            {"params": 160},
        ),
        0.8,
    ),
    Case(
        "bounds",
        AllocationProblem(
            [
                layer("a", LEVELS, [0.0, 0.1, 2.0], min_sparsity=0.5),
                layer("b", LEVELS, [0.0, 0.4, 0.5], max_sparsity=0.5),
            ],
            {"params": 100},
        ),
        0.5,
    ),
    Case(
        "three_resources",
        AllocationProblem(THREE, {"params": 200, "flops": 80, "latency_ms": 1.6}),
        1.3,
    ),
    Case("two_resources", AllocationProblem(THREE, {"params": 200, "flops": 80}), 0.6),
    Case("flops_only", AllocationProblem(THREE, {"flops": 50}), 1.4),
]

DEGENERATE = [
    Case(
        "one_level",
        AllocationProblem([layer("a", [0.5], [0.7]), layer("b", [0.3], [0.2])], {"params": 120}),
        0.9,
    ),
    Case(
        "all_zero_loss",
        AllocationProblem(
            [layer("a", LEVELS, [0, 0, 0]), layer("b", LEVELS, [0, 0, 0])], {"params": 30}
        ),
        0.0,
    ),
    Case(
        "ties",
        AllocationProblem(
            [layer("a", LEVELS, [0.0, 1.0, 2.0]), layer("b", LEVELS, [0.0, 1.0, 2.0])],
            {"params": 150},
        ),
        1.0,
    ),
    Case("budget_at_level_cost", AllocationProblem(TWO, {"params": 60}), 0.6),
    Case("budget_loose", AllocationProblem(TWO, {"params": 1e6}), 0.0),
]

INFEASIBLE = [
    Case(
        "below_least",
        AllocationProblem(
            [layer("a", LEVELS, [0, 1, 2]), layer("b", LEVELS, [0, 1, 2])], {"params": 10}
        ),
        math.inf,
    ),
    Case(
        "jointly",
        AllocationProblem(
            [
                layer("a", [0.0, 0.9], [0, 1], costs={"flops": [1.0, 50.0]}),
                layer("b", [0.0, 0.9], [0, 1], costs={"flops": [1.0, 50.0]}),
            ],
            {"params": 30, "flops": 50},
        ),
        math.inf,
    ),
]


def _random(resources: int, groups: bool, bounds: bool) -> list[AllocationProblem]:
    rng = np.random.default_rng(100 * resources + 10 * groups + bounds)
    return [
        random_problem(
            rng,
            int(rng.integers(2, 6)),
            int(rng.integers(4, 6)),
            resources=resources,
            groups=groups,
            bounds=bounds,
            tightness=rng.uniform(0.1, 0.9),
        )
        for _ in range(6)
    ]


RANDOM = {
    "plain": _random(1, False, False),
    "groups_bounds": _random(1, True, True),
    "two_resources": _random(2, False, True),
    "three_resources_groups": _random(3, True, False),
}


def invariants(problem: AllocationProblem, result: Certificate) -> None:
    """The plan's own objective, levels within bounds, one level per group, the budget echoed."""
    assert isinstance(result, AllocationResult)
    assert dict(result.limit) == dict(problem.budget)
    level_index, sparsity = result.level_index, result.sparsity
    assert set(level_index) == {p.name for p in problem.layers}
    loss = sum(float(np.asarray(p.loss)[level_index[p.name]]) for p in problem.layers)
    np.testing.assert_allclose(result.objective, loss, rtol=1e-12, atol=1e-12)
    groups: dict[str, int] = {}
    for p in problem.layers:
        k = level_index[p.name]
        level = np.asarray(p.levels)[k]
        assert sparsity[p.name] == level
        assert p.min_sparsity - 1e-12 <= level <= p.max_sparsity + 1e-12
        if p.group is not None:
            assert groups.setdefault(p.group, k) == k


def infeasible_invariants(problem: AllocationProblem, result: Certificate) -> None:
    """No plan; the smallest achievable totals as usage."""
    assert isinstance(result, AllocationResult)
    assert (dict(result.level_index), dict(result.sparsity)) == ({}, {})
    assert set(result.usage) == set(problem.budget)


def promises(method: str, problem: AllocationProblem, result: Certificate, optimum: float) -> None:
    """``dp`` is exact for costs rounded up to buckets: each item loses < 1 bucket."""
    if method == "dp" and len(problem.budget) == 1:
        slack = 1.0 - len(problem.layers) / DP_BUCKETS
        assert result.objective <= brute_force(problem, slack) + 1e-12


def may_miss(method: str, problem: AllocationProblem) -> bool:
    """Only heuristics may miss a plan; with several budgets the Lagrangian repair may too."""
    return method not in ("exact", "milp", "lagrangian") or len(problem.budget) > 1


ALLOCATION = Family(
    solve=allocate,
    methods=sorted(METHODS),
    exact=frozenset({"exact", "milp"}),
    known=KNOWN,
    degenerate=DEGENERATE,
    infeasible=INFEASIBLE,
    random=RANDOM,
    brute_force=brute_force,
    invariants=invariants,
    infeasible_invariants=infeasible_invariants,
    promises=promises,
    may_miss=may_miss,
)


class TestAllocation(Conformance):
    family = ALLOCATION


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_layers=st.integers(1, 5),
    n_levels=st.integers(4, 6),
    resources=st.integers(1, 3),
    tightness=st.floats(0.0, 1.0),
)
def test_property_exact_methods(
    seed: int, n_layers: int, n_levels: int, resources: int, tightness: float
) -> None:
    rng = np.random.default_rng(seed)
    problem = random_problem(
        rng,
        n_layers,
        n_levels,
        resources=resources,
        groups=True,
        bounds=True,
        tightness=tightness,
    )
    optimum = brute_force(problem)
    for method in ("exact", "lagrangian", "dp"):
        result = allocate(problem, method=method)
        if math.isinf(optimum):
            check_infeasible(result)
        elif result.status is Status.INFEASIBLE:  # heuristic repair with several budgets
            assert method != "exact" and len(problem.budget) > 1
        else:
            check_result(ALLOCATION, method, problem, result, optimum)
