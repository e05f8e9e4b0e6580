"""The exact plan spends budget that costs no value (zero-importance items, flat count tables)."""

from __future__ import annotations

import numpy as np
import pytest

from pruneplan.solver.selection import ItemGroup, SelectionProblem, select

from ._brute import _options, allowed, assert_exact, random_problem


def _with_zeros(problem: SelectionProblem, rng: np.random.Generator) -> SelectionProblem:
    """The same problem with about 40% of the values set to 0 (dead channels)."""
    groups = []
    for group in problem.groups:
        values = np.asarray(group.values, dtype=float).copy()
        values[rng.random(values.size) < 0.4] = 0.0
        groups.append(
            ItemGroup(
                group.name,
                values,
                costs=group.costs,
                cost_by_count=group.cost_by_count,
                min_keep=group.min_keep,
                max_keep=group.max_keep,
                round_to=group.round_to,
            )
        )
    return SelectionProblem(groups, problem.budget)


@pytest.mark.parametrize("resources", [("flops",), ("flops", "latency_ms")], ids=["1r", "2r"])
@pytest.mark.parametrize("tables", [False, True], ids=["items", "tables"])
@pytest.mark.parametrize("seed", range(40))
def test_exact_stays_the_brute_force_optimum(seed: int, tables: bool, resources: tuple) -> None:
    rng = np.random.default_rng(seed)
    problem = _with_zeros(
        random_problem(rng, resources=resources, tables=tables, negative=seed % 2 == 0), rng
    )
    assert_exact(problem, select(problem, method="exact"), seed)


@pytest.mark.parametrize("tables", [False, True], ids=["items", "tables"])
@pytest.mark.parametrize("seed", range(40))
def test_no_group_can_keep_more_for_free(seed: int, tables: bool) -> None:
    """One resource, no rounding: with the others as they are, no group has an option that
    keeps more items, removes no more value and fits (brute force over its options)."""
    rng = np.random.default_rng(seed)
    problem = _with_zeros(
        random_problem(rng, tables=tables, side=False, tightness=0.6, negative=False), rng
    )
    result = select(problem, method="exact")
    if result.groups is None or not result.groups:
        return
    (resource,) = problem.budget
    slack = problem.budget[resource] - result.usage[resource]
    for group in problem.groups:
        values = np.asarray(group.values, dtype=float)
        mine = result.groups[group.name].mask
        by_count = {int(m.sum()): c for m, c in _options(group)}
        mine_cost = (
            by_count[int(mine.sum())][resource]
            if group.cost_by_count
            else float(np.asarray(group.costs[resource])[mine].sum())
        )
        for mask, cost in _options(group):
            if int(mask.sum()) <= int(mine.sum()) or mask.sum() not in allowed(group):
                continue
            if values[~mask].sum() > values[~mine].sum() + 1e-12:
                continue
            assert cost[resource] - mine_cost > slack + 1e-12, (seed, group.name)


def test_a_zero_tail_is_kept_up_to_the_budget() -> None:
    """Latency staircases over channels whose last quarter has importance 0: the plan of the
    same removed value that spends the budget is the one returned (it used to stop 6% short)."""
    rng = np.random.default_rng(0)
    groups = []
    for g in range(6):
        values = np.sort(rng.uniform(0.1, 1.0, 64))[::-1].copy()
        values[48:] = 0.0
        steps = np.repeat(rng.uniform(0.5, 1.5, 4), 16).cumsum()
        groups.append(ItemGroup(f"conv{g}", values, cost_by_count={"latency_ms": [0, *steps]}))
    dense = sum(float(np.asarray(g.cost_by_count["latency_ms"])[-1]) for g in groups)
    problem = SelectionProblem(groups, {"latency_ms": 0.6 * dense})
    exact = select(problem, method="exact")
    milp = select(problem, method="milp")
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9, atol=1e-12)
    budget = problem.budget["latency_ms"]
    assert budget * 0.99 <= exact.usage["latency_ms"] <= budget
