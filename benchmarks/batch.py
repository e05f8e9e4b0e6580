"""Batch benchmark: JSONL batches on one process, the local pool, Ray and a server, same run.

* Workloads: ``small`` (20,000 small allocation problems: 8 layers x 11 levels, methods mixed)
  and ``mixed`` (2,000 problems drawn from every family in `MIX`, larger and varied). Each is a
  JSONL file of `SolveRequest`; every engine writes the same JSONL results.
* Reference: one process solving the lines in a loop (parse, `solve_request`, write), the
  work each engine spreads. Targets: ``local`` >= 1.8x it on 2 cores; ``ray`` >= 80% of
  ``local`` (its start-up counted apart); ``server`` >= 70% of ``local`` (a server on
  127.0.0.1 in its own process, ``pruneplan serve``, with one solver process per core; its
  start-up apart too). Each row also gives the CPU seconds of all the processes of the run
  (wall times are only meaningful on a quiet machine; CPU compares on a busy one too).
* Memory: peak RSS of a ``pruneplan batch`` driver for N and 4N lines (flat when streamed).

``python benchmarks/batch.py [--quick] [--json PATH] [--skip ray,server] [--in-process-server]
[--repeat N]``; prints Markdown (``--repeat``: N rounds, each on new problems, every engine in
turn within a round; the medians, and the range of each ratio over the rounds).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from _serve import serve_process
from google.protobuf import json_format

from pruneplan.clients.batch import run_batch
from pruneplan.clients.batch._work import Outcome, Payload, Tag, solve_chunk
from pruneplan.service import convert
from pruneplan.solver import (
    AllocationProblem,
    ClusterGroup,
    ClusteringProblem,
    ItemGroup,
    LayerProfile,
    SelectionProblem,
)
from pruneplan.solver.transport import TransportProblem
from pruneplan.v1 import pruning_service_pb2 as pb

SMALL_METHODS = ("exact", "dp", "lagrangian", "uniform", "erk")
MIXED_METHODS = ("exact", "dp", "lagrangian", "milp", "uniform", "erk")
SELECTION_METHODS = ("exact", "greedy", "uniform", "global_threshold")
TRANSPORT_METHODS = ("semi_dual",)
"""The family's own solver; POT's (``sinkhorn``, ``smooth``) take 0.2-0.5 s on these."""
CLUSTERING_METHODS = ("gaec", "knn")


def allocation(seed: int, layers: int, levels: int, method: str) -> pb.SolveRequest:
    """Plateau-then-cliff curves; params and flops costs; a params budget of 30-70%."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 0.95, levels)
    profiles = []
    for i in range(layers):
        rows, cols = int(rng.integers(8, 64)), int(rng.integers(8, 64))
        cliff = rng.uniform(0.4, 0.9)
        loss = 0.02 * grid + np.exp(np.clip((grid - cliff) * 15, -50, 50)) * rng.uniform(0.1, 2)
        flops = (1.0 - grid) * rows * cols * rng.uniform(10, 50)
        profiles.append(
            LayerProfile(
                f"l{i}",
                grid,
                np.round(loss, 9),
                rows * cols,
                {"flops": np.round(flops)},
                (rows, cols),
            )
        )
    total = sum(p.size for p in profiles)
    problem = AllocationProblem(profiles, {"params": float(rng.uniform(0.3, 0.7)) * total})
    return convert.build_request(problem, convert.SolveArgs(method), request_id=f"a{seed}")


def small(count: int, first: int = 0) -> Iterator[pb.SolveRequest]:
    methods = itertools.cycle(SMALL_METHODS)
    return (allocation(i, 8, 11, next(methods)) for i in range(first, first + count))


WARM_FIRST = 10**6
"""Seeds of the warm-up problems: none of the workloads' (the server must not have their
plans before the timed run)."""


def _mixed_allocation(seed: int) -> pb.SolveRequest:
    rng = np.random.default_rng(10_000 + seed)
    method = MIXED_METHODS[seed % len(MIXED_METHODS)]
    return allocation(10_000 + seed, int(rng.integers(10, 40)), int(rng.integers(11, 41)), method)


def _mixed_selection(seed: int) -> pb.SolveRequest:
    """4-16 groups of 16-128 channels, FLOPs per channel, a FLOPs budget of 30-70%."""
    rng = np.random.default_rng(20_000 + seed)
    groups = []
    for g in range(int(rng.integers(4, 17))):
        n = int(rng.integers(16, 129))
        flops = np.round(rng.uniform(1, 20)) * np.ones(n)
        groups.append(ItemGroup(f"conv{g}", np.round(rng.random(n), 6), costs={"flops": flops}))
    total = sum(float(group.costs["flops"].sum()) for group in groups)
    problem = SelectionProblem(groups, {"flops": round(float(rng.uniform(0.3, 0.7)) * total)})
    method = SELECTION_METHODS[seed % len(SELECTION_METHODS)]
    return convert.build_request(problem, convert.SolveArgs(method), request_id=f"s{seed}")


def _mixed_transport(seed: int) -> pb.SolveRequest:
    """2-8 groups of 16-128 scores with FLOPs masses, a kept-mass budget of 30-70%."""
    rng = np.random.default_rng(30_000 + seed)
    sizes = rng.integers(16, 129, size=int(rng.integers(2, 9)))
    scores = {f"conv{g}": np.round(rng.standard_normal(n), 6) for g, n in enumerate(sizes)}
    weights = {f"conv{g}": np.full(n, float(g + 1)) for g, n in enumerate(sizes)}
    total = sum(float(w.sum()) for w in weights.values())
    method = TRANSPORT_METHODS[seed % len(TRANSPORT_METHODS)]
    reg_type = ("entropy", "l2")[(seed // len(TRANSPORT_METHODS)) % 2]
    problem = TransportProblem(
        scores,
        round(float(rng.uniform(0.3, 0.7)) * total, 3),
        weights=weights,
        reg=0.1,
        reg_type=reg_type,
    )
    return convert.build_request(problem, convert.SolveArgs(method), request_id=f"t{seed}")


def _mixed_clustering(seed: int) -> pb.SolveRequest:
    """1-4 groups of 8-40 channels with 8-32 features, a third to two thirds kept."""
    rng = np.random.default_rng(40_000 + seed)
    groups, clusters = [], {}
    for g in range(int(rng.integers(1, 5))):
        n, d = int(rng.integers(8, 41)), int(rng.integers(8, 33))
        groups.append(ClusterGroup(f"conv{g}", np.round(rng.standard_normal((n, d)), 6)))
        clusters[f"conv{g}"] = max(1, int(n * rng.uniform(0.33, 0.67)))
    problem = ClusteringProblem(groups, n_clusters=clusters)
    method = CLUSTERING_METHODS[seed % len(CLUSTERING_METHODS)]
    return convert.build_request(problem, convert.SolveArgs(method), request_id=f"c{seed}")


MIX: dict[str, Callable[[int], pb.SolveRequest]] = {
    "allocation": _mixed_allocation,
    "selection": _mixed_selection,
    "transport": _mixed_transport,
    "clustering": _mixed_clustering,
}
"""One request generator per family (``SolveRequest.problem`` field); `mixed` cycles over those
the service has."""


def mixed(count: int, first: int = 0) -> Iterator[pb.SolveRequest]:
    families = [MIX[name] for name in convert.CODECS if name in MIX]
    k = len(families)
    return (families[i % k](first + i // k) for i in range(count))


def write(path: Path, requests: Iterable[pb.SolveRequest]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for request in requests:
            f.write(json_format.MessageToJson(request, indent=None) + "\n")
    return path


class InProcess:
    """The reference: every task in this process, one after the other."""

    def run(self, tasks: Iterable[tuple[Tag, Payload]]) -> Iterator[tuple[Tag, Outcome]]:
        for task in tasks:
            yield from solve_chunk([task])


def tree_cpu_s() -> float:
    """CPU seconds (user + system) of this process and every live descendant, with what they
    reaped of theirs (pool processes, the server and its solver processes); this process's
    alone where there is no ``/proc``."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return time.process_time()
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        cpu[pid] = sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def timed(source: Path, out: Path, **options: Any) -> tuple[float, float]:
    """Wall and CPU seconds (`tree_cpu_s`) of one `run_batch`."""
    out.unlink(missing_ok=True)
    start, cpu = time.perf_counter(), tree_cpu_s()
    summary = run_batch(source, out, **options)
    seconds = time.perf_counter() - start
    assert summary.ok, summary.report()
    return seconds, tree_cpu_s() - cpu


def start_ray(cores: int, warm: Path, out: Path) -> float:
    """``ray.init`` of a local cluster and a first batch (Ray starts its workers lazily)."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    start = time.perf_counter()
    ray.init(
        num_cpus=cores,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    timed(warm, out, engine="ray")
    return time.perf_counter() - start


@contextlib.contextmanager
def serving(cores: int, db: Path, in_process: bool) -> Iterator[str]:
    """A server with one solver process per core, in its own process (``pruneplan serve``, as
    it runs in production: its threads do not share the client's GIL) or in this one."""
    if in_process:
        from pruneplan.service.server import ServerConfig, create_server

        server, port = create_server(ServerConfig(db=db, workers=cores, grace_s=1.0))
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.stop(0).wait(30)
        return
    with serve_process("--db", str(db), "--workers", str(cores)) as port:
        yield f"127.0.0.1:{port}"


_RSS = """
import re, resource, sys
from pathlib import Path
from pruneplan.clients.batch import run_batch
status = Path("/proc/self/status")
try:  # reset the peak: it includes the parent's pages this process had before exec
    Path("/proc/self/clear_refs").write_text("5")
except OSError:
    pass
run_batch(sys.argv[1], sys.argv[2], workers=2)
peak = re.search(r"VmHWM:\\s+(\\d+)", status.read_text()) if status.exists() else None
print(int(peak.group(1)) if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def driver_rss_mib(source: Path, out: Path) -> float:
    """Peak RSS of a batch driver process (its pool's processes not included)."""
    out.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", _RSS, str(source), str(out)], capture_output=True, text=True
    )
    return int(done.stdout.split()[-1]) / 1024


def workload(
    name: str, source: Path, tmp: Path, engines: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    lines = sum(1 for _ in source.open())
    row: dict[str, Any] = {"workload": name, "lines": lines}
    for engine, options in engines.items():
        seconds, cpu = timed(source, tmp / f"{name}-{engine}.jsonl", **options)
        print(f"  {name} {engine}: {seconds:.2f} s, {cpu:.2f} s CPU", file=sys.stderr, flush=True)
        row[f"{engine}_s"] = round(seconds, 3)
        row[f"{engine}_cpu_s"] = round(cpu, 3)
        row[f"{engine}_per_s"] = round(lines / seconds, 1)
    reference = row["single_s"]
    row["local_vs_single"] = round(reference / row["local_s"], 2)
    for engine in ("ray", "server"):
        if f"{engine}_s" in row:
            row[f"{engine}_vs_local"] = round(row["local_s"] / row[f"{engine}_s"], 2)
    return row


def median_row(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One workload over rounds: the median of every number, and each ratio's range."""
    row: dict[str, Any] = dict(rounds[0])
    row["rounds"] = len(rounds)
    for key, value in rounds[0].items():
        if isinstance(value, int | float) and key != "lines":
            values = [r[key] for r in rounds]
            row[key] = round(float(np.median(values)), 3)
            if key.endswith(("_vs_single", "_vs_local")):
                row[f"{key}_range"] = [min(values), max(values)]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--skip", default="", help="comma-separated engines to leave out")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds, each on new problems (no plan-cache hits): medians and ratio ranges",
    )
    parser.add_argument(
        "--in-process-server",
        action="store_true",
        help="run the server in this process (sharing the client's GIL) instead of its own",
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    cores = os.cpu_count() or 1
    skip = set(filter(None, args.skip.split(",")))
    tmp = Path(tempfile.mkdtemp(prefix="pruneplan-batch-bench-"))
    warm = write(tmp / "warm.jsonl", small(4 * cores, WARM_FIRST))
    start = time.perf_counter()
    timed(warm, tmp / "warm-local.jsonl", workers=cores)
    startup = {"local_start_s": round(time.perf_counter() - start, 2)}
    engines: dict[str, dict[str, Any]] = {
        "single": {"engine": InProcess()},
        "local": {"engine": "local", "workers": cores},
    }
    with contextlib.ExitStack() as stack:
        if "ray" not in skip:
            startup["ray_start_s"] = round(start_ray(cores, warm, tmp / "warm-ray.jsonl"), 2)
            engines["ray"] = {"engine": "ray"}
        if "server" not in skip:
            start = time.perf_counter()
            db = tmp / "plans.db"
            target = stack.enter_context(serving(cores, db, args.in_process_server))
            timed(warm, tmp / "warm-server.jsonl", engine="server", server=target)
            startup["server_start_s"] = round(time.perf_counter() - start, 2)
            engines["server"] = {"engine": "server", "server": target}
        rounds = []
        for r in range(max(1, args.repeat)):  # new problems each round: no plan-cache hits
            n_small, n_mixed = 20_000 // scale, 2_000 // scale
            small_in = write(tmp / "small.jsonl", small(n_small, r * n_small))
            mixed_in = write(tmp / "mixed.jsonl", mixed(n_mixed, r * n_mixed))
            rounds.append(
                [
                    workload("small", small_in, tmp, engines),
                    workload("mixed", mixed_in, tmp, engines),
                ]
            )
        rows = [median_row([one[i] for one in rounds]) for i in range(len(rounds[0]))]
    n = 2_000 // scale
    memory = {
        "rss_mib_n": round(driver_rss_mib(write(tmp / "m1.jsonl", small(n)), tmp / "o1.jsonl"), 1),
        "rss_mib_4n": round(
            driver_rss_mib(write(tmp / "m4.jsonl", small(4 * n)), tmp / "o4.jsonl"), 1
        ),
        "n": n,
    }
    report(rows, startup, memory, cores)
    if args.json:
        payload = {"cores": cores, "rows": rows, "startup": startup, "memory": memory}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")


def report(
    rows: list[dict[str, Any]], startup: dict[str, float], memory: dict[str, Any], cores: int
) -> None:
    engines = [e for e in ("single", "local", "ray", "server") if f"{e}_s" in rows[0]]
    print(f"| workload | lines | {' | '.join(f'{e} (/s)' for e in engines)} | ratios |")
    print("|---|---:|" + "---:|" * len(engines) + "---|")
    for row in rows:
        rates = " | ".join(f"{row[f'{e}_per_s']:,.0f}" for e in engines)
        ratios = [f"local/single {row['local_vs_single']}x"]
        ratios += [
            f"{e}/local {row[f'{e}_vs_local']:.0%}" for e in ("ray", "server") if e in engines
        ]
        print(f"| {row['workload']} | {row['lines']:,} | {rates} | {', '.join(ratios)} |")
    if rows[0].get("rounds", 1) > 1:
        print(f"\nMedians of {rows[0]['rounds']} rounds (each on new problems); ratio ranges:")
        for row in rows:
            spans = ", ".join(
                f"{k.removesuffix('_range')} {v[0]}-{v[1]}"
                for k, v in row.items()
                if k.endswith("_range")
            )
            print(f"- {row['workload']}: {spans}")
    print("\nCPU seconds (every process of the run: driver, pool, server, solvers):")
    for row in rows:
        cpu = ", ".join(f"{e} {row[f'{e}_cpu_s']:.2f}" for e in engines)
        print(f"- {row['workload']}: {cpu}")
    print(f"\n{cores} cores; start-up (s, apart from the rows): {startup}")
    print(
        f"driver peak RSS: {memory['rss_mib_n']} MiB for {memory['n']:,} lines, "
        f"{memory['rss_mib_4n']} MiB for {4 * memory['n']:,}"
    )


if __name__ == "__main__":
    main()
