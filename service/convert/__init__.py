"""All conversion between pruneplan.v1 messages and the solver's Python objects.

One codec per problem family (`CODECS`, keyed by the ``problem`` oneof field); this module
holds what they share: requests, the certificate header, the canonical form, plan ids and
field paths. Client and server both use it; it imports only protobuf, numpy, rich and the
solver's public types. Errors raise `InvalidProblemError` with the field's path in the request
(``"allocation.layers[3].loss"``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import Any

from pruneplan.solver import Certificate, InvalidProblemError, Status
from pruneplan.v1 import common_pb2 as cpb
from pruneplan.v1 import pruning_service_pb2 as pb

from ._arrays import RAW_THRESHOLD, array_to_values, mask_to_proto, proto_to_mask, values_to_array
from ._codec import Codec
from ._options import SolveArgs, read_args, write_args
from .allocation import AllocationCodec
from .clustering import ClusteringCodec
from .selection import SelectionCodec
from .transport import TransportCodec

__all__ = [
    "CODECS",
    "RAW_THRESHOLD",
    "Canonical",
    "Codec",
    "SolveArgs",
    "array_to_values",
    "build_request",
    "canonical_request",
    "codec_for",
    "mask_to_proto",
    "parse_request",
    "plan_key",
    "proto_to_mask",
    "request_path",
    "response_to_result",
    "result_to_response",
    "status_name",
    "values_to_array",
]

CODECS: dict[str, Codec] = {
    codec.name: codec
    for codec in (AllocationCodec(), SelectionCodec(), TransportCodec(), ClusteringCodec())
}
"""Every problem family's codec by its ``SolveRequest.problem`` field."""

_STATUS_TO_PB = {
    Status.OPTIMAL: cpb.STATUS_OPTIMAL,
    Status.FEASIBLE: cpb.STATUS_FEASIBLE,
    Status.INFEASIBLE: cpb.STATUS_INFEASIBLE,
    Status.TIME_LIMIT: cpb.STATUS_TIME_LIMIT,
}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}

_REQUEST_FIELDS = ("method", "time_limit", "seed", "options")
"""Fields the solver names that are the request's own, not the problem's."""


def _families() -> str:
    return ", ".join(CODECS)


def codec_for(problem: object) -> Codec:
    """The codec of a solver problem object."""
    for codec in CODECS.values():
        if isinstance(problem, codec.problem_type):
            return codec
    names = ", ".join(c.problem_type.__name__ for c in CODECS.values())
    raise InvalidProblemError("problem", f"one of {names}", type(problem).__name__)


def _request_codec(request: pb.SolveRequest) -> Codec:
    kind = request.WhichOneof("problem")
    if kind is None or kind not in CODECS:
        raise InvalidProblemError("problem", f"one of: {_families()}", repr(kind or "nothing"))
    return CODECS[kind]


def request_path(kind: str, path: str) -> str:
    """The request path of a field the solver names: problem fields under the family's field
    (``layers[3].loss`` -> ``allocation.layers[3].loss``), the request's own as they are."""
    head = path.split(".", 1)[0].split("[", 1)[0]
    return path if head in _REQUEST_FIELDS else f"{kind}.{path}"


def build_request(
    problem: object, args: SolveArgs, *, request_id: str = "", raw: bool | None = None
) -> pb.SolveRequest:
    """The `SolveRequest` for ``solve(problem, **args.kwargs())``."""
    codec = codec_for(problem)
    request = pb.SolveRequest(request_id=request_id)
    getattr(request, codec.name).CopyFrom(codec.encode_problem(problem, raw=raw))
    write_args(request, args)
    return request


def parse_request(request: pb.SolveRequest) -> tuple[Codec, Any, SolveArgs]:
    """Decode a `SolveRequest` into its codec, the solver's problem and the arguments."""
    codec = _request_codec(request)
    problem = codec.decode_problem(getattr(request, codec.name), codec.name)
    return codec, problem, read_args(request)


@dataclass(frozen=True)
class Canonical:
    """A request's content in canonical form (`canonical_request`)."""

    payload: bytes
    """Deterministic `SolveRequest` bytes: no ``request_id``, every array as ``f64le``, defaults
    written out, maps sorted."""
    elements: int
    """Numbers in all arrays of the problem (for the server's size limit)."""
    parts: int
    """Layers or groups of the problem (for the server's size limit)."""
    parts_path: str
    """The request path of those parts (``"allocation.layers"``)."""


def canonical_request(request: pb.SolveRequest) -> Canonical:
    """The canonical form of a request, without decoding it into solver objects.

    Two requests that decode to the same problem and arguments give the same bytes, however
    their arrays were encoded and whatever their ``request_id``. Worth its keep on the server:
    it costs a tenth of decoding (a 54-layer request: ~0.1 ms when its arrays travel as
    ``f64le``), and the solver process decodes the raw arrays without copying.
    """
    codec = _request_codec(request)
    canonical = pb.SolveRequest()
    canonical.CopyFrom(request)
    canonical.ClearField("request_id")
    if not canonical.method:
        canonical.method = "auto"
    message = getattr(canonical, codec.name)
    elements = codec.canonicalize(message)
    payload = canonical.SerializeToString(deterministic=True)
    return Canonical(payload, elements, codec.parts(message), f"{codec.name}.{codec.part}")


def plan_key(canonical: bytes, solver_version: str) -> str:
    """The plan id: a content hash of the canonical request and the solver version."""
    digest = hashlib.sha256(solver_version.encode() + b"\0" + canonical).hexdigest()
    return f"p{digest[:32]}"


def result_to_response(
    result: Any, problem: object, *, solver_version: str = ""
) -> pb.SolveResponse:
    """Encode any family's result (``problem`` is the one it solved)."""
    codec = codec_for(problem)
    certificate = cpb.Certificate(
        status=_STATUS_TO_PB[result.status],
        objective=result.objective,
        lower_bound=result.lower_bound,
        gap=result.gap,
        usage={k: float(v) for k, v in result.usage.items()},
        limit={k: float(v) for k, v in result.limit.items()},
        method=result.method,
        solve_time_s=result.solve_time_s,
        message=result.message,
    )
    response = pb.SolveResponse(
        plan_id=getattr(result, "plan_id", ""),
        certificate=certificate,
        solver_version=solver_version,
        fingerprint=codec.fingerprint(problem),
    )
    getattr(response, codec.name).CopyFrom(codec.encode_solution(result, problem))
    return response


def response_to_result(response: pb.SolveResponse) -> Any:
    """Decode a `SolveResponse` into its family's result (with ``plan_id``)."""
    kind = response.WhichOneof("solution")
    if kind is None or kind not in CODECS:
        raise InvalidProblemError("solution", f"one of: {_families()}", repr(kind or "nothing"))
    c = response.certificate
    if c.status not in _STATUS_FROM_PB:
        raise InvalidProblemError("certificate.status", "a known Status", repr(c.status))
    header: dict[str, Any] = {f.name: getattr(c, f.name) for f in fields(Certificate)}
    header.update(
        status=_STATUS_FROM_PB[c.status],
        usage=dict(c.usage),
        limit=dict(c.limit),
        plan_id=response.plan_id,
        fingerprint=response.fingerprint,
    )
    return CODECS[kind].decode_result(getattr(response, kind), header)


def status_name(status: int) -> str:
    """``STATUS_OPTIMAL`` -> ``"OPTIMAL"``."""
    return cpb.Status.Name(status).removeprefix("STATUS_")
