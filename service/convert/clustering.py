"""The clustering family on the wire: `ClusteringProblem` and `ClusteringResult`.

The solver's union-typed targets travel as two fields each: ``offset`` (one number for every
group) or ``offset_by_group`` (a mapping), ``n_clusters`` or ``n_clusters_by_group``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.table import Table

from pruneplan.solver import (
    ClusterGroup,
    ClusteringProblem,
    ClusteringResult,
    InvalidProblemError,
)
from pruneplan.v1 import clustering_pb2 as kpb

from ._arrays import (
    canonical_matrix,
    canonical_values,
    fill_matrix,
    fill_values,
    proto_to_matrix,
    uint,
    values_to_array,
)

_MATRIX = "an (n, d) matrix of numbers with rows of one length"


def _features(features: object, path: str) -> NDArray[np.float64]:
    try:
        matrix = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidProblemError(path, _MATRIX, type(features).__name__) from None
    if matrix.ndim != 2:
        raise InvalidProblemError(path, _MATRIX, f"shape {matrix.shape}")
    return matrix


def _fill_group(message: kpb.ClusterGroup, group: ClusterGroup, i: int, raw: bool | None) -> None:
    message.name = group.name
    fill_matrix(message.features, _features(group.features, f"groups[{i}].features"), raw=raw)
    if group.importance is not None:
        fill_values(message.importance, group.importance, raw=raw)


def _group_from_proto(message: kpb.ClusterGroup, path: str) -> ClusterGroup:
    importance = None
    if message.HasField("importance"):
        importance = values_to_array(message.importance, f"{path}.importance")
    features = proto_to_matrix(message.features, f"{path}.features")
    return ClusterGroup(name=message.name, features=features, importance=importance)


def _number(value: object, field: str) -> float:
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise InvalidProblemError(field, "a finite number", repr(value))


def _set_target(
    message: kpb.ClusteringProblem, name: str, value: object, kind: Callable[[object, str], Any]
) -> None:
    """Set ``name`` (a scalar) or ``name_by_group`` (a mapping) from the solver's value."""
    if value is None:
        return
    if isinstance(value, Mapping):
        by_group = {str(k): kind(v, f"{name}[{k!r}]") for k, v in value.items()}
        getattr(message, f"{name}_by_group").update(by_group)
    else:
        setattr(message, name, kind(value, name))


def _target(message: kpb.ClusteringProblem, name: str, path: str) -> Any:
    """The solver's value of ``name``: the scalar, the mapping, or ``None``."""
    by_group = getattr(message, f"{name}_by_group")
    if message.HasField(name) and by_group:
        raise InvalidProblemError(
            f"{path}.{name}_by_group", f"unset when {name} is set (one target)", "both set"
        )
    if by_group:
        return dict(sorted(by_group.items()))
    return getattr(message, name) if message.HasField(name) else None


def _labels(values: Any, path: str) -> NDArray[np.int64]:
    array = np.array(values, dtype=np.uint64)
    if array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise InvalidProblemError(path, "indices below 2^63", f"{int(array.max())}")
    return array.astype(np.int64)


class ClusteringCodec:
    """`pruneplan.solver.ClusteringProblem` <-> `pruneplan.v1.ClusteringProblem`."""

    name = "clustering"
    problem_type = ClusteringProblem
    part = "groups"

    def encode_problem(
        self, problem: ClusteringProblem, *, raw: bool | None
    ) -> kpb.ClusteringProblem:
        message = kpb.ClusteringProblem()
        for i, group in enumerate(problem.groups):  # in place: features can be large
            _fill_group(message.groups.add(), group, i, raw)
        _set_target(message, "offset", problem.offset, _number)
        _set_target(message, "n_clusters", problem.n_clusters, uint)
        if problem.keep_budget is not None:
            message.keep_budget = uint(problem.keep_budget, "keep_budget")
        return message

    def decode_problem(self, message: kpb.ClusteringProblem, path: str) -> ClusteringProblem:
        groups = [
            _group_from_proto(group, f"{path}.groups[{i}]")
            for i, group in enumerate(message.groups)
        ]
        return ClusteringProblem(
            groups=groups,
            offset=_target(message, "offset", path),
            n_clusters=_target(message, "n_clusters", path),
            keep_budget=message.keep_budget if message.HasField("keep_budget") else None,
        )

    def canonicalize(self, message: kpb.ClusteringProblem) -> int:
        elements = 0
        for group in message.groups:
            elements += canonical_matrix(group.features)
            if group.HasField("importance"):
                elements += canonical_values(group.importance)
        return elements

    def parts(self, message: kpb.ClusteringProblem) -> int:
        return len(message.groups)

    def fingerprint(self, problem: ClusteringProblem) -> str:
        return ""

    def encode_solution(
        self, result: ClusteringResult, problem: ClusteringProblem
    ) -> kpb.ClusteringSolution:
        groups = [
            kpb.GroupClusters(
                name=g.name,
                labels=np.asarray(result.labels[g.name], dtype=np.int64).tolist(),
                representatives=np.asarray(result.representatives[g.name], np.int64).tolist(),
                merge=np.asarray(result.merge[g.name], dtype=np.int64).tolist(),
                offset=float(result.offset[g.name]),
                n_clusters=int(result.n_clusters[g.name]),
            )
            for g in problem.groups
            if g.name in result.labels
        ]
        return kpb.ClusteringSolution(groups=groups)

    def decode_result(
        self, solution: kpb.ClusteringSolution, header: Mapping[str, Any]
    ) -> ClusteringResult:
        known = {f.name for f in fields(ClusteringResult)}
        labels, representatives, merge = {}, {}, {}
        for i, g in enumerate(solution.groups):
            path = f"clustering.groups[{i}]"
            labels[g.name] = _labels(g.labels, f"{path}.labels")
            representatives[g.name] = _labels(g.representatives, f"{path}.representatives")
            merge[g.name] = _labels(g.merge, f"{path}.merge")
        return ClusteringResult(
            **{k: v for k, v in header.items() if k in known},
            labels=labels,
            representatives=representatives,
            merge=merge,
            offset={g.name: float(g.offset) for g in solution.groups},
            n_clusters={g.name: int(g.n_clusters) for g in solution.groups},
        )

    def solver_error(self, problem: Any, error: InvalidProblemError) -> InvalidProblemError:
        return error  # the solver already names fields as the request does

    def table(self, solution: kpb.ClusteringSolution) -> Table:
        table = Table()
        table.add_column("group")
        for column in ("elements", "clusters", "merged", "offset"):
            table.add_column(column, justify="right")
        for g in solution.groups:
            n = len(g.labels)
            table.add_row(
                g.name, str(n), str(g.n_clusters), str(n - g.n_clusters), f"{g.offset:.6g}"
            )
        return table
