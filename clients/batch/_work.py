"""The unit of work every engine runs: one request (a message or a JSON line) -> its outcome.

A payload is a serialized `SolveRequest` (bytes) or its canonical JSON (str); the outcome has
the same form: the serialized `SolveResponse`, or the response as one line of JSON, or a
`BatchError`. Engines move payloads and outcomes, never messages, so what crosses a process or
a Ray object store is plain bytes and strings.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from google.protobuf import json_format

from pruneplan.service.dispatch import solve_request
from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

Payload = bytes | str
"""A serialized `SolveRequest`, or its protobuf JSON."""

Tag = Hashable
"""What the caller identifies a task by (a request id, or ``(request_id, line)``)."""


@dataclass(frozen=True)
class BatchError:
    """Why one request of a batch has no response.

    ``kind`` is a gRPC status code name (``"INVALID_ARGUMENT"``, ``"INTERNAL"``, ...) or one of
    the batch's own: ``"PARSE_ERROR"`` (the line is not a `SolveRequest`) and
    ``"DUPLICATE_ID"``. ``field`` is the path of the field at fault (``""`` if none).
    """

    kind: str
    field: str
    message: str


Outcome = bytes | str | BatchError
"""A serialized `SolveResponse` (bytes payload), its JSON (str payload), or the error."""

_UNKNOWN_FIELD = re.compile(r'no field named "([^"]+)" at "SolveRequest\.?([^"]*)"')
_AT_PATH = re.compile(r" at SolveRequest\.([\w.\[\]]+)")
_FAILED_FIELD = re.compile(r"Failed to parse (\w+) field")


def _parse_error_field(text: str) -> str:
    """The request path a protobuf JSON parse error names, as far as its message tells."""
    if match := _UNKNOWN_FIELD.search(text):
        name, parent = match.groups()
        return f"{parent}.{name}" if parent else name
    if match := _AT_PATH.search(text):
        return match.group(1).rstrip(".")
    return ".".join(_FAILED_FIELD.findall(text))


def parse_error(exc: Exception) -> BatchError:
    """A `BatchError` for a line that does not parse as a `SolveRequest` (with the field)."""
    text = str(exc).split("\n", 1)[0]
    return BatchError("PARSE_ERROR", _parse_error_field(text), text)


def invalid_argument(field: str, message: str) -> BatchError:
    return BatchError("INVALID_ARGUMENT", field, message)


def parse_payload(payload: Payload) -> pb.SolveRequest:
    """The `SolveRequest` of a payload; raises ``json_format.ParseError`` or ``DecodeError``."""
    if isinstance(payload, str):
        return json_format.Parse(payload, pb.SolveRequest())
    return pb.SolveRequest.FromString(payload)


def response_json(response: pb.SolveResponse) -> str:
    """One line of protobuf JSON with the proto's field names."""
    return json_format.MessageToJson(response, preserving_proto_field_name=True, indent=None)


def encode_outcome(response: pb.SolveResponse, as_json: bool) -> bytes | str:
    return response_json(response) if as_json else response.SerializeToString()


def solve_payload(payload: Payload) -> Outcome:
    """Solve one request through `pruneplan.service.dispatch.solve_request`."""
    try:
        request = parse_payload(payload)
    except Exception as exc:  # ParseError, DecodeError: the input's fault
        return parse_error(exc)
    try:
        response = solve_request(request)
    except InvalidProblemError as exc:
        return invalid_argument(exc.field, str(exc))
    except Exception as exc:  # a solver bug: recorded, the batch goes on
        return BatchError("INTERNAL", "", f"{type(exc).__name__}: {exc}")
    return encode_outcome(response, isinstance(payload, str))


def solve_chunk(chunk: Sequence[tuple[Tag, Payload]]) -> list[tuple[Tag, Outcome]]:
    """Solve a chunk of tasks in order (what a pool process or a Ray task runs)."""
    return [(tag, solve_payload(payload)) for tag, payload in chunk]


def chunks(
    tasks: Iterable[tuple[Tag, Payload]], max_tasks: int, max_bytes: int = 1 << 20
) -> Iterator[list[tuple[Tag, Payload]]]:
    """Group tasks into lists of at most ``max_tasks`` tasks and about ``max_bytes`` of payload
    (so many small problems share one pickling round trip, and large ones go alone)."""
    chunk: list[tuple[Tag, Payload]] = []
    size = 0
    for task in tasks:
        chunk.append(task)
        size += len(task[1])
        if len(chunk) >= max_tasks or size >= max_bytes:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk
