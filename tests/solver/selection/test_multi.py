"""Several resources: `exact` against brute force and HiGHS, the sifted multipliers, the state
search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pruneplan.solver import Status
from pruneplan.solver.selection import (
    ItemGroup,
    SelectionProblem,
    _knapsack01,
    _milp,
    _multi,
    select,
)
from pruneplan.solver.selection._validate import validate_problem

from ._brute import assert_exact, brute_force, random_problem

RESOURCES = ("flops", "params", "latency")


def _fits(problem: SelectionProblem, usage: dict[str, float]) -> None:
    for resource, limit in problem.budget.items():
        assert usage[resource] <= limit * (1 + 1e-9), resource


@pytest.mark.parametrize("side", [False, True], ids=["free", "side"])
@pytest.mark.parametrize("n_res", [2, 3])
def test_exact_equals_brute_force(n_res: int, side: bool) -> None:
    for seed in range(30):
        rng = np.random.default_rng(1000 * n_res + seed)
        problem = random_problem(
            rng, n_groups=3, max_items=4, resources=RESOURCES[:n_res], side=side,
            tightness=float(rng.uniform(0.2, 0.8)),
        )  # fmt: skip
        assert_exact(problem, select(problem, method="exact"), seed)


def _medium(seed: int, n_groups: int, size: int, side: bool) -> SelectionProblem:
    rng = np.random.default_rng(seed)
    groups, total = [], np.zeros(3)
    for g in range(n_groups):
        costs = {r: rng.uniform(1.0, 10.0) * rng.uniform(0.5, 1.5, size) for r in RESOURCES}
        total += [costs[r].sum() for r in RESOURCES]
        kwargs = {"min_keep": 3, "max_keep": size - 2, "round_to": 2} if side and g % 2 else {}
        groups.append(ItemGroup(f"g{g}", rng.lognormal(0, 1, size), costs=costs, **kwargs))
    return SelectionProblem(groups, dict(zip(RESOURCES, 0.5 * total, strict=True)))


@pytest.mark.parametrize("side", [False, True], ids=["free", "side"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_matches_milp_on_medium_instances(seed: int, side: bool) -> None:
    problem = _medium(seed, 4, 12, side)
    exact, milp = select(problem), select(problem, method="milp")
    assert exact.status is Status.OPTIMAL and milp.status is Status.OPTIMAL
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9)
    _fits(problem, exact.usage)


def test_state_search_alone_is_exact_without_side_constraints() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        groups = [ItemGroup(f"g{g}", rng.lognormal(0, 1, 4), min_keep=0,
                            costs={r: rng.uniform(0.5, 3.0, 4) for r in RESOURCES[:2]})
                  for g in range(3)]  # fmt: skip
        budget = {r: float(rng.uniform(2.0, 10.0)) for r in RESOURCES[:2]}
        problem = SelectionProblem(groups, budget)
        inst = validate_problem(problem)
        lam = _multi.sifting_multipliers(inst)
        none = np.zeros(inst.n_items, dtype=bool)
        core = np.arange(inst.n_items)
        found = _multi.state_search(inst, lam, none, core, -math.inf, 0.0, math.inf)
        assert found.complete and found.mask is not None
        assert inst.fits(found.mask, 1e-12)
        np.testing.assert_allclose(inst.objective(found.mask), brute_force(problem), atol=1e-9)


def test_sifted_multipliers_give_the_lp_bound() -> None:
    problem = _medium(5, 60, 200, False)  # 12,000 items: the sample and band route
    inst = validate_problem(problem)
    assert inst.n_items > 2 * _multi.SAMPLE
    sifted = _knapsack01.lagrangian(inst, _multi.sifting_multipliers(inst))
    relaxed = inst.total_value - _milp.solve_lp_relaxation(inst)[0].lower_bound
    # the LP keeps min_keep rows, the Lagrangian bound relaxes them: never below the LP
    assert sifted >= relaxed - 1e-9 * relaxed
    np.testing.assert_allclose(sifted, relaxed, rtol=1e-9)


def test_time_limit_returns_a_plan_and_a_valid_bound() -> None:
    problem = _medium(3, 50, 200, False)
    result = select(problem, time_limit=0.5)
    assert result.status in (Status.TIME_LIMIT, Status.OPTIMAL)
    assert result.lower_bound <= result.objective
    assert math.isfinite(result.lower_bound)
    _fits(problem, result.usage)
