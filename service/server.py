"""The pruneplan gRPC server: `ServerConfig`, `create_server` and the ``serve`` entry point.

>>> server, port = create_server(ServerConfig(db=":memory:"))   # doctest: +SKIP
>>> ...                                                         # started; talk to 127.0.0.1:port
>>> server.stop(grace=5).wait()                                 # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from pruneplan.v1 import pruning_service_pb2 as pb

from .auth import TokenInterceptor, read_token
from .guard import StreamLimits
from .jobs import JobRunner
from .metrics import Metrics, MetricsInterceptor
from .offload import Offload
from .planner import Limits, Planner
from .pool import SolverPool
from .servicer import PruningServicer, handlers
from .store import PlanStore
from .version import solver_version

log = logging.getLogger("pruneplan.service")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["PruningService"].full_name
REFLECTION_V1 = "grpc.reflection.v1.ServerReflection"
MIB = 1 << 20
T = TypeVar("T")


@dataclass(frozen=True)
class ServerConfig:
    """Every setting of the server (the ``pruneplan serve`` flags)."""

    host: str = "127.0.0.1"
    port: int = 0
    workers: int = max(1, os.cpu_count() or 1)
    """Solver processes (concurrent solves)."""
    db: str | os.PathLike[str] = "pruneplan.db"
    """SQLite file of the plan store (``":memory:"`` for none)."""
    token_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    """Require client certificates signed by this CA (mTLS)."""
    insecure: bool = False
    """Allow a non-loopback host without auth and TLS."""
    metrics_port: int | None = None
    """Serve Prometheus metrics on this port (0: any free port) of ``host``."""
    max_message_bytes: int = 256 * MIB
    max_layers: int = 100_000
    max_elements: int = 32 * MIB
    """Numbers in all arrays of one problem."""
    max_batch: int = 10_000
    queue_size: int = 64
    """Solves waiting for a solver process beyond ``workers``; more -> RESOURCE_EXHAUSTED."""
    inline_max_elements: int = 0
    """Solve problems with at most this many numbers in their arrays on the RPC's own thread
    instead of the solver pool (0: never). Saves the pipe round trip; such solves share this
    process's GIL and cannot be killed mid-solve, so keep it to problems that take milliseconds."""
    grace_s: float = 10.0
    """Seconds in-flight calls get to finish at shutdown."""
    rpc_threads: int = 8
    """Threads for store lookups and batch submissions. Solves get ``workers + queue_size``
    threads of their own (the admission bound); streams and health checks need none."""
    max_streams: int = 1000
    """Open calls with streamed responses (health Watch too) at once; more -> RESOURCE_EXHAUSTED."""
    max_streams_per_peer: int = 100
    """Open streams from one client address."""
    open_reflection: bool = False
    """Serve reflection without the bearer token (it lists the service and its messages)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_config(config: ServerConfig) -> None:
    """Refuse unsafe or inconsistent settings with a message that says what to change."""
    secured = config.token_file is not None or config.tls_cert is not None
    if not _is_loopback(config.host) and not secured and not config.insecure:
        raise ValueError(
            f"refusing to listen on non-loopback host {config.host!r} without --token-file or "
            "--tls-cert; pass --insecure to do it anyway"
        )
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ValueError("--tls-cert and --tls-key go together")
    if config.tls_client_ca is not None and config.tls_cert is None:
        raise ValueError("--tls-client-ca (mTLS) needs --tls-cert and --tls-key")
    if config.metrics_port is not None and not _is_loopback(config.host) and not config.insecure:
        raise ValueError(
            f"refusing to serve metrics (plain HTTP, no auth) on non-loopback host "
            f"{config.host!r}; pass --insecure to do it anyway"
        )
    if config.workers < 1 or config.queue_size < 0 or config.inline_max_elements < 0:
        raise ValueError("--workers must be >= 1, --queue-size and --inline-max-elements >= 0")
    if min(config.rpc_threads, config.max_streams, config.max_streams_per_peer) < 1:
        raise ValueError("rpc_threads, max_streams and max_streams_per_peer must be >= 1")


def _credentials(config: ServerConfig) -> grpc.ServerCredentials | None:
    if config.tls_cert is None or config.tls_key is None:
        return None
    key, cert = Path(config.tls_key).read_bytes(), Path(config.tls_cert).read_bytes()
    client_ca = Path(config.tls_client_ca).read_bytes() if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


class _Loop:
    """An asyncio event loop on its own thread (the server's; callers stay synchronous)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="pruneplan-grpc")
        self._thread.daemon = True
        self._thread.start()

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


def _reflection_v1(servicer: Any) -> grpc.GenericRpcHandler[Any, Any]:
    """``grpc.reflection.v1`` (grpcio ships v1alpha only; the messages are the same on the
    wire), so clients that try v1 first (grpcurl) need no fallback."""
    method = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        reflection_pb2.ServerReflectionRequest.FromString,
        reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    return grpc.method_handlers_generic_handler(REFLECTION_V1, {"ServerReflectionInfo": method})


class Server:
    """A started gRPC server (asyncio, on its own loop thread) with its solver pool, plan store,
    jobs and metrics."""

    def __init__(self, config: ServerConfig) -> None:
        check_config(config)
        self.config = config
        self.metrics = Metrics()
        self.store = PlanStore(config.db)
        self.pool = SolverPool(config.workers, config.queue_size)
        self.metrics.track_queue(lambda: self.pool.queue_depth)
        limits = Limits(config.max_layers, config.max_elements, config.max_batch)
        self.planner = Planner(
            self.pool,
            self.store,
            limits,
            solver_version(),
            self.metrics,
            inline_max_elements=config.inline_max_elements,
        )
        self.jobs = JobRunner(self.planner, self.store, config.workers)
        self.offload = Offload(config.workers + config.queue_size, config.rpc_threads)
        self.streams = StreamLimits(config.max_streams, config.max_streams_per_peer)
        self.metrics.track_streams(lambda: self.streams.open)
        self._loop = _Loop()
        self.health = health_aio.HealthServicer()
        self.grpc = self._loop.call(self._build())
        self.port = self._bind()
        self.metrics_port: int | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopping = False

    async def _build(self) -> grpc.aio.Server:
        interceptors: list[Any] = [MetricsInterceptor(self.metrics)]
        if self.config.token_file is not None:
            token = read_token(self.config.token_file)
            opened = self.config.open_reflection
            interceptors.append(TokenInterceptor(token, open_reflection=opened))
        interceptors.append(self.streams)
        size = self.config.max_message_bytes
        server = grpc.aio.server(
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", size),
                ("grpc.max_send_message_length", size),
                ("grpc.so_reuseport", 0),
            ],
        )
        servicer = PruningServicer(self.planner, self.jobs, self.offload)
        server.add_generic_rpc_handlers((handlers(servicer),))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME, REFLECTION_V1)
        reflector = reflection_aio.ReflectionServicer(names)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflector, server)
        server.add_generic_rpc_handlers((_reflection_v1(reflector),))
        return server

    def _bind(self) -> int:
        address = f"{self.config.host}:{self.config.port}"
        if ":" in self.config.host and not self.config.host.startswith("["):
            address = f"[{self.config.host}]:{self.config.port}"
        credentials = _credentials(self.config)
        if credentials is None:
            port = self.grpc.add_insecure_port(address)
        else:
            port = self.grpc.add_secure_port(address, credentials)
        if port == 0:
            raise OSError(f"could not bind {address}")
        return port

    async def _start(self) -> None:
        await self.grpc.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def start(self) -> None:
        """Serve, resume unfinished jobs, expose metrics."""
        self._loop.call(self._start())
        if self.config.metrics_port is not None:
            self.metrics_port = self.metrics.serve(self.config.host, self.config.metrics_port)
        resumed = self.jobs.resume()
        if resumed:
            log.info("resumed %d unfinished job(s)", len(resumed))

    def stop(self, grace: float | None = None) -> threading.Event:
        """NOT_SERVING, drain in-flight calls within ``grace`` seconds, then release everything.

        Returns an event set when all is released (like ``grpc.Server.stop``).
        """
        with self._stop_lock:
            if self._stopping:
                return self._stopped
            self._stopping = True
        self._loop.call(self.health.enter_graceful_shutdown())
        grace = self.config.grace_s if grace is None else grace
        drained = asyncio.run_coroutine_threadsafe(self.grpc.stop(grace), self._loop.loop)

        def release() -> None:
            try:
                drained.result()
            finally:
                self.jobs.close()
                self.pool.close()
                self.offload.close()
                self.metrics.close()
                self.store.close()
                self._loop.close()
                self._stopped.set()

        threading.Thread(target=release, name="pruneplan-stop", daemon=True).start()
        return self._stopped

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        """Block until stopped (``True``) or ``timeout`` passes (``False``)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop(0).wait()


def create_server(config: ServerConfig) -> tuple[Server, int]:
    """Build and start a server; returns it and the bound port (``config.port=0``: a free one)."""
    server = Server(config)
    try:
        server.start()
    except BaseException:
        server.stop(0).wait()
        raise
    return server, server.port


def serve(config: ServerConfig) -> int:
    """Run a server until SIGTERM or SIGINT, then shut down gracefully (``pruneplan serve``)."""
    server, port = create_server(config)
    scheme = "tls" if config.tls_cert else "plaintext"
    log.info("pruneplan serving on %s:%d (%s, store %s)", config.host, port, scheme, config.db)
    print(f"pruneplan: serving on {config.host}:{port}", flush=True)

    def on_signal(signum: int, frame: object) -> None:
        log.info("signal %d: draining for up to %.1f s", signum, config.grace_s)
        server.stop(config.grace_s)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.wait_for_termination()
    return 0
