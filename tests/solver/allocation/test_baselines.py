"""Baselines: each reproduces its paper's rule on hand-computed instances and never overspends."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from pruneplan.solver import AllocationProblem, AllocationResult, LayerProfile, Status, allocate
from pruneplan.solver.allocation._baselines import lamp_scores
from tests._factories import allowed_levels, cost_at

from ._brute import brute_force

BASELINES = ["uniform", "erk", "global_magnitude", "lamp", "random"]
GRID = np.linspace(0.0, 1.0, 101)


def _flat(
    name: str, size: int, levels: Sequence[float] | np.ndarray = GRID, **kw: object
) -> LayerProfile:
    levels = np.asarray(levels, dtype=float)
    return LayerProfile(name, levels, np.linspace(0.0, 1.0, levels.size), size, **kw)


def _solve(
    layers: Sequence[LayerProfile], budget: Mapping[str, float], method: str, **kw: object
) -> AllocationResult:
    return allocate(AllocationProblem(list(layers), dict(budget)), method=method, **kw)


def _sparsity(result: AllocationResult) -> list[float]:
    return [round(s, 10) for s in result.sparsity.values()]


# --------------------------------------------------------------------------------------------
# uniform


def test_uniform_picks_the_smallest_common_level_that_fits() -> None:
    levels = [0.0, 0.25, 0.5, 0.75, 0.9]
    layers = [_flat(n, s, levels) for n, s in (("a", 100), ("b", 200), ("c", 700))]
    result = _solve(layers, {"params": 400}, "uniform")  # 0.5 would keep 500
    assert result.status is Status.FEASIBLE
    assert _sparsity(result) == [0.75, 0.75, 0.75]
    np.testing.assert_allclose(result.usage["params"], 250.0)


def test_uniform_with_different_grids_and_bounds() -> None:
    layers = [
        _flat("a", 100, [0.0, 0.3, 0.6, 0.9]),
        _flat("b", 100, [0.0, 0.5, 1.0], max_sparsity=0.5),
        _flat("c", 100, [0.0, 0.2, 0.4, 0.8], min_sparsity=0.8),
    ]
    # target 0.3 keeps 70 + 50 + 20 = 140 > 130; target 0.4 keeps 40 + 50 + 20 = 110.
    assert _sparsity(_solve(layers, {"params": 130}, "uniform")) == [0.6, 0.5, 0.8]


def test_uniform_respects_every_resource_and_groups() -> None:
    levels = [0.0, 0.5, 0.75]
    flops = {"flops": [40.0, 20.0, 10.0]}
    layers = [
        _flat("a", 100, levels, costs=flops, group="g"),
        _flat("b", 100, levels, costs=flops, group="g"),
        _flat("c", 100, levels, costs={"flops": [10.0, 5.0, 2.5]}),
    ]
    # params alone allow 0.5 (150 <= 160); flops at 0.5 are 45 > 30, so 0.75 it is.
    result = _solve(layers, {"params": 160, "flops": 30}, "uniform")
    assert _sparsity(result) == [0.75, 0.75, 0.75]
    assert result.usage["flops"] <= 30


# --------------------------------------------------------------------------------------------
# erk


def test_erk_densities_follow_the_formula_snapped_up() -> None:
    # raw = sum(shape)/prod(shape): 0.2, 0.25, 0.52. With eps = 0.81 / 0.52 every layer's
    # density is min(1, eps * raw) snapped down to the grid: 0.31, 0.38, 0.81 (150 kept);
    # the next breakpoint (eps = 0.39 / 0.25) keeps 151.
    layers = [
        _flat("a", 100, shape=(10, 10)),
        _flat("b", 100, shape=(5, 20)),
        _flat("c", 100, shape=(2, 50)),
    ]
    result = _solve(layers, {"params": 150}, "erk")
    assert _sparsity(result) == [0.69, 0.62, 0.19]
    np.testing.assert_allclose(result.usage["params"], 150.0)


def test_erk_fixes_layers_dense_and_resolves() -> None:
    # RigL: eps (0.2 * 100 + 1.0 * 4) = 52 gives fc2 a density of 2.17 > 1, so fc2 is fixed
    # dense and eps is re-solved on fc1 alone: 4 + eps * 0.2 * 100 = 52, eps = 2.4, d = 0.48.
    layers = [_flat("fc1", 100, shape=(10, 10)), _flat("fc2", 4, shape=(2, 2))]
    result = _solve(layers, {"params": 52}, "erk")
    assert _sparsity(result) == [0.52, 0.0]


def test_erk_density_ratios_match_raw_ratios_on_a_fine_grid() -> None:
    fine = np.linspace(0.0, 1.0, 1001)
    shapes = [(64, 3, 3, 3), (128, 64, 3, 3), (256, 128, 3, 3), (10, 256)]
    layers = [_flat(f"l{i}", math.prod(s), fine, shape=s) for i, s in enumerate(shapes)]
    total = sum(math.prod(s) for s in shapes)
    result = _solve(layers, {"params": 0.1 * total}, "erk")
    density = 1.0 - np.array(list(result.sparsity.values()))
    raw = np.array([sum(s) / math.prod(s) for s in shapes])
    eps = density / raw
    # One eps for every layer that is not dense, up to the grid step (densities snap down).
    sparse = density < 1.0
    assert sparse.sum() >= 2
    # eps_i = d_i / r_i is the common eps snapped down by at most one grid step per layer.
    gap = eps[sparse].max() - eps[sparse]
    assert np.all(gap <= 1e-3 / raw[sparse] + 1e-12), gap
    assert result.usage["params"] <= 0.1 * total


# --------------------------------------------------------------------------------------------
# global_magnitude and lamp


def _magnitude_layers() -> list[LayerProfile]:
    levels, loss = [0.0, 0.5, 0.75], [0.0, 0.1, 0.2]
    return [
        LayerProfile("a", levels, loss, 100, magnitudes=[0.0, 0.1, 0.3]),
        LayerProfile("b", levels, loss, 100, magnitudes=[0.0, 0.05, 0.4]),
    ]


def test_global_magnitude_picks_the_threshold_level() -> None:
    # threshold 0.1 keeps 50 + 50 = 100 > 80; threshold 0.3 cuts a at 0.75 and b at 0.5.
    result = _solve(_magnitude_layers(), {"params": 80}, "global_magnitude")
    assert _sparsity(result) == [0.75, 0.5]
    assert "threshold = 0.3" in result.message


def test_lamp_scores_by_hand() -> None:
    # Between the cuts the weights are linear in rank: (0.5, 1) then (2, 3).
    levels = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(lamp_scores(levels, np.array([0.0, 1.0, 3.0]), 4), [0, 1 / 14, 1])
    # Above the last cut the slope continues: the survivors are 1.5 and 2.
    np.testing.assert_allclose(
        lamp_scores(np.array([0.0, 0.5]), np.array([0.0, 1.0]), 4), [0, 1 / (1 + 2.25 + 4)]
    )


def test_lamp_scores_equal_the_paper_with_one_level_per_weight() -> None:
    w = np.sort(np.abs(np.random.default_rng(3).normal(size=9)))
    paper = w**2 / np.cumsum((w**2)[::-1])[::-1]  # Lee et al., eq. (2)
    levels = np.arange(10) / 9
    scores = lamp_scores(levels, np.concatenate([[0.0], w]), 9)
    np.testing.assert_allclose(scores, np.concatenate([[0.0], paper]), rtol=1e-12)


def test_lamp_picks_the_threshold_level() -> None:
    # Scores a: [0, 0.00189, 0.0212], b: [0, 0.00024, 0.0180]: unlike magnitude, b goes first.
    result = _solve(_magnitude_layers(), {"params": 80}, "lamp")
    assert _sparsity(result) == [0.5, 0.75]


def _weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.sort(np.abs(rng.normal(scale=s, size=n))) for s, n in ((1.0, 12), (0.3, 20), (2.0, 8))
    ]


def _full_resolution(weights: list[np.ndarray]) -> list[LayerProfile]:
    return [
        LayerProfile(
            f"l{i}",
            np.arange(w.size + 1) / w.size,
            np.zeros(w.size + 1),
            w.size,
            magnitudes=np.concatenate([[0.0], w]),
        )
        for i, w in enumerate(weights)
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("method", ["global_magnitude", "lamp"])
def test_global_rules_reproduce_the_papers_on_weights(method: str, seed: int) -> None:
    weights = _weights(seed)
    if method == "lamp":  # score every weight, prune the lowest scores globally
        keys = [w**2 / np.cumsum((w**2)[::-1])[::-1] for w in weights]
    else:  # prune the smallest magnitudes globally
        keys = weights
    n_total = sum(w.size for w in weights)
    for n_pruned in (5, 17, 30):
        cut = np.sort(np.concatenate(keys))[n_pruned - 1]
        expected = [float(np.sum(k <= cut)) / k.size for k in keys]
        result = _solve(_full_resolution(weights), {"params": n_total - n_pruned}, method)
        np.testing.assert_allclose(list(result.sparsity.values()), expected)


# --------------------------------------------------------------------------------------------
# random


def test_random_is_reproducible_by_seed() -> None:
    layers, budget = _instance(np.random.default_rng(7))
    first = _solve(layers, budget, "random", seed=5, n_samples=50)
    again = _solve(layers, budget, "random", seed=5, n_samples=50)
    assert dict(first.level_index) == dict(again.level_index)
    results = {
        tuple(_solve(layers, budget, "random", seed=s, n_samples=3).level_index.values())
        for s in range(8)
    }
    assert len(results) > 1


def test_random_keeps_the_best_sample() -> None:
    layers, budget = _instance(np.random.default_rng(8))
    few = _solve(layers, budget, "random", seed=0, n_samples=5)
    many = _solve(layers, budget, "random", seed=0, n_samples=500)
    assert many.objective <= few.objective
    assert _brute_force(layers, budget) <= many.objective + 1e-12


def test_random_stops_at_the_time_limit_with_a_plan() -> None:
    layers, budget = _instance(np.random.default_rng(9))
    result = _solve(layers, budget, "random", n_samples=10**6, time_limit=1e-6)
    assert result.status is Status.TIME_LIMIT
    assert "raise it" in result.message


# --------------------------------------------------------------------------------------------
# every baseline: within every budget, groups and bounds honoured, never better than optimal


def _instance(rng: np.random.Generator) -> tuple[list[LayerProfile], dict[str, float]]:
    layers = []
    for i in range(5):
        k = int(rng.integers(2, 5))
        levels = np.concatenate(
            [[0.0], np.sort(rng.choice(np.arange(1, 20) / 20, k - 1, replace=False))]
        )
        if i == 1:  # shares group "g" with layer 0, so the same levels
            levels = layers[0].levels
        rows, cols = (int(x) for x in rng.integers(2, 12, size=2))
        size = rows * cols
        kept = 1.0 - np.asarray(levels)
        layers.append(
            LayerProfile(
                f"layer{i}",
                levels,
                np.cumsum(rng.random(len(levels))) * rng.random(),
                size,
                costs={
                    "flops": size * kept * rng.integers(1, 9),
                    "latency_ms": 0.5 + kept * rng.random(),
                },
                shape=(rows, cols),
                min_sparsity=float(levels[1]) if i == 2 else 0.0,
                max_sparsity=float(levels[-2]) if i == 3 else 1.0,
                group="g" if i < 2 else None,
                magnitudes=np.concatenate([[0.0], np.sort(rng.random(len(levels) - 1))]),
            )
        )
    budget = {}
    for r in ("params", "flops", "latency_ms"):
        low, high = _extremes(layers, r)
        budget[r] = low + rng.uniform(0.2, 0.9) * (high - low)
    return layers, budget


def _extremes(layers: Sequence[LayerProfile], resource: str) -> tuple[float, float]:
    costs = [[cost_at(layer, resource, k) for k in allowed_levels(layer)] for layer in layers]
    return float(sum(min(c) for c in costs)), float(sum(max(c) for c in costs))


def _brute_force(layers: Sequence[LayerProfile], budget: Mapping[str, float]) -> float:
    return brute_force(AllocationProblem(list(layers), dict(budget)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("method", BASELINES)
def test_baselines_stay_within_every_budget(method: str, seed: int) -> None:
    layers, budget = _instance(np.random.default_rng(seed))
    result = (
        _solve(layers, budget, method, n_samples=200)
        if method == "random"
        else _solve(layers, budget, method)
    )
    assert result.status is Status.FEASIBLE, result.message
    index = [result.level_index[layer.name] for layer in layers]
    for resource, limit in budget.items():
        used = sum(cost_at(lay, resource, k) for lay, k in zip(layers, index, strict=True))
        assert used <= limit * (1 + 1e-12), resource
        np.testing.assert_allclose(result.usage[resource], used)
    assert index[0] == index[1]  # the group
    for layer, k in zip(layers, index, strict=True):
        assert k in allowed_levels(layer)
    assert result.objective >= _brute_force(layers, budget) - 1e-12
    assert math.isfinite(result.objective) and result.method == method


def _uniform_plan(layers: Sequence[LayerProfile], target: float) -> list[int]:
    """Per layer the smallest allowed level >= target (the largest allowed if none)."""
    index = []
    for layer in layers:
        ok = allowed_levels(layer)
        above = [int(k) for k in ok if np.asarray(layer.levels)[k] >= target]
        index.append(above[0] if above else int(ok[-1]))
    return index


@pytest.mark.parametrize("seed", range(4))
def test_uniform_hits_the_budget_as_closely_as_its_rule_allows(seed: int) -> None:
    layers, budget = _instance(np.random.default_rng(seed))
    result = _solve(layers, budget, "uniform")
    target = float(result.message.split("common sparsity = ")[1].split(",")[0])
    assert [result.level_index[lay.name] for lay in layers] == _uniform_plan(layers, target)
    smaller = [float(v) for lay in layers for v in np.asarray(lay.levels) if v < target - 1e-6]
    if smaller:  # the next smaller common target breaks a budget
        index = _uniform_plan(layers, max(smaller))
        used = {
            r: sum(cost_at(lay, r, k) for lay, k in zip(layers, index, strict=True)) for r in budget
        }
        assert any(used[r] > budget[r] for r in budget)


def test_rule_that_cannot_fit_is_reported_honestly() -> None:
    # Latency rises again at the sparsest level (unstructured sparse kernels): 0.5 fits, the
    # rule's most pruned plan does not, and uniform says so instead of overspending.
    layer = _flat("a", 100, [0.0, 0.5, 0.9], costs={"latency_ms": [10.0, 5.0, 8.0]})
    result = _solve([layer], {"latency_ms": 6.0}, "uniform")
    assert result.status is Status.INFEASIBLE
    assert result.message.startswith(
        "uniform: the rule's most pruned plan exceeds the budget (latency_ms 8 > 6); "
        "methods not bound to the rule may still fit."
    )


@pytest.mark.parametrize("method", BASELINES)
def test_infeasible_budget(method: str) -> None:
    layers = [_flat("a", 100, [0.0, 0.5], shape=(10, 10), magnitudes=[0.0, 1.0])]
    result = _solve(layers, {"params": 10}, method)
    assert result.status is Status.INFEASIBLE
    assert result.usage["params"] == 50.0


@pytest.mark.parametrize("method", BASELINES)
def test_loose_budget_prunes_nothing(method: str) -> None:
    layers = [_flat(n, 100, shape=(10, 10), magnitudes=GRID) for n in "ab"]
    assert _sparsity(_solve(layers, {"params": 1000}, method)) == [0.0, 0.0]
