"""Abuse against a real server: garbage bytes, mutated requests, tokenless streams, overload.

Each test pins one hardening defect of issue 8 (bounded loops, loopback only, no timing
assertions); ``benchmarks/abuse.py`` runs the same at scale and measures latency and memory.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from pruneplan.clients import Client
from pruneplan.service import convert, errors
from pruneplan.service.server import ServerConfig, check_config
from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

from .conftest import ServerFactory, hard_problem, tiny_problem
from .fuzz import LONG, garbage, mutations

SOLVE = "/pruneplan.v1.PruningService/Solve"
WATCH = "/grpc.health.v1.Health/Watch"
TOKEN = "s3cret-token"
NOT_EXPECTED = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def _raw(channel: grpc.Channel, method: str = SOLVE) -> grpc.UnaryUnaryMultiCallable[bytes, bytes]:
    """A unary method that sends bytes as they are (no client-side serializer)."""
    return channel.unary_unary(method)


def _code(call: grpc.UnaryUnaryMultiCallable[bytes, bytes], data: bytes, **kw: object) -> str:
    try:
        call(data, timeout=30, **kw)
    except grpc.RpcError as error:
        return str(error.code().name)
    return "OK"


def _valid(**options: object) -> pb.SolveRequest:
    args = convert.SolveArgs(method="exact", time_limit=5.0, **options)  # type: ignore[arg-type]
    return convert.build_request(tiny_problem(), args, raw=False)


@pytest.fixture
def token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return str(path)


def _metric(port: int, line_start: str) -> float:
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- item 2: bytes that are not a SolveRequest --------------------------------------------------


def test_undecodable_bytes_are_invalid_argument_and_counted(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server, port = make_server(metrics_port=0)
    codes: collections.Counter[str] = collections.Counter()
    details: set[str] = set()
    valid = _valid().SerializeToString()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        solve = _raw(channel)
        for _, data in garbage(valid, 300, seed=1):
            try:
                solve(data, timeout=30)
                codes["OK"] += 1
            except grpc.RpcError as error:
                codes[error.code().name] += 1
                if error.code() is grpc.StatusCode.INVALID_ARGUMENT:
                    details.add(error.details().split(":")[0])
    assert not NOT_EXPECTED & {grpc.StatusCode[c] for c in codes}, codes
    assert codes["INVALID_ARGUMENT"] > 150, codes
    assert "request is not a valid pruneplan.v1.SolveRequest" in details
    counted = _metric(server.metrics_port or 0, 'pruneplan_requests_total{code="INVALID_ARGUMENT"')
    assert counted == codes["INVALID_ARGUMENT"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


def test_token_is_checked_before_the_request_is_parsed(
    make_server: ServerFactory, token_file: str
) -> None:
    _, port = make_server(token_file=token_file)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        solve = _raw(channel)
        assert _code(solve, b"\xff\xff\xff garbage") == "UNAUTHENTICATED"
        good = (("authorization", f"Bearer {TOKEN}"),)
        assert _code(solve, b"\xff\xff\xff garbage", metadata=good) == "INVALID_ARGUMENT"


# --- the fuzz suite: every field of the request mutated -------------------------------------------


def test_mutated_requests_never_internal(make_server: ServerFactory) -> None:
    """Every mutation of every field, each sent as bytes: a valid answer or a named error."""
    _, port = make_server(max_layers=100, max_elements=10_000)
    base = _valid()
    tally: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    bad: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        solve = _raw(channel)
        for mutation in mutations(base, counts=(3, 300)):
            data = mutation.apply(base).SerializeToString()
            code = _code(solve, data)
            tally[mutation.path][code] += 1
            if grpc.StatusCode[code] in NOT_EXPECTED | {grpc.StatusCode.DEADLINE_EXCEEDED}:
                bad.append(f"{mutation.path} {mutation.label}: {code}")
    assert bad == []
    assert sum(c["INVALID_ARGUMENT"] for c in tally.values()) > 50
    assert sum(c["OK"] for c in tally.values()) > 10  # mutations that stay valid still solve
    assert {"allocation.layers", "method", "allocation.budget"} <= set(tally)


def test_colliding_option_keys_are_invalid_argument(channel: grpc.Channel) -> None:
    codes = set()
    for key in ("progress", "problem"):
        request = _valid()
        request.options[key] = 1
        codes.add(_code(_raw(channel), request.SerializeToString()))
    assert codes == {"INVALID_ARGUMENT"}


def test_mutator_covers_every_field_of_the_request() -> None:
    """New fields and families get mutated without editing the mutator."""
    paths = {m.path for m in mutations(_valid())}
    layer = pb.SolveRequest().allocation.layers.add()
    for field in layer.DESCRIPTOR.fields:
        assert any(p.startswith(f"allocation.layers.0.{field.name}") for p in paths), field.name
    for field in pb.SolveRequest.DESCRIPTOR.fields:
        if field.containing_oneof is None and field.name != "request_id":
            assert any(p.startswith(field.name) for p in paths), field.name


# --- item 1: streams without a token pin no thread; open streams are bounded ---------------------


def _watches(port: int, n: int) -> tuple[list[grpc.Channel], list[object]]:
    """``n`` health Watch streams without a token, each on its own channel (peer port)."""
    channels = [grpc.insecure_channel(f"127.0.0.1:{port}") for _ in range(n)]
    calls: list[object] = []
    for channel in channels:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        next(call)  # the stream is open: its first status came
        calls.append(call)
    return channels, calls


def _close(channels: list[grpc.Channel], calls: list[object]) -> None:
    for call in calls:
        call.cancel()  # type: ignore[attr-defined]
    for channel in channels:
        channel.close()


def test_idle_watch_streams_do_not_stall_solves(
    make_server: ServerFactory, token_file: str
) -> None:
    """More tokenless Watch streams than the server has threads; solves and checks still run."""
    server, port = make_server(token_file=token_file, rpc_threads=2, queue_size=4)
    channels, calls = _watches(port, 80)
    try:
        with Client(f"127.0.0.1:{port}", token=TOKEN, timeout=30) as client:
            assert client.solve(tiny_problem()).status.name == "OPTIMAL"
            assert client.ping(b"x") == b"x"
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert check.status == health_pb2.HealthCheckResponse.SERVING
        assert server.streams.open == 80
    finally:
        _close(channels, calls)


@pytest.mark.parametrize(("total", "per_peer"), [(1000, 5), (5, 1000)], ids=["per-peer", "total"])
def test_open_streams_are_bounded(make_server: ServerFactory, total: int, per_peer: int) -> None:
    _, port = make_server(max_streams=total, max_streams_per_peer=per_peer)
    channels, calls = _watches(port, 5)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            extra = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            with pytest.raises(grpc.RpcError) as info:
                next(extra)
            assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "too many open streams" in info.value.details()
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert check.status == health_pb2.HealthCheckResponse.SERVING  # unary: not a stream
        _close(channels[:1], calls[:1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:  # a slot came free
            again = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert next(again).status == health_pb2.HealthCheckResponse.SERVING
            again.cancel()
    finally:
        _close(channels[1:], calls[1:])


# --- item 3: overload refused at once; health and invalid requests still answer ----------------


@pytest.fixture
def full_server(make_server: ServerFactory) -> Iterator[int]:
    """One solver process and one queue slot, both taken by long solves; one thread for the
    rest (the old thread-per-call server would have had none left for health checks)."""
    _, port = make_server(workers=1, queue_size=1, rpc_threads=1)
    request = convert.build_request(hard_problem(seed=4), convert.SolveArgs(method="milp"))
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = channel.unary_stream(
            "/pruneplan.v1.PruningService/SolveStream",
            request_serializer=pb.SolveStreamRequest.SerializeToString,
            response_deserializer=pb.SolveStreamResponse.FromString,
        )
        busy = [stub(pb.SolveStreamRequest(request=request), timeout=120) for _ in range(2)]
        for call in busy:
            next(call)  # admitted (solving or queued)
        yield port
        for call in busy:
            call.cancel()


def test_overload_is_refused_at_once_with_a_retry_hint(full_server: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{full_server}") as channel:
        solve = _raw(channel)
        with pytest.raises(grpc.RpcError) as info:
            solve(_valid().SerializeToString(), timeout=30)
        error = info.value
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "retry in" in error.details()
        trailers = dict(error.trailing_metadata() or ())
        assert int(trailers[errors.PUSHBACK_TRAILER]) > 0
        status = rpc_status.from_call(error)
        assert status is not None
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry)
        assert retry.retry_delay.ToMilliseconds() > 0


def test_health_and_invalid_requests_answer_while_full(full_server: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{full_server}") as channel:
        for _ in range(20):
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            assert _code(_raw(channel), b"\x0a\xff\xff") == "INVALID_ARGUMENT"


def test_concurrent_excess_is_all_refused(full_server: int) -> None:
    codes: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    data = _valid().SerializeToString()

    def caller() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{full_server}") as channel:
            code = _code(_raw(channel), data)
        with lock:
            codes[code] += 1

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == {"RESOURCE_EXHAUSTED": 16}


def test_solve_threads_follow_the_admission_bound(make_server: ServerFactory) -> None:
    server, _ = make_server(workers=2, queue_size=3)
    assert server.offload.slots == 5


# --- item 5: echoed client values are capped ------------------------------------------------------


def test_long_names_are_capped_in_errors(channel: grpc.Channel) -> None:
    request = _valid()
    name = "n" * 5000
    request.allocation.layers[0].name = request.allocation.layers[1].name = name
    with pytest.raises(grpc.RpcError) as info:
        _raw(channel)(request.SerializeToString(), timeout=30)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "... (5002 characters)" in info.value.details()  # the name, quoted
    assert len(info.value.details()) < 1000


def test_long_job_id_is_capped(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.job("j" * LONG)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    assert f"... ({LONG} characters)" in info.value.details()
    assert len(info.value.details()) < 300


def test_cap_keeps_short_values_and_caps_every_part() -> None:
    assert errors.cap("abc") == "abc"
    long = "x" * 1000
    assert errors.cap(long) == "x" * errors.ECHO_CHARS + "... (1000 characters)"
    status = errors.to_status(InvalidProblemError(long, "a name", long, long))
    assert long not in status.message
    assert len(status.message) < 4 * (errors.ECHO_CHARS + 30)


# --- item 10: operator friction ---------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_bearer_scheme_in_any_case(
    make_server: ServerFactory, token_file: str, scheme: str
) -> None:
    _, port = make_server(token_file=token_file)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        ping = _raw(channel, "/pruneplan.v1.PruningService/Ping")
        assert _code(ping, b"", metadata=(("authorization", f"{scheme} {TOKEN}"),)) == "OK"
        for wrong in (f"Basic {TOKEN}", TOKEN, f"{scheme}{TOKEN}", f"{scheme} {TOKEN}x"):
            assert _code(ping, b"", metadata=(("authorization", wrong),)) == "UNAUTHENTICATED"


def _services(channel: grpc.Channel, version: str = "v1alpha") -> set[str]:
    method = f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
    call = channel.stream_stream(
        method,
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    responses = call(iter([request]), timeout=30)
    return {s.name for r in responses for s in r.list_services_response.service}


@pytest.mark.parametrize("opened", [False, True], ids=["token-needed", "open-reflection"])
def test_reflection_without_token_behind_a_flag(
    make_server: ServerFactory, token_file: str, opened: bool
) -> None:
    _, port = make_server(token_file=token_file, open_reflection=opened)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        if not opened:
            with pytest.raises(grpc.RpcError) as info:
                _services(channel)
            assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
            return
        for version in ("v1alpha", "v1"):
            names = _services(channel, version)
            assert {"pruneplan.v1.PruningService", "grpc.health.v1.Health"} <= names
            assert "grpc.reflection.v1.ServerReflection" in names
        with pytest.raises(grpc.RpcError) as info:  # the service itself still needs the token
            _raw(channel, "/pruneplan.v1.PruningService/Ping")(b"", timeout=30)
        assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert reflection_pb2_grpc  # the stub module stays importable for grpcurl-like clients


def test_metrics_on_a_public_host_need_insecure() -> None:
    public = ServerConfig(host="0.0.0.0", token_file="token", metrics_port=9100)
    with pytest.raises(ValueError, match=r"metrics.*--insecure"):
        check_config(public)
    check_config(ServerConfig(host="0.0.0.0", token_file="token", metrics_port=9100, insecure=True))
    check_config(ServerConfig(host="127.0.0.1", metrics_port=9100))


def test_solver_processes_write_nothing_to_stdout() -> None:
    code = (
        "import os\n"
        "from pruneplan.service import quiet\n"
        "os.write(1, b'before\\n')\n"
        "quiet.silence_stdout()\n"
        "os.write(1, b'from C\\n'); print('from Python', flush=True)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=os.environ
    )
    assert run.stdout == b"before\n"


def test_many_concurrent_garbage_callers(make_server: ServerFactory) -> None:
    """Threads sending garbage at once next to valid solves: only named codes come back."""
    _, port = make_server()
    valid = _valid().SerializeToString()
    seen: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def caller(seed: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            solve = _raw(channel)
            for i, (_, data) in enumerate(garbage(valid, 60, seed=seed)):
                code = _code(solve, valid if i % 10 == 0 else data)
                with lock:
                    seen[code] += 1

    threads = [threading.Thread(target=caller, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(seen.values()) == 480
    assert seen["OK"] >= 48
    assert set(seen) <= {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}, seen
