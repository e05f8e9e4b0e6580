"""Service benchmark: echo baseline, Solve throughput and latency, request decode time.

* Baseline: the same problems solved in-process by ``allocate`` in a process pool of one
  process per core (no gRPC, no store) — what the server's throughput is measured against.
  Target: ``Solve`` >= 80% of its throughput with 16 callers, p99 <= 4x its median latency
  (the same 16 callers in a closed loop, so both include the wait for a free core).
* ``Solve``: a 54-layer x 101-level ``exact`` problem, 16 concurrent callers. Every request has
  a different budget so it misses the plan cache: this measures solving, not the cache.
* Echo: the ``Ping`` RPC (an empty echo of the PruningService, same auth/interceptors) —
  what gRPC + our interceptors cost without solving (a second row).
* Decode: a `SolveRequest` carrying 10^6 numbers, bytes -> numpy, both array encodings.

Prints a Markdown table. ``python benchmarks/service.py [--requests N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from _serve import serve_process

from pruneplan.clients import Client
from pruneplan.service import convert
from pruneplan.service.server import ServerConfig, create_server
from pruneplan.solver import AllocationProblem, LayerProfile, allocate
from pruneplan.v1 import pruning_service_pb2 as pb

CALLERS = 16


def problem_54(budget_fraction: float, seed: int = 0) -> AllocationProblem:
    """54 layers x 101 levels, plateau-then-cliff curves, a params budget."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.99, 101)
    layers = []
    for i in range(54):
        size = int(rng.integers(2_000, 2_000_000))
        cliff = rng.uniform(0.5, 0.95)
        loss = 0.01 * levels + np.exp(np.clip((levels - cliff) * 20, -50, 50)) * rng.uniform(0.1, 2)
        layers.append(
            LayerProfile(f"layer{i}.weight", levels, loss * (1 + 0.02 * rng.random(101)), size)
        )
    total = sum(layer.size for layer in layers)
    return AllocationProblem(layers, {"params": budget_fraction * total})


def run_callers(
    target: str, calls: int, call: Callable[[Client, int], object]
) -> tuple[float, list[float]]:
    """``CALLERS`` threads, each with its own channel, ``calls`` calls each."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(CALLERS + 1)

    def caller(c: int) -> None:
        with Client(target, timeout=120.0) as client:
            call(client, -1 - c)  # warm the channel
            barrier.wait()
            mine = []
            for i in range(calls):
                start = time.perf_counter()
                call(client, c * calls + i)
                mine.append(time.perf_counter() - start)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=caller, args=(c,)) for c in range(CALLERS)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - start), latencies


def _fraction(i: int) -> float:
    """A distinct budget fraction per call index: no two calls hit the same plan."""
    return 0.2 + 0.6 * ((i * 7919) % 100_003) / 100_003


def _solve_local(i: int) -> float:
    base = problem_54(0.5)
    total = sum(layer.size for layer in base.layers)
    start = time.perf_counter()
    allocate(AllocationProblem(base.layers, {"params": _fraction(i) * total}), method="exact")
    return time.perf_counter() - start


def in_process(calls: int, workers: int) -> tuple[float, list[float]]:
    """Throughput and latencies of ``allocate`` in ``workers`` processes, driven like the server:
    ``CALLERS`` threads, each waiting for its call before the next (the same closed loop)."""
    latencies: list[float] = []
    lock = threading.Lock()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_solve_local, range(-workers, 0)))  # warm: imports, first solves

        def caller(c: int) -> None:
            mine = []
            for i in range(calls):
                start = time.perf_counter()
                pool.submit(_solve_local, c * calls + i).result()
                mine.append(time.perf_counter() - start)
            with lock:
                latencies.extend(mine)

        threads = [threading.Thread(target=caller, args=(c,)) for c in range(CALLERS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return len(latencies) / (time.perf_counter() - start), latencies


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1e3)


def decode_ms(raw: bool) -> float:
    data = np.random.default_rng(0).random(10**6)
    request = pb.SolveRequest()
    layer = request.allocation.layers.add(name="x")
    layer.loss.CopyFrom(convert.array_to_values(data, raw=raw))
    payload = request.SerializeToString()
    times = []
    for _ in range(20):
        start = time.perf_counter()
        parsed = pb.SolveRequest.FromString(payload)
        array = convert.values_to_array(parsed.allocation.layers[0].loss, "loss")
        times.append(time.perf_counter() - start)
    assert array.size == 10**6
    return min(times) * 1e3


@contextlib.contextmanager
def _server(args: argparse.Namespace, tmp: Path, workers: int) -> Iterator[int]:
    """The server in its own process (``pruneplan serve``), as it runs in production: its
    event loop does not share the callers' GIL."""
    if args.in_process_server:
        config = ServerConfig(
            db=tmp / "bench.db",
            workers=workers,
            queue_size=4 * CALLERS,
            inline_max_elements=args.inline_max_elements,
        )
        server, port = create_server(config)
        try:
            yield port
        finally:
            server.stop(0).wait()
        return
    with serve_process(
        *("--db", str(tmp / "bench.db"), "--workers", str(workers)),
        *("--queue-size", str(4 * CALLERS)),
        *("--inline-max-elements", str(args.inline_max_elements)),
    ) as port:
        yield port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=25, help="per caller")
    parser.add_argument(
        "--inline-max-elements",
        type=int,
        default=ServerConfig.inline_max_elements,
        help="server setting: solve problems up to this size on the RPC thread (0: never)",
    )
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--in-process-server",
        action="store_true",
        help="run the server in this process (sharing the callers' GIL) instead of its own",
    )
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp, _server(args, Path(tmp), workers) as port:
        target = f"127.0.0.1:{port}"
        echo_rps, echo = run_callers(target, args.requests * 4, lambda c, i: c.ping(b""))
        base = problem_54(0.5)
        total = sum(layer.size for layer in base.layers)

        def solve(client: Client, i: int) -> object:
            problem = AllocationProblem(base.layers, {"params": _fraction(i) * total})
            return client.solve(problem, method="exact")

        solve_rps, solved = run_callers(target, args.requests, solve)
    local_rps, local = in_process(args.requests, workers)
    median = statistics.median(local)
    rows = [
        ("In-process allocate, one process per core (baseline)", local_rps, local, 1.0),
        ("Solve, 54 x 101 exact, cache misses", solve_rps, solved, solve_rps / local_rps),
        ("Ping (echo)", echo_rps, echo, echo_rps / local_rps),
    ]
    inline = args.inline_max_elements
    print(
        f"\n{CALLERS} concurrent callers, {workers} solver processes, {os.cpu_count()} cores, "
        f"inline_max_elements={inline}\n"
    )
    head = "| call | throughput (req/s) | p50 (ms) | p99 (ms) | vs. in-process | p99 / in-proc. p50"
    print(head + " |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, rps, times, ratio in rows:
        p99 = _pct(times, 99)
        print(
            f"| {name} | {rps:,.1f} | {_pct(times, 50):.2f} | {p99:.2f} | {ratio:.1%} | "
            f"{p99 / (median * 1e3):.2f} |"
        )
    if args.json:
        out = [
            {"row": name, "rps": rps, "p50_ms": _pct(t, 50), "p99_ms": _pct(t, 99), "ratio": r}
            for name, rps, t, r in rows
        ]
        args.json.write_text(json.dumps({"callers": CALLERS, "rows": out}, indent=2))
    print("\n| decode 10^6 numbers (parse + numpy) | ms |")
    print("|---|---:|")
    print(f"| packed `values` | {decode_ms(False):.2f} |")
    print(f"| raw `f64le` | {decode_ms(True):.2f} |")
    print(f"\nstatistics: {len(solved)} solves, mean {statistics.fmean(solved) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
