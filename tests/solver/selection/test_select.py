"""Selection: every method against brute force on tiny instances, invariants, the two routes."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pruneplan.solver import Status
from pruneplan.solver import selection as sel
from pruneplan.solver.selection import ItemGroup, SelectionProblem, _counts, _knapsack01, select
from pruneplan.solver.selection._validate import validate_problem

from ._brute import allowed, brute_force, random_problem

EXACT = ("exact", "milp")
METHODS = tuple(sel.METHODS)


def _check_invariants(problem: SelectionProblem, result: sel.SelectionResult) -> None:
    for group in problem.groups:
        chosen = result.groups[group.name]
        n = len(np.asarray(group.values))
        assert chosen.mask.shape == (n,)
        np.testing.assert_array_equal(np.flatnonzero(chosen.mask), chosen.kept)
        assert chosen.count == chosen.kept.size
        assert chosen.count in allowed(group)
        if group.cost_by_count:
            order = np.argsort(-np.asarray(group.values, dtype=float), kind="stable")
            assert set(order[: chosen.count].tolist()) == set(chosen.kept.tolist())
    for resource, limit in problem.budget.items():
        assert result.usage[resource] <= limit * (1 + 1e-9)
    assert result.lower_bound <= result.objective + 1e-9 * max(1.0, abs(result.objective))


def _cases(n: int) -> list[tuple[int, dict[str, object]]]:
    out = []
    for seed in range(n):
        out.append((seed, {
            "resources": ("flops",) if seed % 3 else ("flops", "params"),
            "tables": seed % 4 == 0,
            "side": seed % 2 == 0,
            "tightness": 0.15 + 0.7 * ((seed * 37) % 100) / 100,
        }))  # fmt: skip
    return out


@pytest.mark.parametrize("method", METHODS)
def test_every_method_against_brute_force(method: str) -> None:
    for seed, kwargs in _cases(40):
        problem = random_problem(np.random.default_rng(seed), **kwargs)  # type: ignore[arg-type]
        best = brute_force(problem)
        result = select(problem, method=method)
        if math.isinf(best):
            assert result.status is Status.INFEASIBLE if method in EXACT else True
            continue
        assert result.status is not Status.INFEASIBLE or method not in EXACT, seed
        if result.status is Status.INFEASIBLE:
            continue  # a baseline may find nothing within the budget
        _check_invariants(problem, result)
        assert result.lower_bound <= best + 1e-9 * max(1.0, abs(best)), seed
        if method in EXACT:
            assert result.status is Status.OPTIMAL, seed
            np.testing.assert_allclose(result.objective, best, rtol=1e-9, atol=1e-9)
            assert result.gap <= 1e-9
        else:
            assert result.objective >= best - 1e-9 * max(1.0, abs(best)), seed


def test_counts_route_equals_items_route_on_equal_costs() -> None:
    for seed in range(25):
        rng = np.random.default_rng(100 + seed)
        groups = []
        for g in range(int(rng.integers(2, 6))):
            n = int(rng.integers(1, 30))
            unit = {"flops": float(rng.uniform(0.5, 3.0)), "params": float(rng.uniform(1, 2))}
            groups.append(ItemGroup(
                f"g{g}", rng.normal(1, 1, n), costs={r: np.full(n, u) for r, u in unit.items()},
                min_keep=int(rng.integers(0, 2)), round_to=int(rng.integers(1, 4)),
            ))  # fmt: skip
        full = sum(float(np.sum(g.costs["flops"])) for g in groups if g.costs)
        problem = SelectionProblem(groups, {"flops": 0.5 * full})
        inst = validate_problem(problem)
        assert _counts.countable(inst)
        via_counts = _counts.solve_counts(inst)
        via_items = _knapsack01.solve_exact01(inst)
        assert via_counts.mask is not None and via_items.mask is not None
        np.testing.assert_allclose(
            inst.objective(via_counts.mask), inst.objective(via_items.mask), rtol=1e-9, atol=1e-9
        )


def test_core_search_matches_milp_on_a_medium_instance() -> None:
    rng = np.random.default_rng(7)
    groups = [
        ItemGroup(f"g{g}", rng.lognormal(0, 1, 60), costs={"flops": rng.uniform(0.5, 1.5, 60)})
        for g in range(20)
    ]
    problem = SelectionProblem(groups, {"flops": 500.0})
    exact, milp = select(problem), select(problem, method="milp")
    assert exact.status is Status.OPTIMAL and milp.status is Status.OPTIMAL
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9)
    assert exact.usage["flops"] <= 500.0


def test_infeasible_budget_reports_smallest_totals() -> None:
    groups = [
        ItemGroup("a", [1.0, 2.0], costs={"flops": [3.0, 5.0]}, min_keep=1),
        ItemGroup("b", [1.0], cost_by_count={"flops": [0.0, 4.0]}, min_keep=1),
    ]
    result = select(SelectionProblem(groups, {"flops": 6.0}))
    assert result.status is Status.INFEASIBLE
    np.testing.assert_allclose(result.usage["flops"], 7.0)
    assert "flops >= 7" in result.message and result.groups == {}


def test_round_to_keeps_multiples_or_full_width() -> None:
    rng = np.random.default_rng(3)
    groups = [ItemGroup(f"g{g}", rng.uniform(0, 1, 21), costs={"flops": rng.uniform(1, 2, 21)},
                        round_to=8) for g in range(4)]  # fmt: skip
    for method in METHODS:
        result = select(SelectionProblem(groups, {"flops": 60.0}), method=method)
        assert all(c % 8 == 0 or c == 21 for c in result.count.values()), method
        assert result.usage["flops"] <= 60.0 * (1 + 1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), tightness=st.floats(0.1, 0.95))
def test_exact_never_worse_than_a_baseline(seed: int, tightness: float) -> None:
    problem = random_problem(np.random.default_rng(seed), n_groups=4, max_items=5,
                             tightness=tightness, tables=seed % 2 == 0)  # fmt: skip
    exact = select(problem)
    if exact.status is Status.INFEASIBLE:
        return
    _check_invariants(problem, exact)
    for method in ("greedy", "uniform", "halp", "global_threshold", "lp"):
        other = select(problem, method=method)
        if other.status is not Status.INFEASIBLE:
            _check_invariants(problem, other)
            assert exact.objective <= other.objective + 1e-9 * max(1.0, abs(other.objective))
            assert other.lower_bound <= exact.objective + 1e-9 * max(1.0, abs(exact.objective))


def test_docstring_example_runs() -> None:
    from pruneplan.solver.selection import _api

    failures, tried = doctest.testmod(_api, verbose=False)
    assert tried >= 1 and failures == 0


def test_public_surface() -> None:
    assert sorted(sel.__all__) == sorted(
        ["METHODS", "GroupSelection", "ItemGroup", "SelectionProblem", "SelectionResult", "select"]
    )
    assert set(sel.METHODS) == {
        "exact", "milp", "lp", "global_threshold", "greedy", "uniform", "halp"
    }  # fmt: skip
