"""Bearer-token authentication as a server interceptor, checked before a request is parsed.

Every RPC needs ``authorization: Bearer <token>`` metadata (the scheme in any case, the token
compared in constant time), except the health service, which load balancers and orchestrators
probe without credentials, and reflection when the server opens it (``--open-reflection``).
A refused call never parses its request: the denial handler takes the raw bytes.
"""

from __future__ import annotations

import hmac
from typing import Any

import grpc
import grpc.aio

from .errors import Unauthenticated, abort
from .guard import Context, Continuation, Handler

OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
REFLECTION_PREFIXES = (
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
DENIED = "missing or invalid bearer token (metadata 'authorization: Bearer <token>')"


def read_token(path: str) -> str:
    """The token in ``path`` (surrounding whitespace stripped); refuses an empty file."""
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    if not token:
        raise ValueError(f"token file {path!r} is empty")
    return token


def bearer(value: str | bytes) -> bytes | None:
    """The credential of an ``authorization`` value whose scheme is ``Bearer`` (any case)."""
    text = value.encode() if isinstance(value, str) else bytes(value)
    scheme, _, credential = text.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return credential.strip()


def _deny(handler: Handler) -> Handler:
    """A handler that refuses at once without reading the request: as a client-streaming
    handler it never pulls the message in (HTTP/2 flow control then keeps a big body mostly
    unsent), whatever the method's own kind; the client cannot tell."""

    async def refuse(requests: Any, context: Context) -> Any:
        await abort(context, Unauthenticated(DENIED))

    streams = handler.unary_stream is not None or handler.stream_stream is not None
    factory = (
        grpc.stream_stream_rpc_method_handler if streams else grpc.stream_unary_rpc_method_handler
    )
    return factory(refuse, None, handler.response_serializer)


class TokenInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Rejects calls without the right bearer token with ``UNAUTHENTICATED``."""

    def __init__(self, token: str, *, open_reflection: bool = False) -> None:
        self._expected = token.encode()
        self._open = OPEN_PREFIXES + (REFLECTION_PREFIXES if open_reflection else ())

    def _authorized(self, details: grpc.HandlerCallDetails) -> bool:
        metadata = details.invocation_metadata or ()
        for key, value in metadata:
            if key == "authorization":
                given = bearer(value)
                return given is not None and hmac.compare_digest(given, self._expected)
        return False

    async def intercept_service(  # type: ignore[override]
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        method: str = handler_call_details.method
        handler = await continuation(handler_call_details)
        if handler is None or method.startswith(self._open):
            return handler
        if self._authorized(handler_call_details):
            return handler
        return _deny(handler)
