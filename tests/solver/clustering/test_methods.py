"""Every method against the straightforward references on tiny and small instances."""

from __future__ import annotations

import numpy as np
import pytest

from pruneplan.solver.clustering import ClusterGroup, ClusteringProblem, cluster
from pruneplan.solver.clustering._cost import canonical as factorised_canonical
from pruneplan.solver.clustering._cost import cut_cost as factorised_cut
from pruneplan.solver.clustering._gaec import gaec
from pruneplan.solver.clustering._kl import _two_cluster, kernighan_lin
from pruneplan.solver.clustering._knn import knn_graph, multicut_knn, refine_moves

from ._reference import brute_force, complete_gaec, cut_cost

GAEC_GAP = 0.30
"""Documented worst relative gap of GAEC to the optimum on these tiny instances; GAEC is
optimal on most of them (``GAEC_OPTIMAL_SHARE``)."""

GAEC_OPTIMAL_SHARE = 0.8


def tiny(seed: int) -> tuple[np.ndarray, float]:
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 8)), int(rng.integers(1, 4))
    return rng.standard_normal((n, d)), float(rng.normal(0.0, 0.5))


def redundant(seed: int, n: int, d: int = 8, centers: int = 4) -> np.ndarray:
    """Unit features around a few centres: groups of near-duplicate channels."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centers, d))
    x = c[rng.integers(0, centers, n)] + 0.4 * rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def solve(x: np.ndarray, offset: float, method: str, **options: int):
    result = cluster(
        ClusteringProblem([ClusterGroup("g", x)], offset=offset), method=method, **options
    )
    return result, result.labels["g"]


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed{s}")
def test_ilp_equals_brute_force(seed: int) -> None:
    x, offset = tiny(seed)
    result, labels = solve(x, offset, "ilp")
    best = brute_force(x, offset)
    np.testing.assert_allclose(result.objective, best, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(cut_cost(x, labels, offset), best, rtol=1e-9, atol=1e-9)
    assert result.status.name == "OPTIMAL"
    np.testing.assert_allclose(result.gap, 0.0, atol=1e-9)


@pytest.mark.parametrize("seed", range(12), ids=lambda s: f"seed{s}")
def test_gaec_equals_complete_graph_gaec(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(2, 40))
    x = rng.standard_normal((n, int(rng.integers(1, 6))))
    offset = float(rng.normal(0.0, 1.0))
    _, labels = solve(x, offset, "gaec")
    np.testing.assert_array_equal(labels, complete_gaec(x, offset))


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
def test_forced_count_continues_like_the_reference(seed: int) -> None:
    x = redundant(seed, 30)
    init = gaec(x, 0.5).labels
    k = max(1, int(init.max()) + 1 - 3)
    out = gaec(x, 0.5, init=init, n_clusters=k).labels
    np.testing.assert_array_equal(out, complete_gaec(x, 0.5, init=init, n_clusters=k))
    assert int(out.max()) + 1 == k


def test_gaec_within_documented_gap_of_ilp() -> None:
    gaps = []
    for seed in range(40):
        x, offset = tiny(seed)
        _, g = solve(x, offset, "gaec")
        exact, _ = solve(x, offset, "ilp")
        gaps.append((cut_cost(x, g, offset) - exact.objective) / max(abs(exact.objective), 1e-12))
    for seed in range(8):
        x = redundant(seed, 10)
        _, g = solve(x, 0.3, "gaec")
        exact, _ = solve(x, 0.3, "ilp")
        gaps.append((cut_cost(x, g, 0.3) - exact.objective) / abs(exact.objective))
    gaps_a = np.asarray(gaps)
    assert gaps_a.min() >= -1e-9  # never better than the optimum
    assert gaps_a.max() <= GAEC_GAP
    assert np.mean(gaps_a <= 1e-9) >= GAEC_OPTIMAL_SHARE


@pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
def test_objective_is_the_pairwise_cut_cost(seed: int) -> None:
    x = redundant(seed, 25)
    for method in ("gaec", "knn"):
        result, labels = solve(x, 0.2, method)
        np.testing.assert_allclose(result.objective, cut_cost(x, labels, 0.2), rtol=1e-10)
        np.testing.assert_allclose(
            factorised_cut(x, labels, 0.2), cut_cost(x, labels, 0.2), rtol=1e-10
        )
        assert result.lower_bound <= result.objective


def test_gaec_bound_is_the_negative_part() -> None:
    x = redundant(3, 20)
    result, _ = solve(x, 0.3, "gaec")
    w = x @ x.T - 0.3
    i, j = np.triu_indices(20, 1)
    np.testing.assert_allclose(result.lower_bound, np.minimum(w[i, j], 0).sum(), rtol=1e-10)
    exact, _ = solve(x[:10], 0.3, "ilp")
    assert exact.objective >= solve(x[:10], 0.3, "gaec")[0].lower_bound - 1e-9


def test_knn_on_the_complete_candidate_graph_is_gaec() -> None:
    x = redundant(5, 40)
    full = knn_graph(x, 39)
    out = multicut_knn(x, 0.4, neighbours=full, refine=0, kl=0)
    np.testing.assert_array_equal(out.labels, gaec(x, 0.4).labels)


def test_knn_graph_is_exact_below_the_faiss_threshold() -> None:
    x = redundant(6, 60)
    nb = knn_graph(x, 5)
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    np.testing.assert_allclose(np.take_along_axis(g, nb, 1), -np.sort(-g, axis=1)[:, :5])


@pytest.mark.parametrize("seed", range(4), ids=lambda s: f"seed{s}")
def test_element_moves_never_increase_the_cut(seed: int) -> None:
    x = redundant(seed, 200, d=16, centers=20)
    plain = multicut_knn(x, 0.3, k=5, refine=0, kl=0)
    moved = multicut_knn(x, 0.3, k=5, refine=5, kl=0)
    assert cut_cost(x, moved.labels, 0.3) <= cut_cost(x, plain.labels, 0.3) + 1e-9
    if moved.moves:
        assert cut_cost(x, moved.labels, 0.3) < cut_cost(x, plain.labels, 0.3)


def test_elf_gaec_matches_on_the_complete_graph() -> None:
    pytest.importorskip("bioimage_cpp")
    for seed in range(5):
        x = redundant(seed, 60)
        ours, _ = solve(x, 0.3, "gaec")
        ref, _ = solve(x, 0.3, "elf")
        np.testing.assert_allclose(ours.objective, ref.objective, rtol=1e-9)
        kl, _ = solve(x, 0.3, "elf", kl=1)
        assert kl.objective <= ref.objective + 1e-9


@pytest.mark.parametrize("method", ["gaec", "knn", "ilp"])
def test_deterministic(method: str) -> None:
    x = redundant(9, 12 if method == "ilp" else 300, d=16, centers=30)
    a, la = solve(x, 0.3, method)
    b, lb = solve(x.copy(), 0.3, method)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(a.representatives["g"], b.representatives["g"])
    assert a.objective == b.objective


def test_time_limit_returns_the_partition_so_far() -> None:
    x = redundant(1, 1500, d=4, centers=3)
    result, _ = solve(x, -1.0, "gaec")
    quick = cluster(
        ClusteringProblem([ClusterGroup("g", x)], offset=-1.0), method="gaec", time_limit=1e-6
    )
    assert quick.status.name == "TIME_LIMIT"
    assert quick.n_clusters["g"] > result.n_clusters["g"]
    np.testing.assert_allclose(quick.objective, cut_cost(x, quick.labels["g"], -1.0), rtol=1e-9)


def test_faiss_knn_graph_is_deterministic_and_close_to_exact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("faiss")
    from pruneplan.solver.clustering import _knn

    monkeypatch.setattr(_knn, "EXACT_KNN_MAX", 500)  # the faiss path on a small instance
    x = redundant(8, 1_500, d=8, centers=150)
    a, b = knn_graph(x, 5), knn_graph(x, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.any(a == np.arange(x.shape[0])[:, None])  # never the element itself
    g = x @ x.T
    np.fill_diagonal(g, -np.inf)
    truth = np.argsort(-g, axis=1)[:, :5]
    recall = np.mean([len(set(r) & set(t)) / 5 for r, t in zip(a, truth, strict=True)])
    assert recall >= 0.8


@pytest.mark.parametrize("seed", range(6), ids=lambda s: f"seed{s}")
def test_two_cluster_gains_are_the_cut_cost_changes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((9, 3))
    labels = rng.integers(0, 2, 9)
    offset = float(rng.normal(0.0, 0.5))
    a, b = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    idx = np.concatenate([a, b, [-1, -1]])[None, :]  # two pads
    side = np.concatenate([np.ones(a.size), -np.ones(b.size), [0.0, 0.0]])[None, :]
    best, length, order, join = _two_cluster(x, idx, side, offset)
    before = cut_cost(x, labels, offset)
    np.testing.assert_allclose(join[0], before - cut_cost(x, np.zeros(9, int), offset), atol=1e-9)
    moved = labels.copy()
    moved[idx[0, order[0, : length[0]]]] ^= 1
    np.testing.assert_allclose(best[0], before - cut_cost(x, moved, offset), atol=1e-9)
    for t in range(9):  # the best prefix is the best of all prefixes of the sequence
        prefix = labels.copy()
        prefix[idx[0, order[0, : t + 1]]] ^= 1
        assert before - cut_cost(x, prefix, offset) <= best[0] + 1e-9


def test_kernighan_lin_never_increases_the_cut_and_beats_single_moves() -> None:
    improved = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((10, 3))
        full = knn_graph(x, 9)
        start, _ = refine_moves(x, rng.integers(0, 3, 10), full, 0.3, passes=50, deadline=1e18)
        labels, pairs = kernighan_lin(x, start, full, 0.3, rounds=20, deadline=1e18)
        assert cut_cost(x, labels, 0.3) <= cut_cost(x, start, 0.3) + 1e-9
        if pairs:
            assert cut_cost(x, labels, 0.3) < cut_cost(x, start, 0.3) - 1e-9
            improved += 1
        exact, _ = solve(x, 0.3, "ilp")
        assert cut_cost(x, labels, 0.3) >= exact.objective - 1e-9
    assert improved >= 2  # sequences and joins find what single moves cannot (2 of 20 here)


@pytest.mark.parametrize("seed", range(3), ids=lambda s: f"seed{s}")
def test_knn_kernighan_lin_is_at_least_the_moves(seed: int) -> None:
    x = redundant(seed, 400, d=16, centers=40)
    moves = multicut_knn(x, 0.3, k=5, kl=0)
    kl = multicut_knn(x, 0.3, k=5, kl=10)
    assert cut_cost(x, kl.labels, 0.3) <= cut_cost(x, moves.labels, 0.3) + 1e-9
    assert (kl.kl_pairs > 0) == (cut_cost(x, kl.labels, 0.3) < cut_cost(x, moves.labels, 0.3))


def test_kernighan_lin_leaves_pairs_wider_than_max_width(monkeypatch: pytest.MonkeyPatch) -> None:
    from pruneplan.solver.clustering import _kl

    x = redundant(2, 60, d=8, centers=6)
    start = np.arange(60) % 20  # 20 clusters of 3, far from a good partition
    full = knn_graph(x, 59)
    monkeypatch.setattr(_kl, "MAX_WIDTH", 2)
    same, pairs = kernighan_lin(x, start, full, 0.3, rounds=5, deadline=1e18)
    assert pairs == 0
    np.testing.assert_array_equal(same, factorised_canonical(start))
    monkeypatch.setattr(_kl, "MAX_WIDTH", 1024)
    better, pairs = kernighan_lin(x, start, full, 0.3, rounds=5, deadline=1e18)
    assert pairs > 0
    assert cut_cost(x, better, 0.3) < cut_cost(x, start, 0.3)
