"""Exact method: equals HiGHS, certifies its answer, honours time_limit, falls back cleanly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pruneplan.solver import (
    AllocationProblem,
    LayerProfile,
    Progress,
    Status,
    _highs,
    allocate,
)
from pruneplan.solver.allocation import _core_search, _exact
from pruneplan.solver.allocation._core_search import Incumbent, search, setup
from pruneplan.solver.allocation._dense import dense, fill
from pruneplan.solver.allocation._enumerate import enumerate_core
from pruneplan.solver.allocation._lagrangian import solve_dual
from pruneplan.solver.allocation._local_search import improve
from pruneplan.solver.allocation._milp import solve_milp, solve_restricted, zero_one
from pruneplan.solver.allocation._surrogate import surrogate_dual
from pruneplan.solver.allocation._validate import validate_problem
from tests._factories import layer, random_problem, realistic_problem

from ._brute import brute_force


@pytest.mark.parametrize("resources", [1, 2, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_equals_milp_on_noisy_curves(seed: int, resources: int) -> None:
    problem = realistic_problem(seed, 60, 31, resources=resources, tightness=0.3 + 0.1 * seed)
    exact = allocate(problem, method="exact")
    milp = allocate(problem, method="milp")
    assert exact.status is Status.OPTIMAL
    assert exact.gap <= 1e-9
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9)
    np.testing.assert_allclose(exact.lower_bound, exact.objective, rtol=1e-9)
    for resource, limit in problem.budget.items():
        assert exact.usage[resource] <= limit * (1 + 1e-9)


def test_auto_is_exact() -> None:
    problem = realistic_problem(2, 10, 11)
    assert allocate(problem).method == "exact"
    np.testing.assert_allclose(
        allocate(problem).objective, allocate(problem, method="exact").objective
    )


def test_plateau_ties_and_zero_costs() -> None:
    levels = [0.0, 0.3, 0.6, 0.9]
    layers = [
        layer("a", levels, [0.0, 0.0, 0.0, 1.0], costs={"flops": [5.0, 5.0, 0.0, 0.0]}),
        layer("b", levels, [0.2, 0.2, 0.2, 0.2], costs={"flops": [5.0, 4.0, 3.0, 0.0]}),
        layer("c", levels, [0.0, 0.5, 0.4, 0.6], costs={"flops": [5.0, 4.0, 3.0, 0.0]}),
    ]
    for limit in (0.5, 3.0, 4.0, 8.0, 15.0):
        problem = AllocationProblem(layers, {"flops": limit})
        result = allocate(problem, method="exact")
        np.testing.assert_allclose(result.objective, brute_force(problem), atol=1e-12)


def test_time_limit_returns_best_plan() -> None:
    problem = realistic_problem(3, 400, 101)
    result = allocate(problem, method="exact", time_limit=1e-6)
    assert result.status is Status.TIME_LIMIT
    assert result.usage["params"] <= problem.budget["params"] * (1 + 1e-9)
    assert result.lower_bound <= result.objective
    assert "time_limit" in result.message


@pytest.mark.parametrize("resources", [1, 3])
def test_state_limit_falls_back_to_milp(resources: int) -> None:
    problem = realistic_problem(1, 80, 51, resources=resources)
    result = allocate(problem, method="exact", max_states=10)
    assert result.status is Status.OPTIMAL
    assert "MILP" in result.message
    assert result.gap <= 1e-9
    np.testing.assert_allclose(
        result.objective, allocate(problem, method="milp").objective, rtol=1e-9
    )


def test_jointly_infeasible_budgets_are_proven() -> None:
    layers = [
        layer("a", [0.0, 0.9], [0.0, 1.0], costs={"flops": [1.0, 50.0]}),
        layer("b", [0.0, 0.9], [0.0, 1.0], costs={"flops": [1.0, 50.0]}),
    ]
    result = allocate(AllocationProblem(layers, {"params": 30, "flops": 50}), method="exact")
    assert result.status is Status.INFEASIBLE
    assert "flops >= 2" in result.message


@pytest.mark.parametrize("rounds", [1, 6])
def test_surrogate_dual_bound_and_plan_are_valid(rounds: int) -> None:
    problem = realistic_problem(8, 40, 21, resources=3, tightness=0.3)
    optimum = allocate(problem, method="milp").objective
    d = dense(validate_problem(problem))
    dual = solve_dual(d)
    assert dual.choice is not None
    start = Incumbent(dual.choice, d.objective(dual.choice))
    inc, bound = surrogate_dual(d, dual.mu, start, dual.bound, math.inf, 10**6, rounds=rounds)
    assert dual.bound <= bound <= optimum * (1 + 1e-9)
    assert d.fits(inc.choice)
    assert optimum * (1 - 1e-9) <= inc.loss <= start.loss
    np.testing.assert_allclose(inc.loss, d.objective(inc.choice), rtol=1e-12)


@pytest.mark.parametrize("resources", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_enumerated_core_equals_state_search(seed: int, resources: int) -> None:
    problem = realistic_problem(10 + seed, 30, 21, resources=resources, tightness=0.35)
    d = dense(validate_problem(problem))
    dual = solve_dual(d)
    assert dual.choice is not None
    start = fill(d, dual.choice)
    st = setup(d, dual.mu, dual.bound)
    inc = Incumbent(start, d.objective(start))
    quick = enumerate_core(d, st, inc, 10**6, block=int(8 ** (seed % 3 + 1)))
    assert quick is not None
    slow = search(d, st, inc, math.inf, 10**7)
    np.testing.assert_allclose(quick.loss, slow.loss, rtol=1e-12)
    np.testing.assert_allclose(quick.loss, d.objective(quick.choice), rtol=1e-12)
    assert d.fits(quick.choice)


def test_enumerated_core_gives_up_beyond_max_states() -> None:
    problem = realistic_problem(4, 60, 31, resources=3)
    d = dense(validate_problem(problem))
    dual = solve_dual(d)
    assert dual.choice is not None
    st = setup(d, dual.mu, dual.bound)
    start = fill(d, dual.choice)
    assert enumerate_core(d, st, Incumbent(start, d.objective(start)), 1) is None


@pytest.mark.parametrize(
    ("resources", "max_states", "phases"),
    [(1, 10**6, {"bound", "search"}), (3, 10, {"bound", "milp"})],
    ids=["core", "milp_fallback"],
)
def test_progress_phases(resources: int, max_states: int, phases: set[str]) -> None:
    problem = realistic_problem(1, 80, 51, resources=resources)
    seen: list[Progress] = []
    result = allocate(problem, method="exact", max_states=max_states, progress=seen.append)
    assert phases <= {event.phase for event in seen}
    bound = next(event for event in seen if event.phase == "bound")
    assert bound.lower_bound <= result.objective * (1 + 1e-9) <= bound.objective * (1 + 1e-9)
    for event in seen:
        assert event.lower_bound <= result.objective * (1 + 1e-9)
        assert event.objective >= result.objective * (1 - 1e-9)


def test_search_whose_partial_plans_are_all_pruned_keeps_the_incumbent() -> None:
    """Regression: a profile from `refine` left the enumeration with no partial plan at all."""
    data = json.loads((Path(__file__).parent / "data" / "exact_empty_join.json").read_text())
    layers = [LayerProfile(**layer) for layer in data["layers"]]
    problem = AllocationProblem(layers, data["budget"])
    got, want = allocate(problem, method="exact"), allocate(problem, method="milp")
    assert got.status is Status.OPTIMAL
    np.testing.assert_allclose(got.objective, want.objective, rtol=1e-9)
    assert got.usage["params"] <= data["budget"]["params"]


@pytest.mark.parametrize("resources", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_local_search_keeps_every_budget_and_never_worsens(seed: int, resources: int) -> None:
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, 30, 12, resources=resources, tightness=0.3 + 0.1 * seed)
    d = dense(validate_problem(problem))
    dual = solve_dual(d)
    assert dual.choice is not None
    reduced = setup(d, dual.mu, dual.bound).reduced
    for start in (dual.choice, fill(d, dual.choice)):
        better = improve(d, reduced, start, width=50)
        assert d.fits(better)
        assert d.objective(better) <= d.objective(start)


@pytest.mark.parametrize("with_start", [True, False])
@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_highspy_path_equals_scipy_path(seed: int, resources: int, with_start: bool) -> None:
    pytest.importorskip("highspy")
    inst = validate_problem(realistic_problem(seed, 25, 21, resources=resources))
    d = dense(inst)
    dual = solve_dual(d)
    assert dual.choice is not None
    start = fill(d, dual.choice) if with_start else None
    fast = solve_restricted(inst, start=start, time_limit=None)
    reference = _highs.solve_zero_one(zero_one(inst), backend="scipy")
    assert fast.status is Status.OPTIMAL and fast.choice is not None
    assert reference.status is Status.OPTIMAL and reference.chosen is not None
    assert inst.fits(fast.choice)
    np.testing.assert_allclose(
        inst.objective(fast.choice),
        inst.objective(inst.columns.choice(reference.chosen)),
        rtol=1e-9,
    )


def test_restricted_solve_falls_back_to_scipy_without_highspy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    problem = realistic_problem(3, 20, 11, resources=3)
    with_highspy = allocate(problem, method="milp")
    monkeypatch.setattr(_highs, "has_highspy", lambda: False)
    inst = validate_problem(problem)
    sol = solve_restricted(inst, start=None, time_limit=None)
    assert sol.status is Status.OPTIMAL and sol.choice is not None
    result = allocate(problem, method="exact", max_states=1)
    np.testing.assert_allclose(inst.objective(sol.choice), result.objective, rtol=1e-9)
    without = allocate(problem, method="milp")
    assert without.status is Status.OPTIMAL
    np.testing.assert_allclose(without.objective, with_highspy.objective, rtol=1e-9)


@pytest.mark.parametrize("resources", [2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_several_budgets_equal_brute_force(seed: int, resources: int) -> None:
    rng = np.random.default_rng(100 + seed)
    problem = random_problem(rng, 6, 5, resources=resources, tightness=0.25 + 0.1 * seed)
    result = allocate(problem, method="exact")
    best = brute_force(problem)
    if math.isinf(best):
        assert result.status is Status.INFEASIBLE
        return
    assert result.status is Status.OPTIMAL
    np.testing.assert_allclose(result.objective, best, rtol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_reported_objectives_are_plans_within_every_budget(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: searches of the one-budget surrogate reported plans over the real budgets."""
    monkeypatch.setattr(_core_search, "REPORT_EVERY", 0.0)  # report at every tick
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.95, 10)
    layers = [
        LayerProfile(
            f"l{i}",
            levels,
            rng.uniform(0, 100, 10),
            1000,
            costs={f"r{j}": rng.uniform(0, 100, 10) for j in range(3)},
        )
        for i in range(60)
    ]
    problem = AllocationProblem(layers, {f"r{j}": 60 * 30.0 for j in range(3)})
    seen: list[Progress] = []
    result = allocate(problem, method="exact", progress=seen.append)
    assert result.status is Status.OPTIMAL
    assert len(seen) >= 2
    for event in seen:
        assert event.objective >= result.objective * (1 - 1e-12)
        assert event.lower_bound <= result.objective * (1 + 1e-12)


@pytest.mark.parametrize("resources", [1, 3])
@pytest.mark.parametrize("seed", [0, 1])
def test_restricted_cutoff_finds_every_plan_below_it(seed: int, resources: int) -> None:
    pytest.importorskip("highspy")
    inst = validate_problem(realistic_problem(seed, 25, 21, resources=resources))
    optimum = solve_milp(inst, time_limit=None, seed=0)
    assert optimum.choice is not None
    best = inst.objective(optimum.choice)
    below = solve_restricted(inst, start=None, time_limit=None, cutoff=best * (1 - 1e-6))
    assert below.status is not Status.TIME_LIMIT
    assert below.choice is None or inst.objective(below.choice) >= best * (1 - 1e-9)
    above = solve_restricted(inst, start=None, time_limit=None, cutoff=best * (1 + 1e-6))
    assert above.status is Status.OPTIMAL and above.choice is not None
    np.testing.assert_allclose(inst.objective(above.choice), best, rtol=1e-9)


@pytest.mark.parametrize(("first", "growth"), [(1.0, 1.5), (1e4, 1.1), (2.0, 8.0)])
@pytest.mark.parametrize("resources", [2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_deepening_schedules_equal_brute_force(
    monkeypatch: pytest.MonkeyPatch, seed: int, resources: int, first: float, growth: float
) -> None:
    monkeypatch.setattr(_exact, "FIRST_SHARE", first)
    monkeypatch.setattr(_exact, "GROWTH", growth)
    rng = np.random.default_rng(300 + seed)
    problem = random_problem(rng, 6, 5, resources=resources, tightness=0.3 + 0.1 * seed)
    result = allocate(problem, method="exact")
    expected = brute_force(problem)
    assert result.status is Status.OPTIMAL
    np.testing.assert_allclose(result.objective, expected, rtol=1e-9)
    np.testing.assert_allclose(result.lower_bound, expected, rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_deepening_equals_milp_on_medium_three_budgets(seed: int) -> None:
    problem = realistic_problem(seed, 120, 41, resources=3, tightness=0.35)
    exact = allocate(problem, method="exact")
    milp = allocate(problem, method="milp")
    assert exact.status is Status.OPTIMAL and exact.gap <= 1e-9
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9)
