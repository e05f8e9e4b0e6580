"""`solve_arrays` (the exact method on dense arrays) and `compact` (dominated options out)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pruneplan.solver import Status
from pruneplan.solver.allocation._dense import Dense, compact, from_arrays
from pruneplan.solver.allocation._exact import solve_arrays


def _random(seed: int, resources: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A tiny multiple-choice knapsack with ties, dominated options and options cut away."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 5)), int(rng.integers(1, 6))
    loss = np.round(rng.uniform(0, 3, (n, k)), 1)
    if seed % 2:
        loss = np.sort(loss, axis=1)  # ascending rows take the path without a sort
    cost = np.round(rng.uniform(0, 3, (resources, n, k)), 1)
    allowed = rng.random((n, k)) < 0.8
    allowed[np.arange(n), rng.integers(0, k, n)] = True
    budget = np.maximum(0.5 * cost.max(axis=2).sum(axis=1), 0.1)
    return loss, cost, allowed, budget


def _brute(loss: np.ndarray, cost: np.ndarray, allowed: np.ndarray, budget: np.ndarray) -> float:
    best = math.inf
    options = [np.flatnonzero(row) for row in allowed]
    for combo in itertools.product(*options):
        rows = np.arange(len(combo))
        if np.all(cost[:, rows, combo].sum(axis=1) <= budget * (1 + 1e-12)):
            best = min(best, float(loss[rows, combo].sum()))
    return best


@pytest.mark.parametrize("resources", [1, 2])
def test_solve_arrays_equals_brute_force(resources: int) -> None:
    for seed in range(60):
        loss, cost, allowed, budget = _random(seed, resources)
        best = _brute(loss, cost, allowed, budget)
        sol = solve_arrays(loss, cost, allowed, budget)
        if math.isinf(best):
            assert sol.choice is None, seed
            continue
        assert sol.status is Status.OPTIMAL and sol.choice is not None, seed
        rows = np.arange(loss.shape[0])
        assert allowed[rows, sol.choice].all(), seed
        assert np.all(cost[:, rows, sol.choice].sum(axis=1) <= budget * (1 + 1e-9)), seed
        np.testing.assert_allclose(loss[rows, sol.choice].sum(), best, rtol=1e-9, atol=1e-12)
        assert sol.lower_bound <= best + 1e-9


def test_compact_keeps_an_undominated_option_for_every_dropped_one() -> None:
    for seed in range(60):
        loss, cost, allowed, budget = _random(seed, 1)
        d = from_arrays(loss, cost, allowed, budget)
        sub, index = compact(d)
        if index is None:
            continue
        for i in range(loss.shape[0]):
            real = np.isfinite(sub.loss[i])
            picked = index[i, real]
            np.testing.assert_array_equal(sub.loss[i, real], d.loss[i, picked])
            np.testing.assert_array_equal(sub.cost[0, i, real], d.cost[0, i, picked])
            assert sub.loss.shape[1] < loss.shape[1]
            for j in np.flatnonzero(allowed[i]):
                cheaper = d.cost[0, i, picked] <= cost[0, i, j]
                assert (cheaper & (d.loss[i, picked] <= d.loss[i, j])).any(), (seed, i, j)
            # padding is never chosen and costs the item's most
            assert np.all(sub.cost[0, i, ~real] >= sub.cost[0, i, real].max())


def test_compact_leaves_several_budgets_alone() -> None:
    loss, cost, allowed, budget = _random(3, 2)
    d = from_arrays(loss, cost, allowed, budget)
    sub, index = compact(d)
    assert index is None and sub is d


def test_staircase_loses_its_dominated_counts() -> None:
    """A cost staircase with noise against an ascending loss: about one option per step."""
    rng = np.random.default_rng(0)
    cost = (np.ceil(np.arange(256)[::-1] / 16) + np.abs(rng.normal(0, 0.05, 256)))[None, None]
    loss = np.arange(256, dtype=float)[None]
    sub, index = compact(Dense(loss, cost, np.array([8.0])))
    assert index is not None
    assert 16 <= np.isfinite(sub.loss).sum() <= 16 * 8
    kept = index[0, np.isfinite(sub.loss[0])]
    assert np.all(np.diff(cost[0, 0, kept]) < 0)  # each kept option cheaper than all before
