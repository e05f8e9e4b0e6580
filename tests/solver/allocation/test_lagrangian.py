"""Lagrangian relaxation: the dual bound is valid, tight for one resource, and cheap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import linprog

from pruneplan.solver import AllocationProblem, Status, allocate
from pruneplan.solver.allocation._dense import dense
from pruneplan.solver.allocation._lagrangian import dual_bound
from pruneplan.solver.allocation._validate import validate_problem
from tests._factories import layer, random_problem, realistic_problem

from ._brute import brute_force


def lp_relaxation(problem: AllocationProblem) -> float:
    """The LP relaxation of the multiple-choice knapsack, by HiGHS."""
    d = dense(validate_problem(problem))
    n, width = d.loss.shape
    valid = np.isfinite(d.loss).ravel()
    rows = np.repeat(np.arange(n), width)[valid]
    m = int(valid.sum())
    res = linprog(
        d.loss.ravel()[valid],
        A_ub=d.cost.reshape(d.budget.size, -1)[:, valid],
        b_ub=d.budget,
        A_eq=sp.csr_array((np.ones(m), (rows, np.arange(m))), shape=(n, m)),
        b_eq=np.ones(n),
        bounds=(0.0, None),
        method="highs",
    )
    assert res.status == 0
    return float(res.fun)


@pytest.mark.parametrize("resources", [1, 2, 3])
def test_dual_bound_is_valid(resources: int) -> None:
    rng = np.random.default_rng(resources)
    for _ in range(15):
        problem = random_problem(rng, 4, 4, resources=resources, tightness=rng.uniform(0.1, 0.9))
        optimum = brute_force(problem)
        assert dual_bound(validate_problem(problem)) <= optimum * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("seed", range(4))
def test_one_resource_bound_equals_lp_relaxation(seed: int) -> None:
    problem = realistic_problem(seed, 40, 21)
    np.testing.assert_allclose(
        dual_bound(validate_problem(problem)), lp_relaxation(problem), rtol=1e-9
    )


@pytest.mark.parametrize("resources", [2, 3])
def test_several_resources_bound_below_lp_relaxation(resources: int) -> None:
    problem = realistic_problem(7, 30, 11, resources=resources)
    bound = dual_bound(validate_problem(problem))
    assert bound <= lp_relaxation(problem) * (1 + 1e-9)
    assert bound > 0.9 * lp_relaxation(problem)


def test_convex_curves_are_solved_exactly() -> None:
    levels = [0.0, 0.25, 0.5, 0.75]
    layers = [
        layer("a", levels, [0.0, 0.1, 0.3, 0.7]),
        layer("b", levels, [0.0, 0.2, 0.5, 1.0]),
        layer("c", levels, [0.0, 0.05, 0.15, 0.4]),
    ]
    problem = AllocationProblem(layers, {"params": 150})  # a hull vertex: slopes line up
    result = allocate(problem, method="lagrangian")
    assert result.status is Status.OPTIMAL
    np.testing.assert_allclose(result.objective, brute_force(problem), rtol=1e-12)
    assert result.gap <= 1e-12


@pytest.mark.parametrize("resources", [1, 3])
def test_noisy_curves_gap_is_certified(resources: int) -> None:
    problem = realistic_problem(3, 60, 31, resources=resources)
    result = allocate(problem, method="lagrangian")
    optimum = allocate(problem, method="milp").objective
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert result.lower_bound <= optimum * (1 + 1e-9)
    assert result.objective >= optimum * (1 - 1e-9)
    np.testing.assert_allclose(
        result.gap, (result.objective - result.lower_bound) / result.objective, rtol=1e-9
    )
    for resource, limit in problem.budget.items():
        assert result.usage[resource] <= limit * (1 + 1e-9)


def test_fill_spends_leftover_budget() -> None:
    # At the optimal multiplier the plan leaves budget that a cheap upgrade can use.
    levels = [0.0, 0.5, 0.9]
    layers = [layer("a", levels, [0.0, 1.0, 5.0]), layer("b", levels, [0.0, 0.1, 0.2])]
    problem = AllocationProblem(layers, {"params": 105})
    result = allocate(problem, method="lagrangian")
    np.testing.assert_allclose(result.objective, brute_force(problem), rtol=1e-12)


def test_multipliers_work_on_instance_without_budgeted_params() -> None:
    problem = realistic_problem(5, 20, 11, resources=3)
    only_flops = AllocationProblem(problem.layers, {"flops": problem.budget["flops"]})
    result = allocate(only_flops, method="lagrangian")
    assert result.usage["flops"] <= only_flops.budget["flops"] * (1 + 1e-9)
    assert result.lower_bound <= allocate(only_flops, method="exact").objective * (1 + 1e-9)
