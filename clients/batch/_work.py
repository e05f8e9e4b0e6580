"""The unit of work every engine runs: one request (a message or a JSON line) -> its outcome.

A payload is a serialized `SolveRequest` (bytes) or its canonical JSON (str); the outcome has
the same form: the serialized `SolveResponse`, or the response as one line of JSON, or a
`BatchError`. Engines move payloads and outcomes, never messages, so what crosses a process or
a Ray object store is plain bytes and strings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from google.protobuf import json_format

from pruneplan.service.dispatch import solve_request
from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

from ._json import parse_json

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
"""A serialized `SolveResponse` (bytes payload), its JSON (str payload: as text, or as UTF-8
bytes, which is what `solve_payload` returns so that pool processes and Ray tasks hand the driver
the bytes it writes), or the error."""

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
        return parse_json(payload, pb.SolveRequest())
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
    if isinstance(payload, str):  # UTF-8 here, in the worker: the driver copies it as it is
        return response_json(response).encode()
    return response.SerializeToString()


def solve_chunk(chunk: Sequence[tuple[Tag, Payload]]) -> list[tuple[Tag, Outcome]]:
    """Solve a chunk of tasks in order (what a pool process or a Ray task runs)."""
    return [(tag, solve_payload(payload)) for tag, payload in chunk]


def timed_chunk(chunk: Sequence[tuple[Tag, Payload]]) -> tuple[list[tuple[Tag, Outcome]], float]:
    """`solve_chunk` and the seconds it took (for `Chunker.observe`)."""
    start = time.perf_counter()
    return solve_chunk(chunk), time.perf_counter() - start


class Chunker:
    """Groups tasks into chunks that take about ``target_s`` each, from the solve times seen so
    far: many small problems share one round trip, and large ones go alone, so the last chunks
    do not leave cores idle. ``fixed`` tasks per chunk instead, when given.
    """

    FIRST = 2
    """Tasks in the first chunks, before any solve time is known."""

    def __init__(
        self, target_s: float, max_tasks: int, fixed: int | None = None, max_bytes: int = 1 << 20
    ) -> None:
        self.target_s = target_s
        self.max_tasks = max_tasks
        self.max_bytes = max_bytes
        self.size = fixed or self.FIRST
        self.fixed = fixed is not None
        self._per_task: float | None = None

    def observe(self, tasks: int, seconds: float) -> None:
        """Learn from a finished chunk of ``tasks`` that took ``seconds``."""
        if self.fixed or tasks == 0:
            return
        per_task = max(seconds / tasks, 1e-6)
        if self._per_task is not None:
            per_task = 0.7 * self._per_task + 0.3 * per_task
        self._per_task = per_task
        self.size = int(min(self.max_tasks, max(1, self.target_s / per_task)))

    def chunks(self, tasks: Iterable[tuple[Tag, Payload]]) -> Iterator[list[tuple[Tag, Payload]]]:
        """Lists of at most the current ``size`` tasks and about ``max_bytes`` of payload."""
        chunk: list[tuple[Tag, Payload]] = []
        size = 0
        for task in tasks:
            chunk.append(task)
            size += len(task[1])
            if len(chunk) >= self.size or size >= self.max_bytes:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk
