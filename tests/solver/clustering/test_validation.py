"""Bad input: each error names the field, what is allowed and what was received."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from pruneplan.solver import InvalidProblemError
from pruneplan.solver.clustering import ClusterGroup, ClusteringProblem, cluster

X = np.eye(3)


def problem(**kw: Any) -> ClusteringProblem:
    groups = kw.pop("groups", [ClusterGroup("a", X), ClusterGroup("b", X[:2])])
    if not {"offset", "n_clusters", "keep_budget"} & set(kw):
        kw["offset"] = 0.0
    return ClusteringProblem(groups, **kw)


CASES = {
    "nan feature": (
        problem(groups=[ClusterGroup("a", [[1.0, math.nan]])]),
        "groups[0].features",
        "nan at [0, 1]",
    ),
    "inf feature": (
        problem(groups=[ClusterGroup("a", [[1.0], [math.inf]])]),
        "groups[0].features",
        "inf at [1, 0]",
    ),
    "ragged": (
        problem(groups=[ClusterGroup("a", [[1.0, 2.0], [3.0]])]),
        "groups[0].features",
        "rows of one length",
    ),
    "1-d": (problem(groups=[ClusterGroup("a", [1.0, 2.0])]), "groups[0].features", "shape (2,)"),
    "empty group": (
        problem(groups=[ClusterGroup("a", np.zeros((0, 3)))]),
        "groups[0].features",
        "an empty group",
    ),
    "no groups": (ClusteringProblem([], offset=0.0), "groups", "non-empty"),
    "not a group": (problem(groups=[X]), "groups[0]", "ClusterGroup"),
    "duplicate name": (
        problem(groups=[ClusterGroup("a", X), ClusterGroup("a", X)]),
        "groups[1].name",
        "unique",
    ),
    "importance shape": (
        problem(groups=[ClusterGroup("a", X, importance=[1.0])]),
        "groups[0].importance",
        "shape (3,)",
    ),
    "importance nan": (
        problem(groups=[ClusterGroup("a", X, importance=[1.0, math.nan, 0.0])]),
        "groups[0].importance",
        "finite",
    ),
    "offset inf": (problem(offset=math.inf), "offset", "a finite number"),
    "offset nan in map": (
        problem(offset={"a": 0.0, "b": math.nan}),
        "offset['b']",
        "a finite number",
    ),
    "offset map missing": (problem(offset={"a": 0.0}), "offset", "missing ['b']"),
    "offset text": (problem(offset="0.5"), "offset", "a finite number"),
    "n_clusters 0": (problem(n_clusters=0), "n_clusters", "[1, 3]"),
    "n_clusters above n": (problem(n_clusters={"a": 2, "b": 3}), "n_clusters['b']", "[1, 2]"),
    "n_clusters float": (problem(n_clusters=1.5), "n_clusters", "an integer"),
    "budget below groups": (problem(keep_budget=1), "keep_budget", "[2, 5]"),
    "budget above total": (problem(keep_budget=6), "keep_budget", "[2, 5]"),
    "budget bool": (problem(keep_budget=True), "keep_budget", "an integer"),
    "two modes": (problem(offset=0.0, n_clusters=1), "offset", "exactly one of"),
    "no mode": (ClusteringProblem([ClusterGroup("a", X)]), "offset", "exactly one of"),
    "not a problem": ("x", "problem", "a ClusteringProblem"),
    "features near the float64 maximum": (
        problem(groups=[ClusterGroup("a", np.full((4, 2), 1e308))]),
        "groups[0].features",
        "at most 1e+300; got inf with group 'a'",
    ),
    "features too large summed over groups": (
        problem(groups=[ClusterGroup(g, np.full((4, 1), 2e149)) for g in "ab"]),  # 6.4e299 each
        "groups[1].features",
        "at most 1e+300; got 1.28e+300 with group 'b'",
    ),
    "offset times pairs overflows": (
        problem(groups=[ClusterGroup("a", X)], offset=1e305),
        "offset",
        "[-2.22222e+299, 2.22222e+299] for 3 elements of 'a'; got 1e+305",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_problem_names_the_field(name: str) -> None:
    bad, field, words = CASES[name]
    with pytest.raises(InvalidProblemError) as info:
        cluster(bad)  # type: ignore[arg-type]
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"method": "louvain"}, "method", "one of auto, gaec, knn, ilp, elf"),
        ({"method": "gaec", "k": 3}, "options.k", "an option of method 'gaec'"),
        ({"method": "knn", "k": 0}, "options.k", "[1, 1024]"),
        ({"method": "knn", "refine": -1}, "options.refine", "[0, 1000]"),
        ({"method": "knn", "kl": 1001}, "options.kl", "[0, 1000]"),
        ({"search_iter": 0}, "options.search_iter", "[1, 200]"),
        ({"time_limit": 0.0}, "options.time_limit", "(0, inf)"),
        ({"seed": -1}, "options.seed", "an integer"),
    ],
)
def test_bad_options(kwargs: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(InvalidProblemError) as info:
        cluster(problem(), **kwargs)
    assert info.value.field == field
    assert words in str(info.value)


def test_large_features_just_inside_the_bound_give_a_finite_objective() -> None:
    """(n * largest row norm)^2 = 3.2e297 passes; every sum and the objective stay finite."""
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]]) * 1e148
    for method in ("gaec", "knn", "ilp"):
        result = cluster(ClusteringProblem([ClusterGroup("a", x)], n_clusters=2), method=method)
        assert math.isfinite(result.objective)
        np.testing.assert_array_equal(result.labels["a"], [0, 0, 1, 1])


def test_ilp_refuses_large_groups() -> None:
    big = ClusteringProblem([ClusterGroup("a", np.ones((41, 2)))], offset=0.0)
    with pytest.raises(InvalidProblemError) as info:
        cluster(big, method="ilp")
    assert info.value.field == "groups[0].features"
    assert "at most 40 elements" in str(info.value)


def test_single_element_groups() -> None:
    one = ClusteringProblem([ClusterGroup("a", [[1.0, 0.0]])], keep_budget=1)
    for method in ("gaec", "knn", "ilp"):
        result = cluster(one, method=method)
        np.testing.assert_array_equal(result.labels["a"], [0])
        np.testing.assert_allclose(result.objective, 0.0)
