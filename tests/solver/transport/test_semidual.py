"""``semi_dual``: marginals, group bounds, hard masks, the exact plan against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from pruneplan.solver import Status
from pruneplan.solver.transport import TransportProblem, TransportResult, transport

REGS = [(0.0, "entropy"), (1.0, "entropy"), (0.1, "entropy"), (1e-3, "entropy")]
REGS += [(1.0, "l2"), (0.1, "l2"), (1e-3, "l2")]
IDS = [f"{kind}-{reg:g}" for reg, kind in REGS]


def _scores(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def _mass(result: TransportResult, weights: dict[str, np.ndarray] | None) -> float:
    total = 0.0
    for name, mask in result.soft_mask.items():
        total += float(mask.sum() if weights is None else np.dot(mask, weights[name]))
    return total


@pytest.mark.parametrize(("reg", "kind"), REGS, ids=IDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unit", "weighted"])
@pytest.mark.parametrize("n", [7, 2000], ids=["n7", "n2000"])
def test_total_budget_holds_and_mask_in_unit_interval(
    reg: float, kind: str, weighted: bool, n: int
) -> None:
    rng = np.random.default_rng(n)
    scores = {"a": rng.normal(size=n), "b": rng.normal(size=n // 2 + 1)}
    weights = {k: rng.uniform(0.1, 3.0, v.size) for k, v in scores.items()} if weighted else None
    total = (
        sum(v.sum() for v in weights.values()) if weights else float(sum(map(len, scores.values())))
    )
    budget = 0.37 * total
    result = transport(TransportProblem(scores, budget, weights, reg=reg, reg_type=kind))
    assert result.status is Status.OPTIMAL
    np.testing.assert_allclose(_mass(result, weights), budget, rtol=1e-9)
    assert result.budget_error <= 1e-9
    for mask in result.soft_mask.values():
        assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert result.objective >= result.lower_bound - 1e-9 * abs(result.lower_bound)
    if reg > 0:  # one threshold shared by the groups (no bounds)
        assert result.threshold["a"] == result.threshold["b"]


@pytest.mark.parametrize(("reg", "kind"), REGS, ids=IDS)
def test_per_group_budgets_hold_in_every_group(reg: float, kind: str) -> None:
    rng = np.random.default_rng(3)
    scores = {f"g{i}": rng.normal(size=size) for i, size in enumerate([1, 5, 64, 300])}
    budget = {"g0": 1.0, "g1": 2.5, "g2": 10.0, "g3": 299.0}
    result = transport(TransportProblem(scores, budget, reg=reg, reg_type=kind))
    assert result.status is Status.OPTIMAL
    for name, mask in result.soft_mask.items():
        np.testing.assert_allclose(mask.sum(), budget[name], rtol=1e-9)
        np.testing.assert_allclose(result.kept[name], budget[name], rtol=1e-9)
    np.testing.assert_array_equal(result.soft_mask["g0"], [1.0])


def test_sigmoid_and_ramp_are_the_closed_forms_at_the_threshold() -> None:
    scores = _scores(500)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, 500)
    for kind in ("entropy", "l2"):
        problem = TransportProblem({"w": scores}, 120.0, {"w": weights}, reg=0.2, reg_type=kind)
        result = transport(problem)
        tau = result.threshold["w"]
        if kind == "entropy":
            expected = 1 / (1 + np.exp(-(scores - tau) / 0.2))
        else:
            expected = np.clip(0.5 + (scores - tau) / (2 * 0.2 * weights), 0.0, 1.0)
        np.testing.assert_allclose(result.soft_mask["w"], expected, atol=1e-12)


@pytest.mark.parametrize(("reg", "kind"), REGS[1:], ids=IDS[1:])
def test_group_bounds_hold_and_free_groups_share_the_threshold(reg: float, kind: str) -> None:
    rng = np.random.default_rng(5)
    scores = {
        "low": rng.normal(-2, 1, 50),
        "mid": rng.normal(0, 1, 80),
        "high": rng.normal(2, 1, 40),
    }
    problem = TransportProblem(
        scores, 60.0, reg=reg, reg_type=kind, min_keep={"low": 0.2}, max_keep={"high": 0.5}
    )
    result = transport(problem)
    assert result.status is Status.OPTIMAL
    np.testing.assert_allclose(sum(result.kept.values()), 60.0, rtol=1e-9)
    np.testing.assert_allclose(result.kept["low"], 0.2 * 50, rtol=1e-9)  # binds
    np.testing.assert_allclose(result.kept["high"], 0.5 * 40, rtol=1e-9)  # binds
    assert result.threshold["low"] < result.threshold["mid"] < result.threshold["high"]


def test_bounds_that_exclude_the_budget_are_infeasible_not_an_error() -> None:
    problem = TransportProblem(
        {"a": [1.0, 2.0], "b": [0.0, 3.0]}, 3.5, max_keep={"a": 0.5, "b": 0.5}
    )
    result = transport(problem)
    assert result.status is Status.INFEASIBLE
    assert "[0, 2]" in result.message and "3.5" in result.message
    assert result.soft_mask["a"].size == 0


@pytest.mark.parametrize("seed", range(6))
def test_hard_mask_is_the_top_k(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(3, 9)), int(rng.integers(1, 3))
    scores = rng.normal(size=n)
    result = transport(TransportProblem({"a": scores}, k, reg=0.05))
    best = max(itertools.combinations(range(n), k), key=lambda c: scores[list(c)].sum())
    np.testing.assert_array_equal(np.flatnonzero(result.hard_mask["a"]), sorted(best))


def test_hard_mask_breaks_ties_by_index_and_never_exceeds_the_budget() -> None:
    result = transport(TransportProblem({"a": [1.0, 2.0, 1.0, 1.0, 0.0]}, 2.5, reg=0.0))
    np.testing.assert_array_equal(result.hard_mask["a"], [True, True, False, False, False])
    np.testing.assert_allclose(result.soft_mask["a"], [1.0, 1.0, 0.5, 0.0, 0.0])


def _lp(scores: np.ndarray, weights: np.ndarray, groups: np.ndarray, lo, hi, budget) -> float:
    """The exact problem as an LP in the kept mass x: max s.x, 0 <= x <= a."""
    n_groups = int(groups.max()) + 1
    member = np.stack([(groups == g).astype(float) for g in range(n_groups)])
    res = linprog(
        -scores, A_ub=np.vstack([member, -member]), b_ub=np.concatenate([hi, -lo]),
        A_eq=np.ones((1, scores.size)), b_eq=[budget],
        bounds=np.stack([0 * weights, weights], axis=1), method="highs",
    )  # fmt: skip
    assert res.status == 0
    return float(-res.fun)


@pytest.mark.parametrize("seed", range(8))
def test_exact_plan_equals_the_lp_with_group_bounds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, size=3)
    scores = {f"g{i}": rng.normal(size=s) for i, s in enumerate(sizes)}
    weights = {k: rng.uniform(0.2, 2.0, v.size) for k, v in scores.items()}
    mass = np.array([w.sum() for w in weights.values()])
    lo_share, hi_share = rng.uniform(0, 0.4, 3), rng.uniform(0.6, 1.0, 3)
    budget = float(rng.uniform((lo_share * mass).sum(), (hi_share * mass).sum()))
    min_keep = dict(zip(scores, lo_share.tolist(), strict=True))
    max_keep = dict(zip(scores, hi_share.tolist(), strict=True))
    problem = TransportProblem(
        scores, budget, weights, reg=0.0, min_keep=min_keep, max_keep=max_keep
    )
    result = transport(problem)
    s, w = np.concatenate(list(scores.values())), np.concatenate(list(weights.values()))
    groups = np.repeat(np.arange(3), sizes)
    best = _lp(s, w, groups, lo_share * mass, hi_share * mass, budget)
    kept = np.concatenate([result.soft_mask[k] * weights[k] for k in scores])
    np.testing.assert_allclose(np.dot(s, kept), best, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.objective, result.lower_bound, rtol=1e-12)
    assert np.count_nonzero((kept > 1e-12) & (kept < w * (1 - 1e-12))) <= 1 + 2 * 3


def test_large_band_path_equals_the_full_sort() -> None:
    n = 200_003  # above 4 * 2**15: the exact plan sorts a band only
    rng = np.random.default_rng(11)
    scores = np.round(rng.normal(size=n), 3)  # many ties
    weights = rng.uniform(0.5, 1.5, n)
    band = transport(TransportProblem({"a": scores}, 0.2 * n + 0.25, {"a": weights}, reg=0.0))
    split = {"a": scores[: n // 2], "b": scores[n // 2 :]}
    w_split = {"a": weights[: n // 2], "b": weights[n // 2 :]}
    full = transport(TransportProblem(split, 0.2 * n + 0.25, w_split, reg=0.0, min_keep={"a": 0.0}))
    joined = np.concatenate([full.soft_mask["a"], full.soft_mask["b"]])
    np.testing.assert_allclose(band.soft_mask["a"], joined, atol=1e-12)
    np.testing.assert_array_equal(
        band.hard_mask["a"], np.concatenate([full.hard_mask["a"], full.hard_mask["b"]])
    )


@pytest.mark.parametrize("kind", ["entropy", "l2"])
def test_large_instance_budget_error_below_1e9(kind: str) -> None:
    n = 300_000
    scores = _scores(n, 2)
    result = transport(TransportProblem({"a": scores}, 0.1 * n, reg=1e-2, reg_type=kind))
    assert result.budget_error <= 1e-9
    assert result.iterations <= 12
    assert result.hard_mask["a"].sum() == 0.1 * n


def test_full_budget_keeps_everything() -> None:
    result = transport(TransportProblem({"a": [0.1, -3.0, 2.0]}, 3, reg=0.5))
    np.testing.assert_array_equal(result.soft_mask["a"], [1.0, 1.0, 1.0])
    assert result.hard_mask["a"].all() and result.status is Status.OPTIMAL


def test_more_regularisation_spreads_the_mask_and_costs_more() -> None:
    scores = _scores(400, 4)
    gaps = []
    for reg in (1e-3, 1e-2, 1e-1, 1.0):
        result = transport(TransportProblem({"a": scores}, 100, reg=reg))
        gaps.append(result.objective - result.lower_bound)
    assert all(x < y for x, y in itertools.pairwise(gaps))
    assert gaps[0] >= 0
