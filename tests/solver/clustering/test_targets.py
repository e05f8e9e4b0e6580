"""Targets: clusters per group and a kept budget across groups, met exactly; result invariants."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

from pruneplan.solver.clustering import ClusterGroup, ClusteringProblem, ClusteringResult, cluster

from ._reference import cut_cost
from .test_methods import redundant


def groups(sizes: tuple[int, ...] = (20, 35, 12)) -> list[ClusterGroup]:
    rng = np.random.default_rng(0)
    return [
        ClusterGroup(f"layer{i}.weight", redundant(i, n), importance=rng.random(n))
        for i, n in enumerate(sizes)
    ]


@pytest.mark.parametrize("k", [1, 2, 5, 11, 12])
@pytest.mark.parametrize("method", ["gaec", "knn"])
def test_n_clusters_met_exactly(method: str, k: int) -> None:
    g = groups()
    result = cluster(ClusteringProblem(g, n_clusters=k), method=method)
    for group in g:
        assert result.n_clusters[group.name] == k
        assert int(result.labels[group.name].max()) + 1 == k


def test_n_clusters_per_group_mapping() -> None:
    g = groups()
    want = {"layer0.weight": 3, "layer1.weight": 9, "layer2.weight": 12}
    result = cluster(ClusteringProblem(g, n_clusters=want))
    assert dict(result.n_clusters) == want
    np.testing.assert_allclose(result.usage["clusters"], 24.0)


def test_n_clusters_with_ilp() -> None:
    x = redundant(2, 9)
    result = cluster(ClusteringProblem([ClusterGroup("g", x)], n_clusters=3), method="ilp")
    assert result.n_clusters["g"] == 3
    assert result.lower_bound <= result.objective + 1e-12


@pytest.mark.parametrize("budget", [3, 4, 10, 25, 40, 66, 67])
@pytest.mark.parametrize("method", ["gaec", "knn"])
def test_keep_budget_met_exactly(method: str, budget: int) -> None:
    g = groups()
    result = cluster(ClusteringProblem(g, keep_budget=budget), method=method)
    assert sum(result.n_clusters.values()) == budget
    np.testing.assert_allclose(result.usage["clusters"], budget)
    np.testing.assert_allclose(result.limit["clusters"], budget)
    assert len(set(result.offset.values())) == 1  # one shared offset


def test_budget_counts_follow_redundancy() -> None:
    # a group of exact duplicates needs far fewer clusters than a spread-out one
    rng = np.random.default_rng(4)
    dup = np.repeat(rng.standard_normal((3, 8)), 10, axis=0)
    dup /= np.linalg.norm(dup, axis=1, keepdims=True)
    spread = rng.standard_normal((30, 8))
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    problem = ClusteringProblem(
        [ClusterGroup("dup", dup), ClusterGroup("spread", spread)], keep_budget=20
    )
    result = cluster(problem)
    assert result.n_clusters["dup"] == 3
    assert result.n_clusters["spread"] == 17


@pytest.mark.parametrize("method", ["gaec", "knn", "ilp"])
def test_result_invariants(method: str) -> None:
    g = groups((9, 7)) if method == "ilp" else groups()
    result = cluster(ClusteringProblem(g, offset=0.3), method=method)
    assert isinstance(result, ClusteringResult)
    total = 0.0
    for group in g:
        labels = result.labels[group.name]
        reps = result.representatives[group.name]
        merge = result.merge[group.name]
        x = np.asarray(group.features)
        imp = np.asarray(group.importance)
        _, first = np.unique(labels, return_index=True)
        np.testing.assert_array_equal(labels[np.sort(first)], np.arange(reps.size))  # canonical
        np.testing.assert_array_equal(labels[reps], np.arange(reps.size))  # one per cluster
        np.testing.assert_array_equal(merge[reps], reps)  # a representative maps to itself
        np.testing.assert_array_equal(labels[merge], labels)  # merged into its own cluster
        for c, r in enumerate(reps):
            np.testing.assert_allclose(imp[r], imp[labels == c].max())
        total += cut_cost(x, labels, 0.3)
    np.testing.assert_allclose(result.objective, total, rtol=1e-10)
    assert result.method == method


def test_medoid_without_importance() -> None:
    angles = np.array([0.0, 0.2, 0.1, 1.5])
    x = np.column_stack([np.cos(angles), np.sin(angles)])
    result = cluster(ClusteringProblem([ClusterGroup("g", x)], offset=0.5))
    np.testing.assert_array_equal(result.labels["g"], [0, 0, 0, 1])
    np.testing.assert_array_equal(result.representatives["g"], [2, 3])  # the middle one


def test_auto_resolves_by_size() -> None:
    result = cluster(ClusteringProblem(groups((10,)), offset=0.2))
    assert result.method == "gaec"


@pytest.mark.parametrize(
    "module", ["_api", "_cost", "_gaec", "_ilp", "_knn", "_kl", "_elf", "_types", "_validate"]
)
def test_docstring_examples_run(module: str) -> None:
    mod = importlib.import_module(f"pruneplan.solver.clustering.{module}")
    failed, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failed == 0


def test_public_surface() -> None:
    import pruneplan.solver.clustering as c

    assert c.__all__ == [
        "METHODS",
        "ClusterGroup",
        "ClusteringProblem",
        "ClusteringResult",
        "cluster",
    ]
    assert list(c.METHODS) == ["gaec", "knn", "ilp", "elf"]
