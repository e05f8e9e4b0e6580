"""Bad input: errors name the group and item, the allowed values and what was received."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pruneplan.solver import InvalidProblemError
from pruneplan.solver.selection import ItemGroup, SelectionProblem, select


def _ok(**kw: object) -> ItemGroup:
    fields: dict[str, object] = {"values": [1.0, 2.0, 3.0], "costs": {"flops": [1.0, 1.0, 2.0]}}
    fields.update(kw)
    return ItemGroup(str(fields.pop("name", "conv1")), **fields)  # type: ignore[arg-type]


CASES = [
    ([_ok(values=[1.0, math.nan, 2.0])], {"flops": 2.0}, "groups[0].values", "item 1"),
    ([_ok(values=[1.0, 2.0, math.inf])], {"flops": 2.0}, "groups[0].values", "item 2"),
    ([_ok(costs={"flops": [1.0, -1.0, 2.0]})], {"flops": 2.0}, "groups[0].costs.flops", "item 1"),
    ([_ok(costs={"flops": [1.0, 2.0]})], {"flops": 2.0}, "groups[0].costs.flops", "3 values"),
    ([_ok(costs=None, cost_by_count={"lat": [0, 1, 2]})], {"lat": 2.0},
     "groups[0].cost_by_count.lat", "4 values"),
    ([_ok(costs=None, cost_by_count={"lat": [0, 1, math.nan, 3]})], {"lat": 2.0},
     "groups[0].cost_by_count.lat", "kept count 2"),
    ([_ok(min_keep=4)], {"flops": 2.0}, "groups[0].min_keep", "[0, 3]"),
    ([_ok(round_to=0)], {"flops": 2.0}, "groups[0].round_to", ">= 1"),
    ([_ok(max_keep=1, min_keep=2)], {"flops": 2.0}, "groups[0].max_keep", "[2, 3]"),
    ([_ok(min_keep=1, max_keep=2, round_to=5)], {"flops": 2.0}, "groups[0].round_to", "multiple"),
    ([_ok()], {"latency": 2.0}, "budget", "'latency'"),
    ([_ok()], {"flops": -1.0}, "budget.flops", "> 0"),
    ([_ok(), _ok()], {"flops": 2.0}, "groups[1].name", "groups[0] has it too"),
    ([_ok(values=[])], {"flops": 2.0}, "groups[0].values", "at least one item"),
]  # fmt: skip


@pytest.mark.parametrize(("groups", "budget", "field", "detail"), CASES)
def test_bad_input_names_the_field(
    groups: list[ItemGroup], budget: dict[str, float], field: str, detail: str
) -> None:
    with pytest.raises(InvalidProblemError) as info:
        select(SelectionProblem(groups, budget))
    assert info.value.field == field
    assert detail in str(info.value)


def test_nan_names_the_group_by_name() -> None:
    with pytest.raises(InvalidProblemError, match=r"Group 'layer1\.0\.conv1', item 1"):
        select(SelectionProblem([_ok(name="layer1.0.conv1", values=[0, np.nan, 1])], {"flops": 1}))


def test_unknown_method_and_option() -> None:
    problem = SelectionProblem([_ok()], {"flops": 2.0})
    with pytest.raises(InvalidProblemError, match="one of auto, exact"):
        select(problem, method="knapsack")
    with pytest.raises(InvalidProblemError, match=r"options\.buckets"):
        select(problem, buckets=3)
    with pytest.raises(InvalidProblemError, match="time_limit"):
        select(problem, time_limit=-1.0)
