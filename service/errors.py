"""The one place that maps exceptions to gRPC status codes.

* `InvalidProblemError` -> ``INVALID_ARGUMENT``: the message names the field path; the details
  carry a ``google.rpc.BadRequest`` (the field violation) and a ``google.rpc.ErrorInfo`` whose
  metadata holds ``field``, ``allowed``, ``got`` and ``hint`` so a client can rebuild the error.
* `Overloaded` -> ``RESOURCE_EXHAUSTED``; `NotFound` -> ``NOT_FOUND``;
  `DeadlineExceeded` -> ``DEADLINE_EXCEEDED``; `Cancelled` -> ``CANCELLED``;
  `Unavailable` -> ``UNAVAILABLE``.
* Anything else -> ``INTERNAL`` with an incident id; the traceback goes to the server log only.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from pruneplan.solver import InvalidProblemError

log = logging.getLogger("pruneplan.service")

DOMAIN = "pruneplan.v1"
INVALID_PROBLEM = "INVALID_PROBLEM"


class ServiceError(Exception):
    """An error with a known status code; its message is safe to show the caller."""

    code = grpc.StatusCode.INTERNAL


class Overloaded(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(ServiceError):
    code = grpc.StatusCode.CANCELLED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def _invalid(exc: InvalidProblemError) -> status_pb2.Status:
    violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=str(exc))
    info = error_details_pb2.ErrorInfo(
        reason=INVALID_PROBLEM,
        domain=DOMAIN,
        metadata={"field": exc.field, "allowed": exc.allowed, "got": exc.got, "hint": exc.hint},
    )
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=str(exc),
        details=[_pack(error_details_pb2.BadRequest(field_violations=[violation])), _pack(info)],
    )


def to_status(exc: BaseException) -> status_pb2.Status:
    """The ``google.rpc.Status`` an exception becomes; logs unexpected ones."""
    if isinstance(exc, InvalidProblemError):
        return _invalid(exc)
    if isinstance(exc, ServiceError):
        return status_pb2.Status(code=exc.code.value[0], message=str(exc))
    incident = uuid.uuid4().hex[:12]
    log.error("internal error (incident %s)", incident, exc_info=exc)
    return status_pb2.Status(
        code=code_pb2.INTERNAL, message=f"internal error (incident {incident}); see the server log"
    )


def code_name(exc: BaseException) -> str:
    """The status code name an exception maps to (for batch results): ``"INVALID_ARGUMENT"``."""
    return to_code(exc).name


def to_code(exc: BaseException) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` of an exception, without logging."""
    if isinstance(exc, InvalidProblemError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, ServiceError):
        return exc.code
    return grpc.StatusCode.INTERNAL


def abort(context: grpc.ServicerContext, exc: BaseException) -> NoReturn:
    """End the call with the status ``exc`` maps to."""
    context.abort_with_status(rpc_status.to_status(to_status(exc)))
    raise AssertionError("unreachable")  # abort_with_status raises


F = TypeVar("F", bound=Callable[..., Any])


def unary(method: F) -> F:
    """Map exceptions of a unary servicer method to status codes."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            abort(context, exc)

    return wrapper  # type: ignore[return-value]


def streaming(method: F) -> F:
    """Map exceptions of a server-streaming servicer method to status codes."""

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from method(self, request, context)
        except Exception as exc:
            abort(context, exc)

    return wrapper  # type: ignore[return-value]
