"""The transport family on the wire: `TransportProblem` and `TransportResult`.

The solver keys its arrays by group name (``scores["fc"]``); the wire has one `TransportGroup`
per group, in order, so the solver's error paths are rewritten onto the groups
(``scores['fc']`` -> ``groups[1].scores``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from rich.table import Table

from pruneplan.solver import InvalidProblemError
from pruneplan.solver.transport import TransportProblem, TransportResult
from pruneplan.v1 import transport_pb2 as tpb

from ._arrays import (
    array_to_values,
    canonical_values,
    mask_to_proto,
    proto_to_mask,
    values_to_array,
)

_REG_TYPES = {"entropy": tpb.REG_TYPE_ENTROPY, "l2": tpb.REG_TYPE_L2}
_REG_NAMES = {v: k for k, v in _REG_TYPES.items()}
_DEFAULT_REG: float = TransportProblem.reg
_DEFAULT_REG_TYPE: str = TransportProblem.reg_type
"""The solver's defaults, written out by the canonical form."""
_RESULT_FIELDS = {f.name for f in dataclasses.fields(TransportResult)}

_GROUP_FIELD = re.compile(r"^(scores|weights|budget|min_keep|max_keep)\[(.+?)\](.*)$", re.S)
"""A solver path into one group's entry of a mapping: ``weights['fc']`` or ``scores['fc'].x``."""
_WHOLE = {"scores": "groups", "weights": "groups", "min_keep": "groups", "max_keep": "groups"}
"""Solver fields that name every group at once (a wrong set of keys, no groups)."""


def _per_group(field: str, value: object, names: list[str]) -> Mapping[str, Any]:
    """A solver mapping of ``field`` (None: empty), refused where its keys are not groups."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not set(value) <= set(names):
        raise InvalidProblemError(field, f"None or a mapping over the groups {names}", repr(value))
    return value


def _group_to_proto(problem: TransportProblem, name: str, raw: bool | None) -> tpb.TransportGroup:
    message = tpb.TransportGroup(name=name, scores=array_to_values(problem.scores[name], raw=raw))
    if problem.weights is not None:
        message.weights.CopyFrom(array_to_values(problem.weights[name], raw=raw))
    if isinstance(problem.budget, Mapping):
        message.budget = float(problem.budget[name])
    names = list(problem.scores)
    for field in ("min_keep", "max_keep"):
        shares = _per_group(field, getattr(problem, field), names)
        if name in shares:
            setattr(message, field, float(shares[name]))
    return message


def _check_keys(problem: TransportProblem) -> list[str]:
    names = list(problem.scores)
    for field in ("weights", "budget"):
        value = getattr(problem, field)
        if isinstance(value, Mapping) and set(value) != set(names):
            raise InvalidProblemError(field, f"a mapping with the groups {names}", repr(value))
    return names


def _budget(message: tpb.TransportProblem, path: str) -> float | dict[str, float]:
    """The total, or the per-group budgets; refused when neither or both are given."""
    own = [g.HasField("budget") for g in message.groups]
    if message.HasField("budget"):
        if any(own):
            i = own.index(True)
            raise InvalidProblemError(
                f"{path}.groups[{i}].budget", "unset when the total budget is set", "a value"
            )
        return message.budget
    if own and all(own):
        return {g.name: g.budget for g in message.groups}
    if any(own):
        i = own.index(False)
        raise InvalidProblemError(
            f"{path}.groups[{i}].budget", "set on every group (per-group budgets) or none", "unset"
        )
    raise InvalidProblemError(
        f"{path}.budget", "set (the total kept mass), or a budget on every group", "unset"
    )


def _unique(message: tpb.TransportProblem, path: str) -> list[str]:
    seen: dict[str, int] = {}
    for i, group in enumerate(message.groups):
        if group.name in seen:
            raise InvalidProblemError(
                f"{path}.groups[{i}].name",
                f"unique (groups[{seen[group.name]}] has it too)",
                repr(group.name),
            )
        seen[group.name] = i
    return list(seen)


def _weights(
    message: tpb.TransportProblem, path: str, scores: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Per-group weights; a group without them has 1 per element (if any group has them)."""
    if not any(g.HasField("weights") for g in message.groups):
        return None
    return {
        g.name: values_to_array(g.weights, f"{path}.groups[{i}].weights")
        if g.HasField("weights")
        else np.ones(np.size(scores[g.name]))
        for i, g in enumerate(message.groups)
    }


def _reg_type(message: tpb.TransportProblem, path: str) -> str:
    if message.reg_type == tpb.REG_TYPE_UNSPECIFIED:
        return _DEFAULT_REG_TYPE
    if message.reg_type not in _REG_NAMES:
        allowed = ", ".join(tpb.RegType.Name(v) for v in _REG_NAMES)
        raise InvalidProblemError(f"{path}.reg_type", f"one of {allowed}", repr(message.reg_type))
    return _REG_NAMES[message.reg_type]


class TransportCodec:
    """`pruneplan.solver.transport.TransportProblem` <-> `pruneplan.v1.TransportProblem`."""

    name = "transport"
    problem_type = TransportProblem
    part = "groups"

    def encode_problem(
        self, problem: TransportProblem, *, raw: bool | None
    ) -> tpb.TransportProblem:
        if problem.reg_type not in _REG_TYPES:
            allowed = f"one of {', '.join(_REG_TYPES)}"
            raise InvalidProblemError("reg_type", allowed, repr(problem.reg_type))
        names = _check_keys(problem)
        message = tpb.TransportProblem(
            groups=[_group_to_proto(problem, name, raw) for name in names],
            reg=float(problem.reg),
            reg_type=_REG_TYPES[problem.reg_type],
        )
        if not isinstance(problem.budget, Mapping):
            message.budget = float(problem.budget)
        return message

    def decode_problem(self, message: tpb.TransportProblem, path: str) -> TransportProblem:
        _unique(message, path)
        scores = {
            g.name: values_to_array(g.scores, f"{path}.groups[{i}].scores")
            for i, g in enumerate(message.groups)
        }
        shares = {
            field: {g.name: getattr(g, field) for g in message.groups if g.HasField(field)}
            for field in ("min_keep", "max_keep")
        }
        return TransportProblem(
            scores=scores,
            budget=_budget(message, path),
            weights=_weights(message, path, scores),
            reg=message.reg if message.HasField("reg") else _DEFAULT_REG,
            reg_type=_reg_type(message, path),
            min_keep=shares["min_keep"] or None,
            max_keep=shares["max_keep"] or None,
        )

    def canonicalize(self, message: tpb.TransportProblem) -> int:
        elements = 0
        for group in message.groups:
            elements += canonical_values(group.scores)
            if group.HasField("weights"):
                elements += canonical_values(group.weights)
        if not message.HasField("reg"):
            message.reg = _DEFAULT_REG
        if message.reg_type == tpb.REG_TYPE_UNSPECIFIED:
            message.reg_type = _REG_TYPES[_DEFAULT_REG_TYPE]
        return elements

    def parts(self, message: tpb.TransportProblem) -> int:
        return len(message.groups)

    def fingerprint(self, problem: TransportProblem) -> str:
        return ""

    def solver_error(
        self, problem: TransportProblem, error: InvalidProblemError
    ) -> InvalidProblemError:
        """``scores['fc']`` -> ``groups[i].scores`` (label ``groups[i] ("fc").scores``)."""
        index = {repr(name): (i, name) for i, name in enumerate(problem.scores)}
        field = error.field
        shares = getattr(problem, field, None) if field in ("min_keep", "max_keep") else None
        if isinstance(shares, Mapping) and shares:  # the bounds as a whole: the first group's
            field = f"{field}[{next(iter(k for k in problem.scores if k in shares))!r}]"
        elif field in _WHOLE:
            return InvalidProblemError(_WHOLE[field], error.allowed, error.got, error.hint)
        match = _GROUP_FIELD.match(field)
        if match is None or match[2] not in index:
            return error
        field, key, rest = match.groups()
        i, name = index[key]
        where = f"groups[{i}]"
        label = f'{where} ("{name}").{field}{rest}'
        return InvalidProblemError(
            f"{where}.{field}{rest}", error.allowed, error.got, error.hint, label=label
        )

    def encode_solution(
        self, result: TransportResult, problem: TransportProblem
    ) -> tpb.TransportSolution:
        groups = [
            tpb.TransportGroupResult(
                name=name,
                soft_mask=array_to_values(result.soft_mask[name]),
                hard_mask=mask_to_proto(result.hard_mask[name]),
                threshold=float(result.threshold[name]),
                kept=float(result.kept[name]),
            )
            for name in result.soft_mask
        ]
        return tpb.TransportSolution(
            groups=groups, budget_error=result.budget_error, iterations=result.iterations
        )

    def decode_result(
        self, solution: tpb.TransportSolution, header: Mapping[str, Any]
    ) -> TransportResult:
        groups = list(enumerate(solution.groups))
        return TransportResult(
            **{k: v for k, v in header.items() if k in _RESULT_FIELDS},
            soft_mask={
                g.name: values_to_array(g.soft_mask, f"groups[{i}].soft_mask") for i, g in groups
            },
            hard_mask={
                g.name: proto_to_mask(g.hard_mask, f"groups[{i}].hard_mask") for i, g in groups
            },
            threshold={g.name: g.threshold for _, g in groups},
            kept={g.name: g.kept for _, g in groups},
            budget_error=solution.budget_error,
            iterations=int(solution.iterations),
        )

    def table(self, solution: tpb.TransportSolution) -> Table:
        table = Table()
        table.add_column("group")
        for column in ("elements", "hard kept", "kept mass", "threshold"):
            table.add_column(column, justify="right")
        for group in solution.groups:
            hard = proto_to_mask(group.hard_mask)
            table.add_row(
                group.name,
                str(hard.size),
                str(int(hard.sum())),
                f"{group.kept:.6g}",
                f"{group.threshold:.6g}",
            )
        return table
