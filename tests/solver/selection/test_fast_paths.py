"""The count-table route's shortcuts against their plain definitions: top-k masks by threshold,
lazily sorted orders, compact in blocks, block sums, and the route against the general path."""

from __future__ import annotations

import numpy as np
import pytest

from pruneplan.solver import Status
from pruneplan.solver.allocation import _dense
from pruneplan.solver.allocation._dense import Dense, compact
from pruneplan.solver.selection import ItemGroup, SelectionProblem, _instance, select
from pruneplan.solver.selection import _validate as val

from ._brute import allowed


def _tied(rng: np.random.Generator, n: int) -> np.ndarray:
    """Values with many ties, signed zeros among them."""
    values = rng.integers(-2, 3, n).astype(float)
    values[values == 0] = rng.choice([0.0, -0.0], int((values == 0).sum()))
    return values


def _reference_top(values: np.ndarray, k: int) -> np.ndarray:
    mask = np.zeros(values.size, dtype=bool)
    mask[np.argsort(-values, kind="stable")[:k]] = True
    return mask


@pytest.mark.parametrize("seed", range(20))
def test_keep_top_is_the_stable_top_k(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = _tied(rng, int(rng.integers(1, 12))) if seed % 2 else rng.normal(0, 1, 9)
    ranked = np.sort(values)[::-1]
    for k in range(values.size + 1):
        out = np.empty(values.size, dtype=bool)
        got = _instance.keep_top(values, k, float(ranked[k - 1]) if k else 0.0, out)
        np.testing.assert_array_equal(got, _reference_top(values, k))
        assert _instance.keeps_top(values, got)


@pytest.mark.parametrize("seed", range(20))
def test_keeps_top_refuses_every_other_mask(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    values = _tied(rng, 6)
    for bits in range(2**6):
        mask = np.array([(bits >> i) & 1 for i in range(6)], dtype=bool)
        want = bool(np.array_equal(mask, _reference_top(values, int(mask.sum()))))
        assert _instance.keeps_top(values, mask) is want, (values, mask)


def _tables_problem(
    rng: np.random.Generator, n_groups: int, n: int, resources: int = 1
) -> SelectionProblem:
    """Noisy staircases per resource ("lat", then "mem"), 40% of the largest totals."""
    groups, total = [], np.zeros(resources)
    names = ("lat", "mem")[:resources]
    for g in range(n_groups):
        values = _tied(rng, n) if g % 3 == 0 else rng.lognormal(0, 1, n)
        table = {
            r: np.round(np.ceil(np.arange(n + 1) / 4) + rng.uniform(0, 0.3, n + 1), 2)
            for r in names
        }
        min_keep = int(rng.integers(0, 3))
        round_to = int(rng.integers(1, 4))
        groups.append(
            ItemGroup(f"g{g}", values, cost_by_count=table, min_keep=min_keep, round_to=round_to)
        )
        total += [float(table[r].max()) for r in names]
    return SelectionProblem(groups, {r: 0.4 * float(t) for r, t in zip(names, total, strict=True)})


def test_orders_are_sorted_on_first_use_and_read_like_a_dict() -> None:
    rng = np.random.default_rng(7)
    groups = [
        ItemGroup("t", _tied(rng, 8), cost_by_count={"lat": np.arange(9.0)}),
        ItemGroup("p", rng.normal(0, 1, 5), costs={"lat": np.ones(5)}),
        ItemGroup("u", rng.normal(0, 1, 6), cost_by_count={"lat": np.arange(7.0)}),
    ]
    inst = val.validate_problem(SelectionProblem(groups, {"lat": 4.0}))
    assert list(inst.order) == [0, 2] and len(inst.order) == 2
    assert 0 in inst.order and 1 not in inst.order and inst.order.get(1) is None
    with pytest.raises(KeyError):
        inst.order[1]
    for g, order in inst.order.items():
        a, b = inst.starts[g], inst.starts[g + 1]
        np.testing.assert_array_equal(order, np.argsort(-inst.values[a:b], kind="stable"))
        assert inst.order[g] is order  # sorted once
        for k in range(b - a + 1):
            np.testing.assert_array_equal(inst.top_mask(g, k), _reference_top(inst.values[a:b], k))


def test_all_counted_groups_carry_no_per_item_costs() -> None:
    problem = _tables_problem(np.random.default_rng(2), 4, 10)
    inst = val.validate_problem(problem)
    assert inst.costs.shape == (1, inst.n_items) and not inst.costs.flags.writeable
    np.testing.assert_array_equal(inst.costs, 0.0)
    assert not inst.any_per_item
    for method in ("greedy", "uniform", "global_threshold", "halp", "milp"):
        result = select(problem, method=method)
        assert result.status in (Status.OPTIMAL, Status.FEASIBLE, Status.INFEASIBLE), method


@pytest.mark.parametrize("resources", [1, 2])
@pytest.mark.parametrize("seed", range(8))
def test_count_route_equals_the_milp_on_random_tables(seed: int, resources: int) -> None:
    """The count-table route (exact) against HiGHS on the general model of the same problem;
    with two resources nothing is compacted."""
    rng = np.random.default_rng(seed)
    n_groups, n = int(rng.integers(2, 7)), int(rng.integers(3, 40))
    problem = _tables_problem(rng, n_groups, n, resources)
    exact, milp = select(problem, method="exact"), select(problem, method="milp")
    assert exact.status is milp.status
    if exact.status is Status.INFEASIBLE:
        return
    assert exact.status is Status.OPTIMAL
    np.testing.assert_allclose(exact.objective, milp.objective, rtol=1e-9, atol=1e-9)
    for group in problem.groups:
        chosen = exact.groups[group.name]
        values = np.asarray(group.values, dtype=float)
        assert chosen.count in allowed(group)
        np.testing.assert_array_equal(chosen.mask, _reference_top(values, chosen.count))
        np.testing.assert_array_equal(chosen.kept, np.flatnonzero(chosen.mask))
        assert chosen.kept.dtype == np.int64 and chosen.mask.shape == values.shape


def test_objective_sums_in_blocks_as_one_sum() -> None:
    rng = np.random.default_rng(4)
    n = 3 * _instance.SUM_BLOCK + 17
    groups = [ItemGroup("a", rng.normal(0, 1, n), cost_by_count={"lat": np.arange(n + 1.0)})]
    inst = val.validate_problem(SelectionProblem(groups, {"lat": n / 2}))
    mask = rng.random(n) < 0.5
    np.testing.assert_allclose(inst.objective(mask), inst.values[~mask].sum(), rtol=1e-12)


@pytest.mark.parametrize("block", [1, 7, 64, 1 << 16])
def test_compact_in_blocks_equals_one_block(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(block)
    for trial in range(40):
        n, k = int(rng.integers(1, 30)), int(rng.integers(1, 25))
        loss = np.round(rng.uniform(0, 3, (n, k)), 1)
        if trial % 2:
            loss = np.sort(loss, axis=1)
        loss[rng.random((n, k)) < 0.2] = np.inf
        loss[:, 0] = np.round(rng.uniform(0, 3, n), 1)  # one real option per item
        cost = np.round(rng.uniform(0, 3, (1, n, k)), 1)
        d = Dense(loss, cost, np.array([5.0]))
        monkeypatch.setattr(_dense, "BLOCK", 1 << 30)
        whole, index = compact(d)
        monkeypatch.setattr(_dense, "BLOCK", block)
        parts, parts_index = compact(d)
        assert (index is None) == (parts_index is None)
        if index is not None and parts_index is not None:
            np.testing.assert_array_equal(parts_index, index)
            np.testing.assert_array_equal(parts.loss, whole.loss)
            np.testing.assert_array_equal(parts.cost, whole.cost)
