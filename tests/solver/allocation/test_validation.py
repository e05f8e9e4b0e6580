"""Bad input: every case raises `InvalidProblemError` with the exact message."""

from __future__ import annotations

import math
import pickle
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from pruneplan.solver import AllocationProblem, InvalidProblemError, LayerProfile, allocate

LEVELS = [0.0, 0.5, 0.9]
LOSS = [0.0, 0.1, 0.4]


def _layer(name: str = "a", **changes: Any) -> LayerProfile:
    return replace(LayerProfile(name, LEVELS, LOSS, 100), **changes)


def _problem(*layers: LayerProfile, budget: dict[str, float] | None = None) -> AllocationProblem:
    layers = layers or (_layer("a"), _layer("b"))
    return AllocationProblem(list(layers), {"params": 100.0} if budget is None else budget)


def _raises(problem: AllocationProblem, message: str, **kwargs: Any) -> InvalidProblemError:
    with pytest.raises(InvalidProblemError, match=f"^{re.escape(message)}$") as info:
        allocate(problem, **kwargs)
    return info.value


# (id, the problem, the exact message)
PROBLEMS: list[tuple[str, AllocationProblem, str]] = [
    (
        "loss-nan",
        _problem(_layer(loss=[0.0, math.nan, 0.4])),
        'layers[0] ("a").loss: must be finite and >= 0; got nan at index 1.',
    ),
    (
        "loss-inf",
        _problem(_layer(), _layer("b", loss=[0.0, 0.1, math.inf])),
        'layers[1] ("b").loss: must be finite and >= 0; got inf at index 2.',
    ),
    (
        "loss-negative",
        _problem(_layer(loss=[0.0, -0.1, 0.4])),
        'layers[0] ("a").loss: must be finite and >= 0; got -0.1 at index 1.',
    ),
    (
        "levels-nan",
        _problem(_layer(levels=[0.0, math.nan, 0.9])),
        'layers[0] ("a").levels: must be finite; got nan at index 1.',
    ),
    (
        "levels-not-ascending",
        _problem(_layer(levels=[0.0, 0.5, 0.5])),
        'layers[0] ("a").levels: must be strictly ascending; got 0.5 at index 2 after 0.5.',
    ),
    (
        "levels-descending",
        _problem(_layer(levels=[0.0, 0.9, 0.5])),
        'layers[0] ("a").levels: must be strictly ascending; got 0.5 at index 2 after 0.9.',
    ),
    (
        "levels-above-1",
        _problem(_layer(levels=[0.0, 0.5, 1.5])),
        'layers[0] ("a").levels: must be in [0, 1]; got 1.5 at index 2.',
    ),
    (
        "levels-below-0",
        _problem(_layer(levels=[-0.1, 0.5, 0.9])),
        'layers[0] ("a").levels: must be in [0, 1]; got -0.1 at index 0.',
    ),
    (
        "levels-empty",
        _problem(_layer(levels=[], loss=[])),
        'layers[0] ("a").levels: must be at least one level; got an empty sequence.',
    ),
    (
        "levels-scalar",
        _problem(_layer(levels=0.5, loss=[0.0])),
        'layers[0] ("a").levels: must be a 1-D sequence of numbers; got shape ().',
    ),
    (
        "levels-text",
        _problem(_layer(levels=["a", "b"])),
        "layers[0] (\"a\").levels: must be a 1-D sequence of numbers; got ['a', 'b'].",
    ),
    (
        "loss-length",
        _problem(_layer(loss=[0.0, 0.1])),
        'layers[0] ("a").loss: must be one value per level (3 values); got 2 values.',
    ),
    (
        "costs-length",
        _problem(_layer(costs={"flops": [3.0, 2.0]})),
        'layers[0] ("a").costs.flops: must be one value per level (3 values); got 2 values.',
    ),
    (
        "costs-negative",
        _problem(_layer(costs={"flops": [3.0, -2.0, 1.0]})),
        'layers[0] ("a").costs.flops: must be finite and >= 0; got -2.0 at index 1.',
    ),
    (
        "costs-not-mapping",
        _problem(_layer(costs=[1.0, 2.0, 3.0])),
        'layers[0] ("a").costs: must be None or a mapping of resource -> per-level cost; '
        "got [1.0, 2.0, 3.0].",
    ),
    (
        "magnitudes-length",
        _problem(_layer(magnitudes=[0.0, 1.0])),
        'layers[0] ("a").magnitudes: must be one value per level (3 values); got 2 values.',
    ),
    (
        "magnitudes-falling",
        _problem(_layer(magnitudes=[0.0, 2.0, 1.0])),
        'layers[0] ("a").magnitudes: must be non-decreasing (a sparser level cuts at a larger '
        "magnitude); got 1.0 at index 2 after 2.0.",
    ),
    (
        "size-zero",
        _problem(_layer(size=0)),
        'layers[0] ("a").size: must be an integer in [1, 9007199254740992]; got 0.',
    ),
    (
        "size-float",
        _problem(_layer(size=100.0)),
        'layers[0] ("a").size: must be an integer in [1, 9007199254740992]; got 100.0.',
    ),
    (
        "shape-size-mismatch",
        _problem(_layer(shape=(10, 11))),
        'layers[0] ("a").shape: must be a shape with 100 elements (= size); got (10, 11) with 110.',
    ),
    (
        "shape-not-a-tuple",
        _problem(_layer(shape=100)),
        'layers[0] ("a").shape: must be a non-empty tuple of integers >= 1; got 100.',
    ),
    (
        "duplicate-names",
        _problem(_layer("a"), _layer("b"), _layer("a")),
        "layers[2].name: must be unique (layers[0] has it too); got 'a'.",
    ),
    (
        "empty-name",
        _problem(_layer("")),
        "layers[0].name: must be a non-empty string; got ''.",
    ),
    (
        "not-a-layer",
        AllocationProblem([{"name": "a"}], {"params": 1.0}),  # type: ignore[list-item]
        "layers[0]: must be a LayerProfile; got dict.",
    ),
    (
        "empty-problem",
        AllocationProblem([], {"params": 1.0}),
        "layers: must be at least one layer; got an empty sequence.",
    ),
    (
        "fingerprint-not-a-string",
        AllocationProblem([_layer()], {"params": 100.0}, fingerprint=5),  # type: ignore[arg-type]
        "fingerprint: must be a string; got 5.",
    ),
    (
        "unknown-resource",
        _problem(budget={"flops": 10.0}),
        "budget: must be keyed by a resource the layers define (params); got 'flops'.",
    ),
    (
        "resource-missing-on-a-layer",
        _problem(_layer(costs={"flops": [3.0, 2.0, 1.0]}), _layer("b"), budget={"flops": 5.0}),
        "layers[1] (\"b\").costs: must be a cost for every budgeted resource (missing 'flops'); "
        "got resources ['params'].",
    ),
    (
        "budget-zero",
        _problem(budget={"params": 0.0}),
        "budget.params: must be a finite number > 0; got 0.0.",
    ),
    (
        "budget-negative",
        _problem(budget={"params": -5}),
        "budget.params: must be a finite number > 0; got -5.0.",
    ),
    (
        "budget-nan",
        _problem(budget={"params": math.nan}),
        "budget.params: must be a finite number > 0; got nan.",
    ),
    (
        "budget-inf",
        _problem(budget={"params": math.inf}),
        "budget.params: must be a finite number > 0; got inf.",
    ),
    (
        "budget-text",
        _problem(budget={"params": "100"}),  # type: ignore[dict-item]
        "budget.params: must be a finite number > 0; got '100'.",
    ),
    (
        "budget-empty",
        _problem(budget={}),
        "budget: must be a non-empty mapping of resource -> maximum total; got {}.",
    ),
    (
        "min-above-max",
        _problem(_layer(min_sparsity=0.8, max_sparsity=0.5)),
        'layers[0] ("a").min_sparsity: must be <= max_sparsity (0.5); got 0.8.',
    ),
    (
        "max-above-1",
        _problem(_layer(max_sparsity=1.5)),
        'layers[0] ("a").max_sparsity: must be in [0, 1]; got 1.5.',
    ),
    (
        "min-nan",
        _problem(_layer(min_sparsity=math.nan)),
        'layers[0] ("a").min_sparsity: must be in [0, 1]; got nan.',
    ),
    (
        "no-level-within-bounds",
        _problem(_layer(min_sparsity=0.6, max_sparsity=0.8)),
        'layers[0] ("a").levels: must be at least one level in [min_sparsity, max_sparsity] = '
        "[0.6, 0.8]; got levels from 0.0 to 0.9.",
    ),
    (
        "group-different-levels",
        _problem(_layer(group="g"), _layer("b", levels=[0.0, 0.5, 0.8], group="g")),
        'layers[1] ("b").levels: must be the same levels as layers[0] '
        "('a'), which shares group 'g'; got 3 levels differing from it.",
    ),
    (
        "group-bounds-disjoint",
        _problem(_layer(group="g", max_sparsity=0.5), _layer("b", group="g", min_sparsity=0.9)),
        'layers[0] ("a").group: must be a group whose members'
        "' [min_sparsity, max_sparsity] overlap on a level; got group 'g' with common range "
        "[0.9, 0.5].",
    ),
    (
        "group-empty-name",
        _problem(_layer(group="")),
        "layers[0] (\"a\").group: must be None or a non-empty string; got ''.",
    ),
]


@pytest.mark.parametrize(
    ("problem", "message"), [p[1:] for p in PROBLEMS], ids=[p[0] for p in PROBLEMS]
)
def test_bad_problem_raises_exact_message(problem: AllocationProblem, message: str) -> None:
    _raises(problem, message)


# (id, allocate keywords, the exact message)
OPTIONS: list[tuple[str, dict[str, Any], str]] = [
    (
        "unknown-method",
        {"method": "greedy"},
        "method: must be one of auto, exact, dp, lagrangian, milp, uniform, erk, "
        "global_magnitude, lamp, random; got 'greedy'.",
    ),
    (
        "time-limit-zero",
        {"time_limit": 0},
        "options.time_limit: must be None or a number in (0, inf); got 0.",
    ),
    (
        "time-limit-negative",
        {"time_limit": -1.5},
        "options.time_limit: must be None or a number in (0, inf); got -1.5.",
    ),
    (
        "time-limit-inf",
        {"time_limit": math.inf},
        "options.time_limit: must be None or a number in (0, inf); got inf.",
    ),
    (
        "seed-negative",
        {"seed": -1},
        "options.seed: must be an integer in [0, 9223372036854775807]; got -1.",
    ),
    (
        "seed-float",
        {"seed": 1.5},
        "options.seed: must be an integer in [0, 9223372036854775807]; got 1.5.",
    ),
    (
        "buckets-zero",
        {"method": "dp", "buckets": 0},
        "options.buckets: must be an integer in [2, 10000000]; got 0.",
    ),
    (
        "n-samples-zero",
        {"method": "random", "n_samples": 0},
        "options.n_samples: must be an integer in [1, 10000000]; got 0.",
    ),
    (
        "n-samples-bool",
        {"method": "random", "n_samples": True},
        "options.n_samples: must be an integer in [1, 10000000]; got True.",
    ),
    (
        "unknown-option",
        {"method": "random", "buckets": 10},
        "options.buckets: must be an option of method 'random' (n_samples); got an unknown option.",
    ),
    (
        "option-of-another-method",
        {"method": "uniform", "n_samples": 10},
        "options.n_samples: must be an option of method 'uniform' (none); got an unknown option.",
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "message"), [o[1:] for o in OPTIONS], ids=[o[0] for o in OPTIONS]
)
def test_bad_option_raises_exact_message(kwargs: dict[str, Any], message: str) -> None:
    _raises(_problem(), message, **kwargs)


@pytest.mark.parametrize(
    ("method", "field", "message"),
    [
        (
            "erk",
            "layers[1].shape",
            "layers[1] (\"b\").shape: must be given for method 'erk' (ERK density is proportional "
            "to sum(shape) / prod(shape)); got None.",
        ),
        (
            "global_magnitude",
            "layers[1].magnitudes",
            "layers[1] (\"b\").magnitudes: must be given for method 'global_magnitude' "
            "(the weight magnitude at which levels cut); got None.",
        ),
        (
            "lamp",
            "layers[1].magnitudes",
            "layers[1] (\"b\").magnitudes: must be given for method 'lamp' "
            "(LAMP scores come from the cut magnitudes); got None.",
        ),
    ],
)
def test_baseline_missing_field(method: str, field: str, message: str) -> None:
    layers = [_layer("a", shape=(10, 10), magnitudes=[0.0, 1.0, 2.0]), _layer("b")]
    error = _raises(_problem(*layers), message, method=method)
    assert error.field == field


def test_error_subclasses_value_error_and_carries_field() -> None:
    assert issubclass(InvalidProblemError, ValueError)
    error = _raises(
        _problem(_layer(), _layer("b", loss=[0.0, -1.0, 0.0])),
        'layers[1] ("b").loss: must be finite and >= 0; got -1.0 at index 1.',
    )
    assert error.field == "layers[1].loss"
    assert (error.allowed, error.got) == ("finite and >= 0", "-1.0 at index 1")
    with pytest.raises(ValueError, match=re.escape("budget.params")):
        allocate(_problem(budget={"params": -1.0}))


def test_messages_name_the_layer_and_fields_stay_plain_paths() -> None:
    layers = [_layer(f"blocks.{i}.w") for i in range(5)]
    layers[3] = _layer("blocks.3.w", loss=[0.0, 0.1, math.nan])
    error = _raises(
        _problem(*layers),
        'layers[3] ("blocks.3.w").loss: must be finite and >= 0; got nan at index 2.',
    )
    assert (error.field, error.label) == ("layers[3].loss", 'layers[3] ("blocks.3.w").loss')
    quoted = _layer('say "hi"', size=0)
    error = _raises(
        _problem(quoted),
        'layers[0] ("say \\"hi\\"").size: must be an integer in [1, 9007199254740992]; got 0.',
    )
    assert error.field == "layers[0].size"


def test_errors_survive_pickling() -> None:
    error = _raises(
        _problem(_layer(), _layer("b", loss=[0.0, -1.0, 0.0])),
        'layers[1] ("b").loss: must be finite and >= 0; got -1.0 at index 1.',
    )
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.field, again.label) == (str(error), error.field, error.label)


def test_numpy_values_print_as_plain_numbers() -> None:
    _raises(
        _problem(_layer(loss=np.array([0.0, np.nan, 1.0], dtype=np.float32))),
        'layers[0] ("a").loss: must be finite and >= 0; got nan at index 1.',
    )
    _raises(
        _problem(),
        "options.seed: must be an integer in [0, 9223372036854775807]; got -3.",
        seed=np.int64(-3),
    )


def test_valid_edge_values_are_accepted() -> None:
    layers = [
        _layer("a", levels=np.array([0.0, 1.0]), loss=(0.0, 1.0), shape=[10, 10]),
        _layer("b", min_sparsity=0.5, max_sparsity=0.5, magnitudes=[0.0, 1.0, 1.0]),
    ]
    result = allocate(_problem(*layers, budget={"params": 1e9}), time_limit=1e9, seed=0)
    assert dict(result.sparsity) == {"a": 0.0, "b": 0.5}
