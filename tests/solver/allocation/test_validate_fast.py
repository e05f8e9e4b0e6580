"""The validation fast path accepts and rejects exactly what the per-layer path does."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pruneplan.solver import AllocationProblem, InvalidProblemError, LayerProfile
from pruneplan.solver.allocation._instance import Instance
from pruneplan.solver.allocation._validate import _layer, validate_problem
from pruneplan.solver.allocation._validate_fast import stacked_layers

LEVELS = np.linspace(0.0, 0.9, 6)


@st.composite
def profiles(draw: st.DrawFn) -> list[LayerProfile]:
    """Mostly valid layers on one grid, with one of many possible defects."""
    n = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    layers = []
    for i in range(n):
        size = int(rng.integers(1, 50))
        costs = {"flops": rng.random(6) * 10} if rng.random() < 0.7 else None
        if costs is not None and rng.random() < 0.2:
            costs["params"] = rng.random(6)
        layers.append(
            LayerProfile(
                f"l{i}",
                LEVELS.copy(),
                rng.random(6),
                size,
                costs=costs,
                shape=(size,) if rng.random() < 0.5 else None,
                min_sparsity=float(rng.choice([0.0, 0.2])),
                max_sparsity=float(rng.choice([1.0, 0.7])),
                magnitudes=np.sort(rng.random(6)) if rng.random() < 0.5 else None,
            )
        )
    defect = draw(
        st.sampled_from(
            [
                "none",
                "nan",
                "neg",
                "order",
                "ragged",
                "size",
                "bounds",
                "shape",
                "mags",
                "short_cost",
                "cost_key",
                "bool_size",
            ]
        )
    )
    victim = layers[draw(st.integers(0, n - 1))]
    changes: dict[str, object] = {
        "none": {},
        "nan": {"loss": np.r_[np.nan, victim.loss[1:]]},
        "neg": {"loss": -np.asarray(victim.loss)},
        "order": {"levels": LEVELS[::-1].copy()},
        "ragged": {"levels": LEVELS[:5], "loss": np.zeros(5)},
        "size": {"size": 0},
        "bounds": {"min_sparsity": 0.95, "max_sparsity": 0.96},
        "shape": {"shape": (victim.size + 1,)},
        "mags": {"magnitudes": np.arange(6.0)[::-1].copy()},
        "short_cost": {"costs": {"flops": np.ones(3)}},
        "cost_key": {"costs": {"": np.ones(6)}},
        "bool_size": {"size": True},
    }[defect]
    index = layers.index(victim)
    fields = {**victim.__dict__, **changes}
    layers[index] = LayerProfile(**fields)  # type: ignore[arg-type]
    return layers


def _same(a: object, b: object) -> None:
    for name in ("name", "size", "shape", "min_sparsity", "max_sparsity", "group"):
        assert getattr(a, name) == getattr(b, name)
    for name in ("levels", "loss", "magnitudes"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)
    assert list(a.costs) == list(b.costs)  # type: ignore[attr-defined]
    for r in a.costs:  # type: ignore[attr-defined]
        np.testing.assert_array_equal(a.costs[r], b.costs[r])  # type: ignore[attr-defined]


@settings(max_examples=150, deadline=None)
@given(profiles())
def test_fast_path_agrees_with_per_layer_path(layers: list[LayerProfile]) -> None:
    try:
        slow = [_layer(p, i) for i, p in enumerate(layers)]
    except InvalidProblemError:
        slow = None
    fast = stacked_layers(layers)
    if slow is None:
        assert fast is None
    elif len({len(p.levels) for p in layers}) > 1:
        assert fast is None  # several grids: the per-layer path handles them
    else:
        assert fast is not None, "valid layers on one grid must take the fast path"
        assert len(fast.layers) == len(slow)
        for a, b in zip(fast.layers, slow, strict=True):
            _same(a, b)


def _outcome(problem: AllocationProblem, fast: bool) -> tuple[str, str] | Instance:
    try:
        return validate_problem(problem, fast=fast)
    except InvalidProblemError as error:
        return str(error), error.field


@settings(max_examples=150, deadline=None)
@given(profiles(), st.sampled_from([{"params": 50.0}, {"params": 50.0, "flops": 20.0}]))
def test_both_paths_give_the_same_instance_or_the_same_message(
    layers: list[LayerProfile], budget: dict[str, float]
) -> None:
    problem = AllocationProblem(layers, budget)
    fast, slow = _outcome(problem, fast=True), _outcome(problem, fast=False)
    if isinstance(slow, tuple):
        assert fast == slow
        message, field = slow
        index = field.removeprefix("layers[").split("]")[0]
        if field.startswith("layers[") and not field.endswith(".name"):
            name = layers[int(index)].name
            assert message.startswith(f'layers[{index}] ("{name}")'), message
        return
    assert isinstance(fast, Instance)
    assert len(fast.layers) == len(slow.layers)
    for a, b in zip(fast.layers, slow.layers, strict=True):
        _same(a, b)
    np.testing.assert_array_equal(fast.loss_matrix, slow.loss_matrix)
    np.testing.assert_array_equal(fast.cost_tensor, slow.cost_tensor)
    assert (fast.resources, fast.reported) == (slow.resources, slow.reported)


def _naive_objective(inst: Instance, choice: np.ndarray) -> float:
    return sum(float(item.loss[k]) for item, k in zip(inst.items, choice, strict=True))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_instance_views_match_items(seed: int, grouped: bool) -> None:
    rng = np.random.default_rng(seed)
    layers = [
        LayerProfile(
            f"l{i}",
            LEVELS,
            rng.random(6),
            10,
            costs={"flops": rng.random(6)},
            min_sparsity=0.2 if i == 0 else 0.0,
            group="g" if grouped and i < 2 else None,
        )
        for i in range(4)
    ]
    inst = validate_problem(AllocationProblem(layers, {"params": 30.0, "flops": 2.0}))
    choice = np.array([rng.integers(item.loss.size) for item in inst.items])
    np.testing.assert_allclose(inst.objective(choice), _naive_objective(inst, choice))
    naive_usage = sum(item.costs[:, k] for item, k in zip(inst.items, choice, strict=True))
    np.testing.assert_allclose(inst.usage(choice), naive_usage)
    least = sum(item.costs.min(axis=1) for item in inst.items)
    np.testing.assert_allclose(inst.min_usage(), least)
    levels = inst.level_indices(choice)
    for item, k in zip(inst.items, choice, strict=True):
        for member in item.members:
            assert levels[member] == item.first + k
    np.testing.assert_array_equal(inst.choice_from_levels(levels), choice)
