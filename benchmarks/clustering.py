"""Benchmark the clustering family against bioimage-cpp (python-elf's back end) in the same run.

Instances: n = 10^3, 4,000, 10^4 and 10^5 unit feature vectors, d = 64, around n/10 centres
plus as much noise (redundant, not duplicated channels), offset 0.5. Rows: our dense
``gaec`` (factorised, no edge list) and ``knn`` (kNN candidates, GAEC, element moves, then
Kernighan-Lin on the dense cost; kNN search included), the same without Kernighan-Lin,
bioimage-cpp's GAEC on the explicit complete graph for n <= 4,000 and on the same kNN graph
from 10^4 on, and bioimage-cpp's Kernighan-Lin warm-started from our ``knn`` labels on the
same kNN graph up to 10^4 (it optimises the sparse graph's cost, not the dense one).
Every partition is scored on the dense objective (the cut cost over all pairs). ``vs ref``
is the reference's time divided by the row's (wall, and CPU in brackets); ``obj gap`` is
``(objective - reference objective) / |reference objective|`` (negative: better than it).
The reference row is bioimage-cpp's GAEC; its time includes building the explicit graph.

faiss runs on ``--threads`` threads (2: the target machine's cores); everything else is
single-threaded numpy (BLAS threads as the environment sets them).

Usage: ``python benchmarks/clustering.py [--quick] [--sizes N ...] [--threads T] [--json PATH]``
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pruneplan.solver.clustering._cost import cut_cost
from pruneplan.solver.clustering._elf import ELF_DENSE_MAX, explicit_graph
from pruneplan.solver.clustering._gaec import gaec
from pruneplan.solver.clustering._knn import knn_graph, multicut_knn

OFFSET = 0.5
NOISE = 1.0
"""Noise around each centre, per coordinate (centre coordinates have unit variance)."""
DENSE_MAX = 10_000
"""Largest n given to the dense ``gaec`` (O(n^2 d) first pass)."""
ELF_KL_MAX = 10_000
"""Largest n given to bioimage-cpp's Kernighan-Lin (at 10^5 it ran for minutes)."""


def features(n: int, d: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 10), d))
    x = centres[rng.integers(0, len(centres), n)] + NOISE * rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@dataclass
class Timing:
    """Wall and CPU seconds (the CPU time shows the work on a machine shared with others)."""

    wall: float = 0.0
    cpu: float = 0.0

    def __add__(self, other: Timing) -> Timing:
        return Timing(self.wall + other.wall, self.cpu + other.cpu)


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, Timing]:
    start, cpu = time.perf_counter(), time.process_time()
    labels = fn()
    return labels, Timing(time.perf_counter() - start, time.process_time() - cpu)


def elf_solve(
    x: np.ndarray, neighbours: np.ndarray | None, init: np.ndarray | None = None
) -> np.ndarray:
    """bioimage-cpp's GAEC, or its Kernighan-Lin warm-started from ``init``."""
    import bioimage_cpp as bic

    mc = bic.graph.multicut
    uv, costs = explicit_graph(x, OFFSET, neighbours)
    graph = bic.graph.UndirectedGraph.from_edges(x.shape[0], uv.astype(np.uint64))
    objective = mc.MulticutObjective(graph, costs)
    if init is None:
        return np.asarray(mc.GreedyAdditiveMulticut().optimize(objective))
    objective.labels = init.astype(np.uint64)
    return np.asarray(mc.KernighanLinMulticut().optimize(objective))


def run(n: int) -> list[dict[str, Any]]:
    x = features(n)
    rows: dict[str, tuple[np.ndarray, Timing, Timing]] = {}  # labels, total, of it kNN
    neighbours, t_knn = timed(lambda: knn_graph(x, 10))
    none = Timing()
    if n <= ELF_DENSE_MAX:
        labels, t = timed(lambda: elf_solve(x, None))
        rows["elf gaec, complete graph"] = (labels, t, none)
    else:
        labels, t = timed(lambda: elf_solve(x, neighbours))
        rows["elf gaec, same kNN graph"] = (labels, t + t_knn, t_knn)
    if n <= DENSE_MAX:
        labels, t = timed(lambda: gaec(x, OFFSET).labels)
        rows["gaec (dense, factorised)"] = (labels, t, none)
    labels, t = timed(lambda: multicut_knn(x, OFFSET, neighbours=neighbours, kl=0).labels)
    rows["knn, no KL (k=10, 3 move passes)"] = (labels, t + t_knn, t_knn)
    ours, t = timed(lambda: multicut_knn(x, OFFSET, neighbours=neighbours).labels)
    rows["knn (k=10, 3 move passes, 10 KL rounds)"] = (ours, t + t_knn, t_knn)
    if n <= ELF_KL_MAX:
        labels, t = timed(lambda: elf_solve(x, neighbours, init=ours))
        rows["elf KL from knn's labels, same kNN graph"] = (labels, t + t_knn, t_knn)
    ref_labels, ref_t, _ = next(iter(rows.values()))
    ref_obj = cut_cost(x, ref_labels, OFFSET)
    out = []
    for name, (labels, t, tk) in rows.items():
        obj = cut_cost(x, labels, OFFSET)
        out.append(
            {
                "n": n, "method": name, "time_s": t.wall, "cpu_s": t.cpu,
                "knn_s": tk.wall, "knn_cpu_s": tk.cpu,
                "clusters": int(np.unique(labels).size), "objective": obj,
                "obj_gap": (obj - ref_obj) / abs(ref_obj), "vs_ref": ref_t.wall / t.wall,
                "vs_ref_cpu": ref_t.cpu / max(t.cpu, 1e-9),
            }
        )  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 200 and 600 only")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--sizes", type=int, nargs="+", help="these n instead")
    parser.add_argument("--threads", type=int, default=2, help="faiss threads (default 2)")
    args = parser.parse_args()
    try:
        import faiss

        faiss.omp_set_num_threads(args.threads)
    except ImportError:
        print("faiss not installed: the exact kNN graph is numpy's, IVF is not used")
    sizes = [200, 600] if args.quick else [1_000, 4_000, 10_000, 100_000]
    sizes = args.sizes or sizes
    head = "| n | method | time s | cpu s | of it kNN s (cpu) | clusters | objective | obj gap |"
    print(head + " vs ref |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for n in sizes:
        for r in run(n):
            rows.append(r)
            cells = [
                r["n"], r["method"], f"{r['time_s']:.2f}", f"{r['cpu_s']:.2f}",
                f"{r['knn_s']:.2f} ({r['knn_cpu_s']:.2f})", r["clusters"], f"{r['objective']:.10g}",
                f"{r['obj_gap']:+.5%}", f"{r['vs_ref']:.2f}x ({r['vs_ref_cpu']:.2f}x cpu)",
            ]  # fmt: skip
            print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
