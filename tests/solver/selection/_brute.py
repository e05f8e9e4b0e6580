"""Brute force and random instances for the selection tests."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from pruneplan.solver import Status
from pruneplan.solver.selection import ItemGroup, SelectionProblem

RTOL = 1e-9


def allowed(group: ItemGroup) -> list[int]:
    n = len(np.asarray(group.values))
    hi = n if group.max_keep is None else group.max_keep
    return [k for k in range(group.min_keep, hi + 1) if k % group.round_to == 0 or k == n]


def _options(group: ItemGroup) -> list[tuple[np.ndarray, dict[str, float]]]:
    """Every keep mask the group may take, with its cost per resource."""
    values = np.asarray(group.values, dtype=float)
    n = values.size
    out = []
    counts = allowed(group)
    if group.cost_by_count:
        order = np.argsort(-values, kind="stable")
        for k in counts:
            mask = np.zeros(n, dtype=bool)
            mask[order[:k]] = True
            cost = {r: float(np.asarray(t, dtype=float)[k]) for r, t in group.cost_by_count.items()}
            for r, c in (group.costs or {}).items():
                cost[r] = float(np.asarray(c, dtype=float)[mask].sum())
            out.append((mask, cost))
        return out
    for bits in itertools.product([False, True], repeat=n):
        mask = np.array(bits, dtype=bool)
        if int(mask.sum()) in counts:
            cost = {
                r: float(np.asarray(c, dtype=float)[mask].sum())
                for r, c in (group.costs or {}).items()
            }
            out.append((mask, cost))
    return out


def brute_force(problem: SelectionProblem) -> float:
    """Smallest removed value of a selection within every budget (``inf`` if none)."""
    options = [_options(g) for g in problem.groups]
    best = math.inf
    for combo in itertools.product(*options):
        usage: dict[str, float] = {}
        for _, cost in combo:
            for r, c in cost.items():
                usage[r] = usage.get(r, 0.0) + c
        if any(usage.get(r, 0.0) > b * (1 + 1e-12) for r, b in problem.budget.items()):
            continue
        removed = sum(
            float(np.asarray(g.values, dtype=float)[~mask].sum())
            for g, (mask, _) in zip(problem.groups, combo, strict=True)
        )
        best = min(best, removed)
    return best


def random_problem(
    rng: np.random.Generator,
    *,
    n_groups: int = 3,
    max_items: int = 4,
    resources: tuple[str, ...] = ("flops",),
    tables: bool = False,
    side: bool = True,
    tightness: float = 0.5,
    negative: bool = True,
) -> SelectionProblem:
    """A tiny random problem (brute-forceable); budgets a fraction of the full cost."""
    groups = []
    full = dict.fromkeys(resources, 0.0)
    for g in range(n_groups):
        n = int(rng.integers(1, max_items + 1))
        values = rng.normal(1.0, 1.0, n) if negative else rng.uniform(0.0, 2.0, n)
        costs = {r: np.round(rng.uniform(0.0, 3.0, n), 2) for r in resources}
        table = None
        if tables and rng.random() < 0.6:
            r0 = resources[0]
            table = {r0: np.round(rng.uniform(0.0, 3.0, n + 1).cumsum() * rng.uniform(0.5, 1.0), 2)}
            del costs[r0]
        min_keep = int(rng.integers(0, 2)) if side else 1
        max_keep = (
            int(rng.integers(max(min_keep, 1), n + 1)) if side and rng.random() < 0.3 else None
        )
        round_to = int(rng.integers(1, 3)) if side else 1
        group = ItemGroup(
            f"g{g}",
            values,
            costs=costs,
            cost_by_count=table,
            min_keep=min(min_keep, n),
            max_keep=max_keep,
            round_to=round_to,
        )
        if not allowed(group):
            group = ItemGroup(f"g{g}", values, costs=costs, cost_by_count=table)
        groups.append(group)
        for r in resources:
            if table and r in table:
                full[r] += float(np.max(table[r]))
            else:
                full[r] += float(np.sum(costs[r]))
    budget = {r: max(full[r] * tightness, 0.5) for r in resources}
    return SelectionProblem(groups, budget)


def assert_exact(problem: SelectionProblem, result: Any, seed: int) -> None:
    """``result`` (of ``exact``) is the brute-force optimum: or ``INFEASIBLE`` where none fits;
    a valid bound, every budget and every group's allowed counts kept."""
    best = brute_force(problem)
    if math.isinf(best):
        assert result.status is Status.INFEASIBLE, seed
        return
    assert result.status is Status.OPTIMAL, seed
    np.testing.assert_allclose(result.objective, best, rtol=1e-9, atol=1e-9)
    assert result.lower_bound <= best + 1e-9 * max(1.0, abs(best)), seed
    for resource, limit in problem.budget.items():
        assert result.usage[resource] <= limit * (1 + 1e-9), (seed, resource)
    for group in problem.groups:
        assert result.groups[group.name].count in allowed(group), seed
