"""The shared HiGHS layer: both back ends, the status map, start plans, cutoffs, no one-of rows."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from pruneplan.solver import AllocationProblem, LayerProfile, Status, allocate
from pruneplan.solver._highs import ZeroOne, has_highspy, solve_zero_one

DATA = Path(__file__).parent / "allocation" / "data"

BACKENDS = [
    "scipy",
    pytest.param("highspy", marks=pytest.mark.skipif(not has_highspy(), reason="no highspy")),
]


def _knapsack(seed: int, n: int = 12, resources: int = 2) -> ZeroOne:
    """A 0-1 knapsack with no one-of rows: maximise value (minimise its negative)."""
    rng = np.random.default_rng(seed)
    costs = rng.uniform(1.0, 10.0, (resources, n))
    return ZeroOne(-rng.uniform(0.0, 5.0, n), None, costs, costs.sum(axis=1) * 0.4)


def _choice_model(seed: int, groups: int = 5, options: int = 4) -> ZeroOne:
    """One option per group, one budget."""
    rng = np.random.default_rng(seed)
    n = groups * options
    costs = rng.uniform(1.0, 10.0, (1, n))
    budget = costs.reshape(groups, options).min(axis=1).sum() * 1.3
    return ZeroOne(
        rng.uniform(0.0, 5.0, n), np.repeat(np.arange(groups), options), costs, budget[None]
    )


def _brute(model: ZeroOne) -> float:
    n = model.objective.size
    best = math.inf
    for bits in itertools.product((0, 1), repeat=n):
        x = np.array(bits, dtype=float)
        if model.group is not None and not np.all(np.bincount(model.group, x) == 1):
            continue
        if np.all(model.costs @ x <= model.budget * (1 + 1e-12)):
            best = min(best, float(model.objective @ x))
    return best


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("build", [_knapsack, _choice_model], ids=["knapsack", "one_of_rows"])
@pytest.mark.parametrize("seed", range(3))
def test_optimum_equals_brute_force(backend: str, build: object, seed: int) -> None:
    model = build(seed)  # type: ignore[operator]
    out = solve_zero_one(model, backend=backend)  # type: ignore[arg-type]
    assert out.status is Status.OPTIMAL and out.message == ""
    assert out.chosen is not None
    x = np.zeros(model.objective.size)
    x[out.chosen] = 1.0
    assert np.all(model.costs @ x <= model.budget * (1 + 1e-9))
    np.testing.assert_allclose(model.objective @ x, _brute(model), rtol=1e-9, atol=1e-12)
    assert out.bound <= model.objective @ x + 1e-9


@pytest.mark.parametrize("backend", BACKENDS)
def test_infeasible_maps_to_infeasible(backend: str) -> None:
    model = ZeroOne(np.ones(4), np.array([0, 0, 1, 1]), np.full((1, 4), 5.0), np.array([6.0]))
    out = solve_zero_one(model, backend=backend)  # type: ignore[arg-type]
    assert out.status is Status.INFEASIBLE
    assert out.chosen is None and out.bound == math.inf
    assert out.message == "HiGHS proved the budget infeasible."


@pytest.mark.skipif(not has_highspy(), reason="highspy is not installed")
def test_start_plan_and_cutoff() -> None:
    model = _choice_model(7, groups=8, options=5)
    best = solve_zero_one(model, backend="highspy")
    assert best.chosen is not None
    optimum = float(model.objective[best.chosen].sum())
    started = solve_zero_one(model, start=best.chosen, heuristics=False, backend="highspy")
    assert started.status is Status.OPTIMAL and started.chosen is not None
    np.testing.assert_allclose(model.objective[started.chosen].sum(), optimum, rtol=1e-9)
    below = solve_zero_one(model, cutoff=optimum * (1 - 1e-6), backend="highspy")
    assert below.status is not Status.TIME_LIMIT
    assert below.chosen is None or model.objective[below.chosen].sum() >= optimum * (1 - 1e-9)


def test_a_plan_over_the_budget_by_highs_tolerance_is_solved_again() -> None:
    """Two budgets where HiGHS's plan crossed flops by a relative 1.3e-7 (its feasibility
    tolerance): exact and milp used to raise 'returned a plan over the budget'."""
    data = json.loads((DATA / "highs_tolerance_two_budgets.json").read_text())
    problem = AllocationProblem([LayerProfile(**layer) for layer in data["layers"]], data["budget"])
    want = allocate(problem, method="lagrangian")
    for method in ("exact", "milp"):
        got = allocate(problem, method=method)
        assert all(got.usage[r] <= problem.budget[r] * (1 + 1e-9) for r in problem.budget)
        assert got.objective <= want.objective * (1 + 1e-9)
        assert got.lower_bound <= got.objective
