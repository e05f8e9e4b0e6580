"""The measured search on the wire: options, candidates, measurements, history, curves.

Shared by the server (`pruneplan.service.search`) and the client. A candidate travels as one
level index per layer in the problem's order; names and sparsities come back from the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pruneplan.solver import AllocationProblem, InvalidProblemError
from pruneplan.solver.search import (
    Candidate,
    Measurement,
    Record,
    SearchOptions,
    SearchState,
)
from pruneplan.v1 import search_pb2 as spb

from ._arrays import array_to_values, values_to_array

__all__ = [
    "candidate_from_proto",
    "candidate_to_proto",
    "curves_from_proto",
    "curves_to_proto",
    "measurement_to_proto",
    "measurements_from_proto",
    "options_from_proto",
    "options_to_proto",
    "record_from_proto",
    "record_to_proto",
    "state_from_proto",
    "state_to_proto",
]

_STATES = {
    SearchState.RUNNING: spb.SEARCH_STATE_RUNNING,
    SearchState.DONE: spb.SEARCH_STATE_DONE,
    SearchState.CANCELLED: spb.SEARCH_STATE_CANCELLED,
}
_STATES_BACK: dict[int, SearchState] = {int(v): k for k, v in _STATES.items()}
_DEFAULTS = SearchOptions()


def state_to_proto(state: SearchState) -> spb.SearchState:
    return _STATES[state]


def state_from_proto(state: int) -> SearchState:
    if state not in _STATES_BACK:
        raise InvalidProblemError("state", "a known SearchState", repr(state))
    return _STATES_BACK[state]


def options_to_proto(options: SearchOptions | None) -> spb.SearchOptions:
    """Every field written out (the server then needs no defaults of its own)."""
    o = options or _DEFAULTS
    return spb.SearchOptions(
        evaluations=int(o.evaluations),
        modes=list(o.modes),
        candidates=[int(c) for c in o.candidates],
        samples=[int(s) for s in o.samples or ()],
        max_swaps=int(o.max_swaps),
        perturbation=float(o.perturbation),
        resolve_method=o.resolve_method,
        seed=int(o.seed),
    )


def options_from_proto(message: spb.SearchOptions) -> SearchOptions:
    """Unset fields take `SearchOptions`' defaults (checked by the session)."""
    d = _DEFAULTS
    return SearchOptions(
        evaluations=message.evaluations if message.HasField("evaluations") else d.evaluations,
        modes=tuple(message.modes) or d.modes,
        candidates=tuple(message.candidates) or d.candidates,
        samples=tuple(message.samples) or None,
        max_swaps=message.max_swaps if message.HasField("max_swaps") else d.max_swaps,
        perturbation=message.perturbation if message.HasField("perturbation") else d.perturbation,
        resolve_method=message.resolve_method or d.resolve_method,
        seed=message.seed,
    )


def candidate_to_proto(candidate: Candidate, problem: AllocationProblem) -> spb.SearchCandidate:
    return spb.SearchCandidate(
        candidate_id=candidate.candidate_id,
        level_index=[int(candidate.level_index[layer.name]) for layer in problem.layers],
        usage={k: float(v) for k, v in candidate.usage.items()},
        predicted=candidate.predicted,
        samples=candidate.samples,
        sample_set=candidate.sample_set,
        generation=candidate.generation,
        stage=candidate.stage,
        mode=candidate.mode,
    )


def candidate_from_proto(message: spb.SearchCandidate, problem: AllocationProblem) -> Candidate:
    if len(message.level_index) != len(problem.layers):
        raise InvalidProblemError(
            "level_index",
            f"one level index per layer ({len(problem.layers)})",
            f"{len(message.level_index)} values",
        )
    levels = [int(k) for k in message.level_index]
    pairs = list(zip(problem.layers, levels, strict=True))
    return Candidate(
        candidate_id=int(message.candidate_id),
        level_index={layer.name: k for layer, k in pairs},
        sparsity={
            layer.name: float(np.asarray(layer.levels, dtype=np.float64)[k]) for layer, k in pairs
        },
        usage=dict(message.usage),
        predicted=message.predicted,
        samples=int(message.samples),
        sample_set=int(message.sample_set),
        generation=int(message.generation),
        stage=int(message.stage),
        mode=message.mode,
    )


def record_to_proto(record: Record, problem: AllocationProblem) -> spb.SearchRecord:
    return spb.SearchRecord(
        candidate=candidate_to_proto(record.candidate, problem),
        measured=record.measured,
        samples=record.samples,
        incumbent=record.incumbent,
    )


def record_from_proto(message: spb.SearchRecord, problem: AllocationProblem) -> Record:
    return Record(
        candidate=candidate_from_proto(message.candidate, problem),
        measured=message.measured,
        samples=int(message.samples),
        incumbent=message.incumbent,
    )


def measurement_to_proto(item: Measurement | Sequence[Any]) -> spb.SearchMeasurement:
    """A `Measurement` or ``(candidate_id, measured, samples)`` as its message."""
    if isinstance(item, Measurement):
        cid, measured, samples = item.candidate_id, item.measured, item.samples
    else:
        cid, measured, samples = item
    return spb.SearchMeasurement(
        candidate_id=int(cid), measured=float(measured), samples=int(samples)
    )


def measurements_from_proto(
    messages: Iterable[spb.SearchMeasurement],
) -> list[tuple[int, float, int]]:
    return [(int(m.candidate_id), m.measured, int(m.samples)) for m in messages]


def curves_to_proto(curves: Mapping[str, ArrayLike]) -> list[spb.LayerCurve]:
    return [
        spb.LayerCurve(name=name, loss=array_to_values(loss, raw=True))
        for name, loss in curves.items()
    ]


def curves_from_proto(messages: Sequence[spb.LayerCurve]) -> dict[str, Any]:
    """Loss by layer name; a name given twice is refused (``curves[i].name``)."""
    out: dict[str, Any] = {}
    for i, message in enumerate(messages):
        if message.name in out:
            raise InvalidProblemError(
                f"curves[{i}].name", "a layer name not given before", repr(message.name)
            )
        out[message.name] = values_to_array(message.loss, f"curves[{i}].loss")
    return out
