"""Prometheus metrics: requests by method and code, latency, solve time by method, queue depth.

Each server has its own registry (several servers can live in one process, as in the tests);
`Metrics.serve` exposes it on ``--metrics-port``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from .guard import Context, Continuation, Handler, wrap

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The server's metric families in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pruneplan_requests",
            "RPCs handled, by method and status code.",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pruneplan_request_latency_seconds",
            "RPC latency (to the last message), by method.",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.solve_time = Histogram(
            "pruneplan_solve_time_seconds",
            "Solver wall time of fresh solves (not cache hits), by solver method.",
            ["solver_method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "pruneplan_queue_depth",
            "Solves admitted and waiting for a solver process.",
            registry=self.registry,
        )
        self.open_streams = Gauge(
            "pruneplan_open_streams",
            "Calls with streamed responses open now (health Watch included).",
            registry=self.registry,
        )
        self._http: Any = None

    def observe_solve(self, method: str, seconds: float) -> None:
        self.solve_time.labels(method).observe(seconds)

    def track_queue(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def track_streams(self, count: Callable[[], float]) -> None:
        self.open_streams.set_function(count)

    def serve(self, host: str, port: int) -> int:
        """Expose ``/metrics`` over HTTP; returns the bound port."""
        self._http, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def record(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.requests.labels(method, code.name).inc()
        self.latency.labels(method).observe(seconds)


def _code(context: Context, failure: BaseException | None) -> grpc.StatusCode:
    if isinstance(failure, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpcio versions give the number
        return next((c for c in grpc.StatusCode if c.value[0] == code), grpc.StatusCode.UNKNOWN)
    return grpc.StatusCode.UNKNOWN if failure is not None else grpc.StatusCode.OK


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Counts and times every RPC, including those the auth and stream bounds reject."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def intercept_service(  # type: ignore[override]
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method.rsplit("/", 1)[-1]

        @contextlib.asynccontextmanager
        async def timed(context: Context) -> AsyncIterator[None]:
            start, failure = time.perf_counter(), None
            try:
                yield
            except BaseException as exc:
                failure = exc
                raise
            finally:
                code = _code(context, failure)
                self.metrics.record(method, code, time.perf_counter() - start)

        return wrap(handler, timed)
