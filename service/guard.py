"""Wrapping gRPC method handlers, and the bound on open streams per peer and in total.

`wrap` puts an async context manager around any handler of the asyncio server (unary or
streaming, generator or ``context.write`` style) without changing its (de)serializers: the metrics
and the stream bound use it. A stream costs no thread while idle (the server is asyncio), but each
holds memory and an HTTP/2 stream, so `StreamLimits` caps how many are open: past the bound a new
stream ends at once with ``RESOURCE_EXHAUSTED``.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeAlias

import grpc
import grpc.aio

from .errors import Overloaded, abort

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Around: TypeAlias = "Callable[[Context], AbstractAsyncContextManager[None]]"
Continuation: TypeAlias = "Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]]"

_FACTORIES = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def kind(handler: Handler) -> str:
    """``"unary_unary"``, ``"unary_stream"``, ``"stream_unary"`` or ``"stream_stream"``."""
    for name in _FACTORIES:
        if getattr(handler, name) is not None:
            return name
    raise ValueError("a method handler without a behaviour")


def rebuild(handler: Handler, behavior: Callable[..., Any], *, raw: bool = False) -> Handler:
    """A handler of the same kind and (de)serializers with another behaviour (``raw``: taking
    the request as bytes, unparsed)."""
    factory: Any = _FACTORIES[kind(handler)]
    deserializer = None if raw else handler.request_deserializer
    return factory(behavior, deserializer, handler.response_serializer)  # type: ignore[no-any-return]


def wrap(handler: Handler, around: Around) -> Handler:
    """``handler`` with every call inside ``around(context)``."""
    behavior: Any = getattr(handler, kind(handler))
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: Context) -> AsyncIterator[Any]:
            async with around(context):
                async for item in behavior(request, context):
                    yield item

        return rebuild(handler, stream)

    async def call(request: Any, context: Context) -> Any:
        async with around(context):
            return await behavior(request, context)

    return rebuild(handler, call)


def peer_host(peer: str) -> str:
    """The address of ``context.peer()`` without its port: ``"ipv4:127.0.0.1"``."""
    family, _, address = peer.partition(":")
    if family in ("ipv4", "ipv6") and ":" in address:
        address = address.rsplit(":", 1)[0]
    return f"{family}:{address}"


class StreamLimits(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """At most ``total`` open streams, ``per_peer`` from one address; the excess is refused.

    Counts calls whose responses stream (health ``Watch``, ``SolveStream``, ``ListJobResults``,
    reflection). Runs on the server's event loop only, so plain counters suffice.
    """

    def __init__(self, total: int, per_peer: int) -> None:
        self.total = total
        self.per_peer = per_peer
        self.open = 0
        self._by_peer: collections.Counter[str] = collections.Counter()

    async def intercept_service(  # type: ignore[override]
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None or kind(handler) not in ("unary_stream", "stream_stream"):
            return handler
        return wrap(handler, self._hold)

    @contextlib.asynccontextmanager
    async def _hold(self, context: Context) -> AsyncIterator[None]:
        peer = peer_host(context.peer())
        if self.open >= self.total or self._by_peer[peer] >= self.per_peer:
            await abort(
                context,
                Overloaded(
                    f"too many open streams (at most {self.per_peer} per client address and "
                    f"{self.total} in all); close some and retry",
                    retry_after_s=1.0,
                ),
            )
        self.open += 1
        self._by_peer[peer] += 1
        try:
            yield
        finally:
            self.open -= 1
            self._by_peer[peer] -= 1
            if not self._by_peer[peer]:
                del self._by_peer[peer]
