"""The selection family on the wire: `SelectionProblem` and `SelectionResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from rich.table import Table

from pruneplan.solver import (
    GroupSelection,
    InvalidProblemError,
    ItemGroup,
    SelectionProblem,
    SelectionResult,
)
from pruneplan.v1 import common_pb2 as cpb
from pruneplan.v1 import selection_pb2 as spb

from ._arrays import (
    array_to_values,
    canonical_values,
    mask_to_proto,
    proto_to_mask,
    uint,
    values_to_array,
)

_DEFAULT_MIN_KEEP = 1
_DEFAULT_ROUND_TO = 1


def _tables(message: Any, tables: Mapping[str, ArrayLike] | None, raw: bool | None) -> None:
    for resource in sorted(tables or {}):
        message[resource].CopyFrom(array_to_values(tables[resource], raw=raw))  # type: ignore[index]


def _group_to_proto(group: ItemGroup, i: int, raw: bool | None) -> spb.ItemGroup:
    where = f"groups[{i}]"
    message = spb.ItemGroup(
        name=group.name,
        values=array_to_values(group.values, raw=raw),
        min_keep=uint(group.min_keep, f"{where}.min_keep"),
        round_to=uint(group.round_to, f"{where}.round_to"),
    )
    if group.max_keep is not None:
        message.max_keep = uint(group.max_keep, f"{where}.max_keep")
    _tables(message.costs, group.costs, raw)
    _tables(message.cost_by_count, group.cost_by_count, raw)
    return message


def _decoded_tables(tables: Mapping[str, cpb.Values], path: str) -> dict[str, Any] | None:
    decoded = {r: values_to_array(v, f"{path}.{r}") for r, v in sorted(tables.items())}
    return decoded or None


def _group_from_proto(message: spb.ItemGroup, path: str) -> ItemGroup:
    return ItemGroup(
        name=message.name,
        values=values_to_array(message.values, f"{path}.values"),
        costs=_decoded_tables(message.costs, f"{path}.costs"),
        cost_by_count=_decoded_tables(message.cost_by_count, f"{path}.cost_by_count"),
        min_keep=message.min_keep if message.HasField("min_keep") else _DEFAULT_MIN_KEEP,
        max_keep=message.max_keep if message.HasField("max_keep") else None,
        round_to=message.round_to if message.HasField("round_to") else _DEFAULT_ROUND_TO,
    )


def _canonical_group(group: spb.ItemGroup) -> int:
    n = canonical_values(group.values)
    elements = n
    for table in (group.costs, group.cost_by_count):
        for values in table.values():
            elements += canonical_values(values)
    if not group.HasField("min_keep"):
        group.min_keep = _DEFAULT_MIN_KEEP
    if not group.HasField("max_keep"):
        group.max_keep = n
    if not group.HasField("round_to"):
        group.round_to = _DEFAULT_ROUND_TO
    return elements


def _indices(kept: Any, n: int, path: str) -> NDArray[np.int64]:
    """``kept`` as int64 indices, each in ``[0, n)``."""
    array = np.array(kept, dtype=np.uint64)
    if array.size and int(array.max()) >= n:
        raise InvalidProblemError(path, f"item indices in [0, {n})", f"{int(array.max())}")
    return array.astype(np.int64)


def _selection_from_proto(message: spb.GroupSelection, path: str) -> GroupSelection:
    mask = proto_to_mask(message.mask, f"{path}.mask")
    if mask.ndim != 1:
        raise InvalidProblemError(f"{path}.mask.shape", "one dimension (n items)", f"{mask.shape}")
    kept = _indices(message.kept, mask.size, f"{path}.kept")
    if not np.array_equal(kept, np.flatnonzero(mask)):
        raise InvalidProblemError(f"{path}.kept", "the ascending indices set in mask", "others")
    if int(message.count) != kept.size:
        raise InvalidProblemError(f"{path}.count", f"len(kept) = {kept.size}", f"{message.count}")
    return GroupSelection(kept=kept, count=kept.size, mask=mask)


class SelectionCodec:
    """`pruneplan.solver.SelectionProblem` <-> `pruneplan.v1.SelectionProblem`."""

    name = "selection"
    problem_type = SelectionProblem
    part = "groups"

    def encode_problem(
        self, problem: SelectionProblem, *, raw: bool | None
    ) -> spb.SelectionProblem:
        return spb.SelectionProblem(
            groups=[_group_to_proto(g, i, raw) for i, g in enumerate(problem.groups)],
            budget={str(k): float(v) for k, v in problem.budget.items()},
            fingerprint=problem.fingerprint,
        )

    def decode_problem(self, message: spb.SelectionProblem, path: str) -> SelectionProblem:
        groups = [
            _group_from_proto(group, f"{path}.groups[{i}]")
            for i, group in enumerate(message.groups)
        ]
        return SelectionProblem(
            groups=groups, budget=dict(message.budget), fingerprint=message.fingerprint
        )

    def canonicalize(self, message: spb.SelectionProblem) -> int:
        return sum(_canonical_group(group) for group in message.groups)

    def parts(self, message: spb.SelectionProblem) -> int:
        return len(message.groups)

    def fingerprint(self, problem: SelectionProblem) -> str:
        return problem.fingerprint

    def encode_solution(
        self, result: SelectionResult, problem: SelectionProblem
    ) -> spb.SelectionSolution:
        groups = []
        for group in problem.groups:
            chosen = result.groups.get(group.name)
            if chosen is None:
                continue
            groups.append(
                spb.GroupSelection(
                    name=group.name,
                    kept=np.asarray(chosen.kept, dtype=np.int64).tolist(),
                    count=int(chosen.count),
                    mask=mask_to_proto(chosen.mask),
                )
            )
        return spb.SelectionSolution(groups=groups)

    def decode_result(
        self, solution: spb.SelectionSolution, header: Mapping[str, Any]
    ) -> SelectionResult:
        known = {f.name for f in fields(SelectionResult)}
        groups = {
            g.name: _selection_from_proto(g, f"selection.groups[{i}]")
            for i, g in enumerate(solution.groups)
        }
        return SelectionResult(**{k: v for k, v in header.items() if k in known}, groups=groups)

    def solver_error(self, problem: Any, error: InvalidProblemError) -> InvalidProblemError:
        return error  # the solver already names fields as the request does

    def table(self, solution: spb.SelectionSolution) -> Table:
        table = Table()
        table.add_column("group")
        for column in ("items", "kept", "kept %"):
            table.add_column(column, justify="right")
        for group in solution.groups:
            n = int(group.mask.length)
            share = f"{100.0 * group.count / n:.1f}" if n else ""
            table.add_row(group.name, str(n), str(group.count), share)
        return table
