"""All conversion between pruneplan.v1 messages and the solver's Python objects.

Client and server both use this module; it imports only protobuf, numpy and the solver's types.
Errors raise `InvalidProblemError` with the field's path in the request
(``"allocation.layers[3].loss"``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pruneplan.solver import (
    AllocationProblem,
    AllocationResult,
    Frontier,
    InvalidProblemError,
    LayerProfile,
    Status,
)
from pruneplan.v1 import allocation_pb2 as apb
from pruneplan.v1 import pruning_service_pb2 as pb

RAW_THRESHOLD = 1024
"""Arrays with at least this many numbers travel as raw ``f64le`` bytes."""

_F64LE = np.dtype("<f8")

_STATUS_TO_PB = {
    Status.OPTIMAL: apb.STATUS_OPTIMAL,
    Status.FEASIBLE: apb.STATUS_FEASIBLE,
    Status.INFEASIBLE: apb.STATUS_INFEASIBLE,
    Status.TIME_LIMIT: apb.STATUS_TIME_LIMIT,
}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}


@dataclass(frozen=True)
class SolveArgs:
    """The keyword arguments of `pruneplan.solver.allocate` carried by `SolveOptions`."""

    method: str = "auto"
    time_limit: float | None = None
    seed: int = 0
    options: Mapping[str, int | float] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``allocate(problem, **args.kwargs())``."""
        return {
            "method": self.method,
            "time_limit": self.time_limit,
            "seed": self.seed,
            **self.options,
        }


# ----------------------------------------------------------------------------------------------
# Arrays and masks


def array_to_values(array: ArrayLike, *, raw: bool | None = None) -> apb.Values:
    """Encode a 1-D float64 array; ``raw=None`` picks ``f64le`` from `RAW_THRESHOLD` numbers."""
    data = np.ascontiguousarray(array, dtype=_F64LE).reshape(-1)
    if raw is None:
        raw = data.size >= RAW_THRESHOLD
    if raw:
        return apb.Values(f64le=data.tobytes())
    return apb.Values(values=data.tolist())


def values_to_array(message: apb.Values, path: str) -> NDArray[np.float64]:
    """Decode `Values` into a read-only float64 array (no copy for ``f64le``)."""
    if message.f64le:
        if message.values:
            raise InvalidProblemError(path, "either values or f64le, not both", "both set")
        if len(message.f64le) % 8:
            raise InvalidProblemError(
                f"{path}.f64le",
                "a multiple of 8 bytes (little-endian float64)",
                f"{len(message.f64le)} bytes",
            )
        return np.frombuffer(message.f64le, dtype=_F64LE).astype(np.float64, copy=False)
    return np.array(message.values, dtype=np.float64)


def mask_to_proto(mask: ArrayLike) -> apb.BitMask:
    """Bit-pack a boolean mask (bit order "little", C order)."""
    array = np.asarray(mask, dtype=bool)
    bits = np.packbits(array.reshape(-1), bitorder="little")
    return apb.BitMask(bits=bits.tobytes(), length=array.size, shape=list(array.shape))


def proto_to_mask(message: apb.BitMask, path: str = "mask") -> NDArray[np.bool_]:
    """Unpack a `BitMask` into a boolean array of its shape."""
    length, shape = int(message.length), tuple(int(d) for d in message.shape)
    if math.prod(shape) != length:
        raise InvalidProblemError(
            f"{path}.shape", f"a shape with {length} elements (= length)", repr(shape)
        )
    if len(message.bits) != (length + 7) // 8:
        raise InvalidProblemError(
            f"{path}.bits", f"{(length + 7) // 8} bytes for {length} bits", f"{len(message.bits)}"
        )
    bits = np.frombuffer(message.bits, dtype=np.uint8)
    return np.unpackbits(bits, count=length, bitorder="little").astype(bool).reshape(shape)


# ----------------------------------------------------------------------------------------------
# Problems


def _layer_to_proto(layer: LayerProfile, raw: bool | None) -> apb.LayerProfile:
    message = apb.LayerProfile(
        name=layer.name,
        levels=array_to_values(layer.levels, raw=raw),
        loss=array_to_values(layer.loss, raw=raw),
        size=int(layer.size),
        shape=[int(d) for d in layer.shape or ()],
        min_sparsity=float(layer.min_sparsity),
        max_sparsity=float(layer.max_sparsity),
        group=layer.group or "",
    )
    for resource in sorted(layer.costs or {}):
        message.costs[resource].CopyFrom(array_to_values(layer.costs[resource], raw=raw))  # type: ignore[index]
    if layer.magnitudes is not None:
        message.magnitudes.CopyFrom(array_to_values(layer.magnitudes, raw=raw))
    return message


def problem_to_proto(
    problem: AllocationProblem, *, raw: bool | None = None
) -> apb.AllocationProblem:
    """Encode an `AllocationProblem` (arrays as ``f64le`` when ``raw``; ``None``: by size)."""
    return apb.AllocationProblem(
        layers=[_layer_to_proto(layer, raw) for layer in problem.layers],
        budget={str(k): float(v) for k, v in problem.budget.items()},
        fingerprint=problem.fingerprint,
    )


def _layer_from_proto(message: apb.LayerProfile, path: str) -> LayerProfile:
    costs = {r: values_to_array(v, f"{path}.costs.{r}") for r, v in sorted(message.costs.items())}
    magnitudes = None
    if message.HasField("magnitudes"):
        magnitudes = values_to_array(message.magnitudes, f"{path}.magnitudes")
    return LayerProfile(
        name=message.name,
        levels=values_to_array(message.levels, f"{path}.levels"),
        loss=values_to_array(message.loss, f"{path}.loss"),
        size=int(message.size),
        costs=costs or None,
        shape=tuple(int(d) for d in message.shape) or None,
        min_sparsity=message.min_sparsity if message.HasField("min_sparsity") else 0.0,
        max_sparsity=message.max_sparsity if message.HasField("max_sparsity") else 1.0,
        group=message.group or None,
        magnitudes=magnitudes,
    )


def proto_to_problem(message: apb.AllocationProblem, path: str = "allocation") -> AllocationProblem:
    """Decode an `AllocationProblem` message; the solver validates the values."""
    layers = [
        _layer_from_proto(layer, f"{path}.layers[{i}]") for i, layer in enumerate(message.layers)
    ]
    return AllocationProblem(
        layers=layers, budget=dict(message.budget), fingerprint=message.fingerprint
    )


# ----------------------------------------------------------------------------------------------
# Requests


def _option_value(value: float) -> int | float:
    return int(value) if math.isfinite(value) and value.is_integer() else value


def options_to_proto(args: SolveArgs) -> pb.SolveOptions:
    """Encode the solve arguments."""
    message = pb.SolveOptions(method=args.method, seed=int(args.seed))
    if args.time_limit is not None:
        message.time_limit_s = float(args.time_limit)
    for name, value in sorted(args.options.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise InvalidProblemError(f"options.{name}", "a number", repr(value))
        message.method_options[name] = float(value)
    return message


def proto_to_options(message: pb.SolveOptions) -> SolveArgs:
    """Decode the solve arguments (``""`` method means ``"auto"``)."""
    return SolveArgs(
        method=message.method or "auto",
        time_limit=message.time_limit_s if message.HasField("time_limit_s") else None,
        seed=int(message.seed),
        options={k: _option_value(v) for k, v in sorted(message.method_options.items())},
    )


def build_request(
    problem: AllocationProblem, args: SolveArgs, *, request_id: str = "", raw: bool | None = None
) -> pb.SolveRequest:
    """The `SolveRequest` for ``allocate(problem, **args.kwargs())``."""
    if not isinstance(problem, AllocationProblem):
        raise InvalidProblemError("problem", "an AllocationProblem", type(problem).__name__)
    return pb.SolveRequest(
        request_id=request_id,
        allocation=problem_to_proto(problem, raw=raw),
        options=options_to_proto(args),
    )


def parse_request(request: pb.SolveRequest) -> tuple[AllocationProblem, SolveArgs]:
    """Decode a `SolveRequest` into the solver's problem and arguments."""
    kind = request.WhichOneof("problem")
    if kind != "allocation":
        raise InvalidProblemError("problem", "one of: allocation", repr(kind or "nothing"))
    return proto_to_problem(request.allocation), proto_to_options(request.options)


@dataclass(frozen=True)
class Canonical:
    """A request's content in canonical form (`canonical_request`)."""

    payload: bytes
    """Deterministic `SolveRequest` bytes: no ``request_id``, every array as ``f64le``, defaults
    written out, maps sorted."""
    elements: int
    """Numbers in all arrays of the problem (for the server's size limit)."""


def _raw_values(message: apb.Values) -> int:
    """Rewrite packed ``values`` as ``f64le`` in place; the number count (both set: left as is,
    decoding reports it)."""
    if message.values:
        if message.f64le:
            return len(message.values) + len(message.f64le) // 8
        message.f64le = np.array(message.values, dtype=_F64LE).tobytes()
        message.ClearField("values")
    return len(message.f64le) // 8


def _canonical_layer(layer: apb.LayerProfile) -> int:
    elements = _raw_values(layer.levels) + _raw_values(layer.loss)
    if layer.HasField("magnitudes"):
        elements += _raw_values(layer.magnitudes)
    for values in layer.costs.values():
        elements += _raw_values(values)
    if not layer.HasField("min_sparsity"):
        layer.min_sparsity = 0.0
    if not layer.HasField("max_sparsity"):
        layer.max_sparsity = 1.0
    return elements


def canonical_request(request: pb.SolveRequest) -> Canonical:
    """The canonical form of a request, without decoding it into solver objects.

    Two requests that decode to the same problem and arguments give the same bytes, however
    their arrays were encoded and whatever their ``request_id``. Worth its keep on the server:
    it costs a tenth of decoding (a 54-layer request: ~0.1 ms when its arrays travel as
    ``f64le``), and the solver process decodes the raw arrays without copying.
    """
    canonical = pb.SolveRequest()
    canonical.CopyFrom(request)
    canonical.ClearField("request_id")
    if not canonical.options.method:
        canonical.options.method = "auto"
    elements = sum(_canonical_layer(layer) for layer in canonical.allocation.layers)
    return Canonical(canonical.SerializeToString(deterministic=True), elements)


def plan_key(canonical: bytes, solver_version: str) -> str:
    """The plan id: a content hash of the canonical request and the solver version."""
    digest = hashlib.sha256(solver_version.encode() + b"\0" + canonical).hexdigest()
    return f"p{digest[:32]}"


def remap_field(path: str) -> str:
    """The request path of a field the solver names (``layers[3].loss`` -> ``allocation...``)."""
    if path == "method":
        return "options.method"
    if path == "options.time_limit":
        return "options.time_limit_s"
    if path == "options.seed":
        return "options.seed"
    if path.startswith("options."):
        return "options.method_options." + path.removeprefix("options.")
    if path.startswith(("layers", "budget")):
        return f"allocation.{path}"
    return path


# ----------------------------------------------------------------------------------------------
# Results


def _kept(problem: AllocationProblem, result: AllocationResult) -> dict[str, int]:
    sizes = {layer.name: int(layer.size) for layer in problem.layers}
    return {name: round(sizes[name] * (1.0 - s)) for name, s in result.sparsity.items()}


def result_to_response(
    result: AllocationResult, problem: AllocationProblem, *, solver_version: str = ""
) -> pb.SolveResponse:
    """Encode an `AllocationResult`; layers in the problem's order."""
    kept = _kept(problem, result)
    layers = [
        apb.LayerResult(
            name=layer.name,
            level_index=int(result.level_index[layer.name]),
            sparsity=float(result.sparsity[layer.name]),
            kept=kept[layer.name],
        )
        for layer in problem.layers
        if layer.name in result.level_index
    ]
    response = pb.SolveResponse(
        plan_id=result.plan_id,
        status=_STATUS_TO_PB[result.status],
        layers=layers,
        objective=result.objective,
        lower_bound=result.lower_bound,
        gap=result.gap,
        usage={k: float(v) for k, v in result.usage.items()},
        limit={k: float(v) for k, v in result.limit.items()},
        method=result.method,
        solve_time_s=result.solve_time_s,
        message=result.message,
        solver_version=solver_version,
        fingerprint=result.fingerprint,
    )
    if result.frontier is not None:
        response.frontier.CopyFrom(_frontier_to_proto(result.frontier))
    return response


def _frontier_to_proto(frontier: Frontier) -> apb.Frontier:
    return apb.Frontier(
        resource=frontier.resource,
        budget=array_to_values(frontier.budget),
        objective=array_to_values(frontier.objective),
    )


def response_to_result(response: pb.SolveResponse) -> AllocationResult:
    """Decode a `SolveResponse` into the solver's `AllocationResult` (with ``plan_id``)."""
    if response.status not in _STATUS_FROM_PB:
        raise InvalidProblemError("status", "a known Status", repr(response.status))
    frontier = None
    if response.HasField("frontier"):
        f = response.frontier
        frontier = Frontier(
            resource=f.resource,
            budget=values_to_array(f.budget, "frontier.budget"),
            objective=values_to_array(f.objective, "frontier.objective"),
        )
    return AllocationResult(
        status=_STATUS_FROM_PB[response.status],
        level_index={layer.name: int(layer.level_index) for layer in response.layers},
        sparsity={layer.name: float(layer.sparsity) for layer in response.layers},
        objective=response.objective,
        lower_bound=response.lower_bound,
        gap=response.gap,
        usage=dict(response.usage),
        limit=dict(response.limit),
        method=response.method,
        solve_time_s=response.solve_time_s,
        message=response.message,
        frontier=frontier,
        plan_id=response.plan_id,
        fingerprint=response.fingerprint,
    )


def status_name(status: int) -> str:
    """``STATUS_OPTIMAL`` -> ``"OPTIMAL"``."""
    return apb.Status.Name(status).removeprefix("STATUS_")
