"""Bucketed DP: rounding up never overspends, the frontier is right, back-pointers are small."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pruneplan.solver import AllocationProblem, InvalidProblemError, Status, allocate
from pruneplan.solver.allocation._dense import dense
from pruneplan.solver.allocation._dp import bucket_weights, dp_table, pointer_dtype
from pruneplan.solver.allocation._validate import validate_problem
from tests._factories import layer, random_problem, realistic_problem

from ._brute import brute_force


def test_frontier_matches_brute_force() -> None:
    rng = np.random.default_rng(11)
    problem = random_problem(rng, 4, 5, tightness=0.6)
    buckets = 400
    result = allocate(problem, method="dp", buckets=buckets)
    frontier = result.frontier
    assert frontier is not None and frontier.resource == "params"
    assert frontier.budget.shape == frontier.objective.shape == (buckets + 1,)
    np.testing.assert_allclose(frontier.budget[-1], problem.budget["params"])
    assert np.all(frontier.objective[1:] <= frontier.objective[:-1])  # more budget never hurts
    unit = problem.budget["params"] / buckets
    for b in range(0, buckets + 1, 20):
        exact = brute_force(problem, frontier.budget[b] / problem.budget["params"])
        within = frontier.budget[b] - len(problem.layers) * unit  # each item rounds < 1 bucket
        rounded = brute_force(problem, max(within, 0.0) / problem.budget["params"])
        value = frontier.objective[b]
        if math.isinf(exact):
            assert math.isinf(value)
            continue
        assert value >= exact - 1e-12  # rounding up is conservative
        assert value <= rounded + 1e-12  # and loses less than one bucket per item


def test_rounding_up_never_overspends() -> None:
    cost = np.array([100.0, 66.7, 33.3, 0.0])
    weights = bucket_weights(cost, 1000.0, 30)
    np.testing.assert_array_equal(weights, [3, 3, 1, 0])
    assert np.all(weights * (1000.0 / 30) >= cost)
    # Nearest-bucket rounding would pick both 0.5 levels here and overspend by 10%.
    levels = [0.0, 0.45, 0.9]
    layers = [layer("a", levels, [0.0, 0.1, 5.0]), layer("b", levels, [0.0, 0.1, 5.0])]
    problem = AllocationProblem(layers, {"params": 105})
    result = allocate(problem, method="dp", buckets=10)
    assert result.usage["params"] <= 105
    np.testing.assert_allclose(result.objective, brute_force(problem))


@pytest.mark.parametrize(("options", "dtype"), [(101, np.uint8), (256, np.uint8), (257, np.uint16)])
def test_back_pointers_are_compact(options: int, dtype: type) -> None:
    assert pointer_dtype(options) == np.dtype(dtype)


def test_back_pointer_table_size() -> None:
    inst = validate_problem(realistic_problem(0, 12, 101))
    d = dense(inst)
    buckets = 3000
    weight = bucket_weights(d.cost[0], float(d.budget[0]), buckets)
    table = dp_table(d.loss, weight, buckets)
    assert table is not None
    value, pointer = table
    assert pointer.dtype == np.uint8
    assert pointer.nbytes == 12 * (buckets + 1)
    assert value.shape == (buckets + 1,)
    # 1,000 layers x 101 levels x 10^5 buckets: 100 MB of back-pointers.
    assert 1000 * (10**5 + 1) * pointer_dtype(101).itemsize < 128 * 2**20


def test_noisy_curves_within_rounding_of_the_optimum() -> None:
    problem = realistic_problem(4, 40, 51)
    buckets = 2000
    result = allocate(problem, method="dp", buckets=buckets)
    optimum = allocate(problem, method="exact").objective
    shrunk = AllocationProblem(
        problem.layers, {"params": problem.budget["params"] * (1 - 40 / buckets)}
    )
    assert optimum * (1 - 1e-9) <= result.objective
    assert result.objective <= allocate(shrunk, method="exact").objective * (1 + 1e-9)
    assert result.usage["params"] <= problem.budget["params"]
    assert result.lower_bound <= optimum * (1 + 1e-9)


def test_several_resources_stay_within_every_budget() -> None:
    problem = realistic_problem(5, 30, 21, resources=3)
    result = allocate(problem, method="dp", buckets=2000)
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert result.frontier is None
    for resource, limit in problem.budget.items():
        assert result.usage[resource] <= limit * (1 + 1e-9)


def test_time_limit_is_respected() -> None:
    problem = realistic_problem(6, 200, 101)
    result = allocate(problem, method="dp", buckets=10**6, time_limit=1e-3)
    assert result.status is Status.TIME_LIMIT
    assert "time_limit" in result.message


def test_buckets_option_is_checked() -> None:
    problem = realistic_problem(0, 3, 5)
    with pytest.raises(InvalidProblemError, match=r"options\.buckets"):
        allocate(problem, method="dp", buckets=1)
