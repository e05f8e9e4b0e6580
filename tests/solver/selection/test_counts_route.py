"""Count tables through the allocation family's exact core, and the validation fast path."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pruneplan.solver import InvalidProblemError, Status
from pruneplan.solver.selection import ItemGroup, SelectionProblem, _counts, _instance, select
from pruneplan.solver.selection import _validate as val

from ._brute import allowed, assert_exact


def _staircase(rng: np.random.Generator, n: int, noise: float) -> np.ndarray:
    step = int(rng.integers(1, 4))
    latency = np.ceil(np.arange(n + 1) / step) * rng.uniform(0.5, 2.0)
    return np.round(latency + np.abs(rng.normal(0.0, noise, n + 1)), 3)


def _table_problem(seed: int, negative: bool) -> SelectionProblem:
    """Tiny noisy staircases (not monotone), sides drawn at random, half the latency."""
    rng = np.random.default_rng(seed)
    groups, total = [], 0.0
    for g in range(int(rng.integers(2, 5))):
        n = int(rng.integers(1, 6))
        values = rng.normal(0.5, 1.0, n) if negative else rng.lognormal(0.0, 1.0, n)
        latency = _staircase(rng, n, 0.3)
        min_keep = int(rng.integers(0, min(n, 2) + 1))
        round_to = int(rng.integers(1, 3))
        group = ItemGroup(
            f"g{g}", values, cost_by_count={"lat": latency}, min_keep=min_keep, round_to=round_to
        )
        if not allowed(group):
            group = ItemGroup(f"g{g}", values, cost_by_count={"lat": latency})
        groups.append(group)
        total += float(latency.max())
    return SelectionProblem(groups, {"lat": max(0.5 * total, 0.1)})


@pytest.mark.parametrize("negative", [False, True], ids=["positive", "any_sign"])
def test_count_tables_equal_brute_force(negative: bool) -> None:
    for seed in range(40):
        problem = _table_problem(seed, negative)
        assert_exact(problem, select(problem, method="exact"), seed)


def test_tables_hold_the_removed_value_and_cost_of_every_undominated_count() -> None:
    rng = np.random.default_rng(3)
    groups = [
        ItemGroup("a", rng.normal(0, 1, 7), cost_by_count={"lat": _staircase(rng, 7, 0.2)}),
        ItemGroup("b", rng.normal(0, 1, 4), costs={"lat": np.full(4, 0.5)}, round_to=2),
        ItemGroup("c", [3.0, 3.0, 1.0], cost_by_count={"lat": [0.0, 2.0, 1.0, 4.0]}, max_keep=2),
        ItemGroup("d", [2.0, 0.0, 1.0, 5.0], cost_by_count={"lat": [0.0, 1.0, 1.0, 3.0, 3.5]}),
    ]
    inst = val.validate_problem(SelectionProblem(groups, {"lat": 5.0}))
    t = _counts.tables(inst)
    shifted = []
    for g, group in enumerate(groups):
        values = np.asarray(group.values, dtype=float)
        counts = allowed(group)
        removed = {k: float(np.sort(values)[: values.size - k].sum()) for k in counts}
        table = (
            np.asarray(group.cost_by_count["lat"], dtype=float)
            if group.cost_by_count
            else 0.5 * np.arange(values.size + 1)
        )
        shifted.append(min(removed.values()))
        real = np.isfinite(t.dense.loss[g])
        kept = t.counts[g, real]
        assert set(kept.tolist()) <= set(counts)
        assert np.all(np.diff(kept) < 0)  # most kept first
        want = [removed[k] - shifted[-1] for k in kept.tolist()]
        np.testing.assert_allclose(t.dense.loss[g, real], want, atol=1e-12)
        np.testing.assert_allclose(t.dense.cost[0, g, real], table[kept], atol=1e-12)
        ranked = np.sort(values)[::-1]
        kth = [ranked[k - 1] if k else 0.0 for k in kept.tolist()]
        np.testing.assert_array_equal(t.kth[g, real], kth)
        for k in counts:  # every count left out is dominated by one kept
            cheaper = t.dense.loss[g, real] <= removed[k] - shifted[-1] + 1e-12
            beaten = (table[kept] <= table[k]) & cheaper
            assert beaten.any(), (g, k)
        # padding is never chosen and costs the group's most
        assert np.all(t.dense.cost[0, g, ~real] >= t.dense.cost[0, g, real].max())
    np.testing.assert_allclose(t.shift, sum(shifted), atol=1e-12)


def test_the_benchmark_instance_shape_is_certified() -> None:
    """Staircases of 512 counts with noise: the allocation core certifies the optimum."""
    rng = np.random.default_rng(0)
    groups, total = [], 0.0
    for g in range(12):
        step = int(rng.choice([8, 16, 32]))
        latency = np.ceil(np.arange(512) / step) * rng.uniform(0.5, 2.0)
        latency = latency + np.abs(rng.normal(0.0, 0.05, 512))
        groups.append(ItemGroup(f"g{g}", rng.lognormal(0, 1, 511), cost_by_count={"l": latency}))
        total += float(latency[-1])
    problem = SelectionProblem(groups, {"l": 0.5 * total})
    exact, milp = select(problem, method="exact"), select(problem, method="milp")
    assert exact.status is Status.OPTIMAL and exact.gap <= 1e-9
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9)


@pytest.mark.parametrize(
    "values",
    [[1.0, 1.0, 2.0, -0.0, 0.0, -3.0, 2.0, 1.0], [5.0, 4.0, 3.0], [1.0, 1.0 + 2**-50, 1.0]],
    ids=["ties_and_signed_zeros", "sorted", "near_ties"],
)
def test_descending_is_the_stable_order(values: list[float]) -> None:
    array = np.array(values)
    np.testing.assert_array_equal(_instance.descending(array), np.argsort(-array, kind="stable"))


def _groups(rng: np.random.Generator) -> list[ItemGroup]:
    return [
        ItemGroup("t", rng.normal(0, 1, 6), cost_by_count={"lat": rng.uniform(0, 2, 7)}),
        ItemGroup("p", rng.normal(0, 1, 5), costs={"flops": rng.uniform(0, 2, 5)}, min_keep=0),
        ItemGroup(
            "m",
            list(rng.normal(0, 1, 4)),
            costs={"flops": list(rng.uniform(0, 2, 4))},
            cost_by_count={"lat": list(rng.uniform(0, 2, 5))},
            max_keep=np.int64(3),
            round_to=2,
        ),
    ]


def test_fast_path_builds_the_groups_of_the_per_group_checks() -> None:
    raw = _groups(np.random.default_rng(5))
    fast = val._fast_groups(raw)
    assert fast is not None
    for i, (got, group) in enumerate(zip(fast, raw, strict=True)):
        want = val._group(group, i)
        np.testing.assert_array_equal(got.values, want.values)
        np.testing.assert_array_equal(got.allowed, want.allowed)
        for name in ("costs", "tables"):
            a, b = getattr(got, name), getattr(want, name)
            assert a.keys() == b.keys()
            for r in a:
                np.testing.assert_array_equal(a[r], b[r])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"values": [1.0, math.nan, 2.0, 0.0]}, "groups[2].values"),
        ({"costs": {"flops": [1.0, -1.0, 2.0, 0.0]}}, "groups[2].costs.flops"),
        ({"cost_by_count": {"lat": [0.0, 1.0, math.inf, 3.0, 4.0]}}, "groups[2].cost_by_count.lat"),
        ({"cost_by_count": {"lat": [0.0, 1.0]}}, "groups[2].cost_by_count.lat"),
        ({"max_keep": 5}, "groups[2].max_keep"),
        ({"round_to": True}, "groups[2].round_to"),
        ({"costs": {"lat": [1.0] * 4}}, "groups[2].cost_by_count.lat"),
        ({"values": 3.0}, "groups[2].values"),
        ({"cost_by_count": {"lat": np.ones((1, 5))}}, "groups[2].cost_by_count.lat"),
    ],
    ids=[
        "nan_value",
        "negative_cost",
        "inf_table",
        "short_table",
        "max_keep",
        "bool",
        "both",
        "scalar_values",
        "2d_table",
    ],
)
def test_fast_path_refuses_what_the_per_group_checks_refuse(
    change: dict[str, object], field: str
) -> None:
    raw = _groups(np.random.default_rng(5))
    fields = {**raw[2].__dict__, **change}
    raw[2] = ItemGroup(**fields)  # type: ignore[arg-type]
    assert val._fast_groups(raw) is None
    with pytest.raises(InvalidProblemError) as info:
        select(SelectionProblem(raw, {"flops": 3.0, "lat": 3.0}))
    assert info.value.field == field


def test_shared_count_arrays_are_read_only() -> None:
    raw = [ItemGroup(f"g{i}", [1.0, 2.0], cost_by_count={"lat": [0, 1, 2]}) for i in range(3)]
    inst = val.validate_problem(SelectionProblem(raw, {"lat": 3.0}))
    assert inst.allowed[0] is inst.allowed[2]
    with pytest.raises(ValueError, match="read-only"):
        inst.allowed[0][0] = 0
    assert list(itertools.chain(*inst.allowed)) == [1, 2] * 3
