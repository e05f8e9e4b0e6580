"""The one place that maps exceptions to gRPC status codes.

* `InvalidProblemError` -> ``INVALID_ARGUMENT``: the message names the field path; the details
  carry a ``google.rpc.BadRequest`` (the field violation) and a ``google.rpc.ErrorInfo`` whose
  metadata holds ``field``, ``allowed``, ``got``, ``hint`` and ``label`` (the field shown with
  the layer's name) so a client can rebuild the error.
* `InvalidRequest` (bytes that are not the request message) -> ``INVALID_ARGUMENT``.
* `Overloaded` -> ``RESOURCE_EXHAUSTED`` with a retry hint: a ``google.rpc.RetryInfo`` detail and
  the ``grpc-retry-pushback-ms`` trailer; `NotFound` -> ``NOT_FOUND``;
  `DeadlineExceeded` -> ``DEADLINE_EXCEEDED``; `Cancelled` -> ``CANCELLED``;
  `Unavailable` -> ``UNAVAILABLE``; `Unauthenticated` -> ``UNAUTHENTICATED``.
* Anything else -> ``INTERNAL`` with an incident id; the traceback goes to the server log only.

Every value a client sent can come back in a message (a layer name, a job id): each is capped at
`ECHO_CHARS` characters (`cap`), and a whole message at `MESSAGE_CHARS`, so an error always fits
the trailers and stays ``INVALID_ARGUMENT`` (an oversize trailer turns into ``RESOURCE_EXHAUSTED``
on the client).
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from pruneplan.solver import InvalidProblemError

log = logging.getLogger("pruneplan.service")

DOMAIN = "pruneplan.v1"
INVALID_PROBLEM = "INVALID_PROBLEM"
ECHO_CHARS = 200
"""The most characters of one client value an error repeats."""
MESSAGE_CHARS = 2000
"""The most characters of one error message."""
PUSHBACK_TRAILER = "grpc-retry-pushback-ms"


def cap(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` if short, else its first ``limit`` characters, "..." and its length."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class ServiceError(Exception):
    """An error with a known status code; its message is safe to show the caller."""

    code = grpc.StatusCode.INTERNAL


class InvalidRequest(ServiceError):
    """The request bytes do not parse as the method's request message."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class Overloaded(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, retry_after_s: float = 0.1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND


class DeadlineExceeded(ServiceError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(ServiceError):
    code = grpc.StatusCode.CANCELLED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class Unauthenticated(ServiceError):
    code = grpc.StatusCode.UNAUTHENTICATED


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def capped(exc: InvalidProblemError) -> InvalidProblemError:
    """The same error with each client-given part capped (`cap`)."""
    parts = (exc.field, exc.allowed, exc.got, exc.hint, exc.label)
    if all(len(p) <= ECHO_CHARS for p in parts):
        return exc
    field, allowed, got, hint, label = (cap(p) for p in parts)
    return InvalidProblemError(field, allowed, got, hint, label=label)


def _invalid(exc: InvalidProblemError) -> status_pb2.Status:
    exc = capped(exc)
    message = cap(str(exc), MESSAGE_CHARS)
    violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=message)
    info = error_details_pb2.ErrorInfo(
        reason=INVALID_PROBLEM,
        domain=DOMAIN,
        metadata={
            "field": exc.field,
            "allowed": exc.allowed,
            "got": exc.got,
            "hint": exc.hint,
            "label": exc.label,
        },
    )
    return status_pb2.Status(
        code=code_pb2.INVALID_ARGUMENT,
        message=message,
        details=[_pack(error_details_pb2.BadRequest(field_violations=[violation])), _pack(info)],
    )


def _overloaded(exc: Overloaded) -> status_pb2.Status:
    delay = duration_pb2.Duration()
    delay.FromMilliseconds(retry_ms(exc))
    info = error_details_pb2.RetryInfo(retry_delay=delay)
    return status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED,
        message=cap(str(exc), MESSAGE_CHARS),
        details=[_pack(info)],
    )


def retry_ms(exc: Overloaded) -> int:
    """The retry hint of an overload refusal in milliseconds."""
    return max(1, round(exc.retry_after_s * 1000))


def to_status(exc: BaseException) -> status_pb2.Status:
    """The ``google.rpc.Status`` an exception becomes; logs unexpected ones."""
    if isinstance(exc, InvalidProblemError):
        return _invalid(exc)
    if isinstance(exc, Overloaded):
        return _overloaded(exc)
    if isinstance(exc, ServiceError):
        return status_pb2.Status(code=exc.code.value[0], message=cap(str(exc), MESSAGE_CHARS))
    incident = uuid.uuid4().hex[:12]
    log.error("internal error (incident %s)", incident, exc_info=exc)
    return status_pb2.Status(
        code=code_pb2.INTERNAL, message=f"internal error (incident {incident}); see the server log"
    )


def message(exc: BaseException) -> str:
    """The capped message a caller may see for ``exc`` (batch results store it)."""
    return str(to_status(exc).message)


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


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: BaseException) -> NoReturn:
    """End the call with the status ``exc`` maps to (and the retry trailer of an overload)."""
    status = rpc_status.to_status(to_status(exc))
    trailers = tuple(status.trailing_metadata)
    if isinstance(exc, Overloaded):
        trailers += ((PUSHBACK_TRAILER, str(retry_ms(exc))),)
    await context.abort(status.code, status.details, trailers)
    raise AssertionError("unreachable")  # abort raises


F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
G = TypeVar("G", bound=Callable[..., AsyncIterator[Any]])


def unary(method: F) -> F:
    """Map exceptions of an async unary servicer method to status codes."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort(context, exc)

    return wrapper  # type: ignore[return-value]


def streaming(method: G) -> G:
    """Map exceptions of an async server-streaming servicer method to status codes."""

    @functools.wraps(method)
    async def wrapper(
        self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        try:
            async for item in method(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await abort(context, exc)

    return wrapper  # type: ignore[return-value]
