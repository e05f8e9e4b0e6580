"""Abuse benchmark: fuzzed bytes, mutated requests, tokenless streams and overload against a
real server in its own process, tallying status codes, health latency and the server's RSS.

Phases (one server: token, ``--workers 2 --queue-size 8``, a 16 MiB message limit):

* ``garbage``: random, truncated and bit-flipped bytes as ``Solve`` requests (10^4; ``--quick``
  1,000), with the server's RSS before and after (after a warm-up of the same kind).
* ``mutated``: every mutation of every field of a valid request (`tests/service/fuzz.py`, over
  the message descriptors), for every method (``--quick``: exact), repeated fields grown within
  and beyond the server's limits; option keys that collide with the solver's own parameters.
* ``huge``: a message over the size limit; big bodies without a token (refused unparsed).
* ``streams``: health ``Watch`` streams without a token past the per-peer bound; a solve and
  health checks while they are open.
* ``overload``: the admission bound filled with long solves; health checks, invalid requests and
  refused solves timed meanwhile.

Targets (issue 8): 0 INTERNAL/UNKNOWN, 0 hangs, 0 crashes, RSS growth < 10 MiB over 10^4 bad
requests, health p99 < 50 ms while the queue is full, the excess refused within 10 ms.
Timings from a shared machine are noisy; each row says what it measured.

``python benchmarks/abuse.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/service/fuzz.py and the problem factories

from pruneplan.service import convert  # noqa: E402
from pruneplan.v1 import pruning_service_pb2 as pb  # noqa: E402
from tests.service.conftest import hard_problem, tiny_problem  # noqa: E402
from tests.service.fuzz import garbage, mutations  # noqa: E402

TOKEN = "abuse-benchmark-token"
AUTH = (("authorization", f"Bearer {TOKEN}"),)
SOLVE = "/pruneplan.v1.PruningService/Solve"
STREAM = "/pruneplan.v1.PruningService/SolveStream"
METHODS = ("exact", "dp", "lagrangian", "milp", "uniform", "erk", "global_magnitude", "lamp")
WORKERS, QUEUE = 2, 8
MESSAGE_MIB = 16
SERVER = """
import sys
from pruneplan.service.server import ServerConfig, serve
sys.exit(serve(ServerConfig(db=sys.argv[1], token_file=sys.argv[2], workers={workers},
    queue_size={queue}, max_message_bytes={mib} << 20, open_reflection=True, grace_s=1.0)))
"""


class ServerProcess:
    """A server in its own process (its RSS is its own), on a free loopback port."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "token").write_text(TOKEN)
        code = SERVER.format(workers=WORKERS, queue=QUEUE, mib=MESSAGE_MIB)
        args = [sys.executable, "-c", code, str(tmp / "plans.db"), str(tmp / "token")]
        self.log = (tmp / "server.log").open("wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "serving on" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        self.port = int(line.rsplit(":", 1)[1])
        self.target = f"127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(30)
        self.log.close()


def call_code(call: Callable[..., Any], data: bytes, **kw: Any) -> tuple[str, float]:
    """Status code name and seconds of one call."""
    start = time.perf_counter()
    try:
        call(data, timeout=30, **kw)
        code = "OK"
    except grpc.RpcError as error:
        code = error.code().name
    return code, time.perf_counter() - start


def valid_request(method: str = "exact") -> pb.SolveRequest:
    args = convert.SolveArgs(method=method, time_limit=5.0)
    return convert.build_request(tiny_problem(), args, raw=False)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def phase_garbage(server: ServerProcess, n: int) -> dict[str, Any]:
    valid = valid_request().SerializeToString()
    codes: collections.Counter[str] = collections.Counter()
    with grpc.insecure_channel(server.target) as channel:
        solve = channel.unary_unary(SOLVE)
        for _, data in garbage(valid, min(n, 500), seed=99):  # warm-up
            call_code(solve, data, metadata=AUTH)
        before = server.rss_mib()
        start = time.perf_counter()
        for _, data in garbage(valid, n, seed=1):
            codes[call_code(solve, data, metadata=AUTH)[0]] += 1
        seconds = time.perf_counter() - start
    after = server.rss_mib()
    return {
        "requests": n,
        "codes": dict(codes),
        "rss_before_mib": before,
        "rss_after_mib": after,
        "rss_growth_mib": after - before,
        "requests_per_s": n / seconds,
    }


def _mutated_requests(
    methods: tuple[str, ...], counts: tuple[int, ...]
) -> Iterator[tuple[str, bytes]]:
    keys = ("progress", "problem", "time_limit", "seed")
    for method in methods:
        base = valid_request(method)
        for mutation in mutations(base, counts=counts, keys=keys):
            label = f"{method}: {mutation.path} {mutation.label}"
            yield label, mutation.apply(base).SerializeToString()


def phase_mutated(server: ServerProcess, quick: bool) -> dict[str, Any]:
    methods = ("exact",) if quick else METHODS
    counts = (3, 1000) if quick else (3, 1000, 100_001)
    codes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []
    slowest = 0.0
    with grpc.insecure_channel(server.target) as channel:
        solve = channel.unary_unary(SOLVE)
        for label, data in _mutated_requests(methods, counts):
            code, seconds = call_code(solve, data, metadata=AUTH)
            codes[code] += 1
            slowest = max(slowest, seconds)
            if code in ("INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"):
                failures.append(f"{label}: {code}")
    return {
        "methods": list(methods),
        "codes": dict(codes),
        "slowest_s": slowest,
        "failures": failures,
    }


def phase_huge(server: ServerProcess) -> dict[str, Any]:
    over = b"\x0a" + b"\xff" * ((MESSAGE_MIB << 20) + 1024)
    body = valid_request().SerializeToString() * 1 + b"\x12\x00" * (4 << 20)  # ~8 MiB
    codes: collections.Counter[str] = collections.Counter()
    with grpc.insecure_channel(server.target) as channel:
        solve = channel.unary_unary(SOLVE)
        codes["over-limit " + call_code(solve, over, metadata=AUTH)[0]] += 1
        rss = [server.rss_mib()]
        for _ in range(2):  # the second round shows whether the first one's memory stays
            for _ in range(20):
                codes["no-token " + call_code(solve, body)[0]] += 1
            rss.append(server.rss_mib())
    return {
        "codes": dict(codes),
        "rss_growth_first_mib": rss[1] - rss[0],
        "rss_growth_second_mib": rss[2] - rss[1],
    }


def _health_latencies(target: str, n: int) -> list[float]:
    with grpc.insecure_channel(target) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        check(health_pb2.HealthCheckRequest(), timeout=30)  # connect first
        out = []
        for _ in range(n):
            start = time.perf_counter()
            check(health_pb2.HealthCheckRequest(), timeout=30)
            out.append(time.perf_counter() - start)
    return out


def phase_streams(server: ServerProcess, n: int) -> dict[str, Any]:
    channels = [grpc.insecure_channel(server.target) for _ in range(n)]
    codes: collections.Counter[str] = collections.Counter()
    calls = []
    for channel in channels:
        call = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
        try:
            next(call)
            codes["OK (open)"] += 1
            calls.append(call)
        except grpc.RpcError as error:
            codes[error.code().name] += 1
    try:
        latencies = _health_latencies(server.target, 200)
        with grpc.insecure_channel(server.target) as channel:
            solve = channel.unary_unary(SOLVE)
            data = valid_request().SerializeToString()
            solve_code, solve_s = call_code(solve, data, metadata=AUTH)
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            channel.close()
    return {
        "watch_streams": n,
        "codes": dict(codes),
        "health_p50_ms": 1e3 * statistics.median(latencies),
        "health_p99_ms": 1e3 * pct(latencies, 0.99),
        "solve_while_open": solve_code,
        "solve_while_open_ms": 1e3 * solve_s,
    }


def phase_overload(server: ServerProcess, n: int) -> dict[str, Any]:
    busy_channel = grpc.insecure_channel(server.target)
    stream = busy_channel.unary_stream(
        STREAM,
        request_serializer=pb.SolveStreamRequest.SerializeToString,
        response_deserializer=pb.SolveStreamResponse.FromString,
    )
    calls = []
    for seed in range(WORKERS + QUEUE):
        request = convert.build_request(hard_problem(seed=seed), convert.SolveArgs(method="milp"))
        call = stream(pb.SolveStreamRequest(request=request), timeout=300, metadata=AUTH)
        next(call)  # admitted
        calls.append(call)
    refused: collections.Counter[str] = collections.Counter()
    refuse_s: list[float] = []
    invalid_s: list[float] = []
    try:
        health = _health_latencies(server.target, n)
        with grpc.insecure_channel(server.target) as channel:
            solve = channel.unary_unary(SOLVE)
            request = valid_request()
            call_code(solve, b"\xff", metadata=AUTH)  # connect first
            for i in range(n):
                request.request_id = f"over-{i}"
                data = request.SerializeToString()
                code, seconds = call_code(solve, data, metadata=AUTH)
                refused[code] += 1
                refuse_s.append(seconds)
                invalid_s.append(call_code(solve, b"\x0a\xff\xff", metadata=AUTH)[1])
    finally:
        for call in calls:
            call.cancel()
        busy_channel.close()
    return {
        "admitted_long_solves": len(calls),
        "codes": dict(refused),
        "refusal_p50_ms": 1e3 * statistics.median(refuse_s),
        "refusal_p99_ms": 1e3 * pct(refuse_s, 0.99),
        "health_p50_ms": 1e3 * statistics.median(health),
        "health_p99_ms": 1e3 * pct(health, 0.99),
        "invalid_p99_ms": 1e3 * pct(invalid_s, 0.99),
    }


def _bad_codes(results: dict[str, Any]) -> dict[str, int]:
    bad: collections.Counter[str] = collections.Counter()
    for phase in results.values():
        if isinstance(phase, dict):
            for code, count in phase.get("codes", {}).items():
                name = code.split()[-1]
                if name in ("INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"):
                    bad[code] += count
    return dict(bad)


def _growth(phase: dict[str, Any]) -> str:
    return f"{phase['rss_growth_first_mib']:+.1f} / {phase['rss_growth_second_mib']:+.1f} MiB"


def _ms(phase: dict[str, Any], name: str) -> str:
    return f"{phase[name + '_p50_ms']:.1f} / {phase[name + '_p99_ms']:.1f} ms"


def report(results: dict[str, Any]) -> None:
    g, m, s, o = (results[k] for k in ("garbage", "mutated", "streams", "overload"))
    rows = [
        ("garbage bytes", f"{g['requests']} requests", str(g["codes"])),
        ("server RSS growth", f"{g['requests']} garbage", f"{g['rss_growth_mib']:+.1f} MiB"),
        ("mutated requests", f"methods {','.join(m['methods'])}", str(m["codes"])),
        ("huge / no token", "over-limit, 8 MiB x40", str(results["huge"]["codes"])),
        ("server RSS growth", "8 MiB x20, twice", _growth(results["huge"])),
        ("tokenless Watch", f"{s['watch_streams']} streams", str(s["codes"])),
        (
            "health p50/p99",
            "streams open",
            f"{s['health_p50_ms']:.1f} / {s['health_p99_ms']:.1f} ms",
        ),
        ("health p50/p99", "queue full", f"{o['health_p50_ms']:.1f} / {o['health_p99_ms']:.1f} ms"),
        (
            "refusal p50/p99",
            "queue full",
            f"{o['refusal_p50_ms']:.1f} / {o['refusal_p99_ms']:.1f} ms",
        ),
        ("invalid p99", "queue full", f"{o['invalid_p99_ms']:.1f} ms"),
        ("INTERNAL/UNKNOWN/hangs", "all phases", str(results["bad_codes"] or 0)),
        ("crashed", "", str(not results["server_alive"])),
    ]
    print("| check | load | result |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    grouped = collections.Counter(f.split(": ", 1)[1] for f in m["failures"])
    for failure, count in sorted(grouped.items()):
        print(f"  {failure} ({count} methods)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test (about a minute)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp))
        try:
            results: dict[str, Any] = {
                "garbage": phase_garbage(server, 1000 if args.quick else 10_000),
                "mutated": phase_mutated(server, args.quick),
                "huge": phase_huge(server),
                "streams": phase_streams(server, 120 if args.quick else 150),
                "overload": phase_overload(server, 100 if args.quick else 500),
            }
            results["server_alive"] = server.alive()
            results["bad_codes"] = _bad_codes(results)
        finally:
            server.stop()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["server_alive"] and not results["bad_codes"] else 1


if __name__ == "__main__":
    sys.exit(main())
