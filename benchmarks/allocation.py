"""Benchmark every allocation method against HiGHS (the ``milp`` method) in the same run.

Instances: 54, 224 and 1,000 layers x 101 levels with noisy, non-monotone plateau-then-cliff
loss curves; budgets of one resource (params) and of three (params, flops, latency_ms).
For each method it prints the solve time (method only, on the validated instance), the time of
the whole ``allocate`` call, the objective, the relative gap to the HiGHS optimum, HiGHS time
divided by the method's time, and peak traced memory (tracemalloc, in a separate run).

Usage: ``python benchmarks/allocation.py [--quick] [--json PATH]`` (``--json`` also writes the
rows, with the gap and the speed-up against HiGHS, as JSON).
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pruneplan.solver import METHODS, AllocationProblem, LayerProfile, allocate
from pruneplan.solver.allocation._instance import Instance, Solution
from pruneplan.solver.allocation._validate import validate_problem


def make_problem(n_layers: int, n_levels: int, resources: int, seed: int = 0) -> AllocationProblem:
    """Realistic synthetic profiles: plateau then cliff, measurement noise, three costs."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.99, n_levels)
    layers = []
    for i in range(n_layers):
        out_ch, in_ch = int(rng.integers(16, 512)), int(rng.integers(16, 512))
        kernel = int(rng.choice([1, 3]))
        shape = (out_ch, in_ch, kernel, kernel)
        size = out_ch * in_ch * kernel * kernel
        cliff = rng.uniform(0.4, 0.95)
        curve = np.exp(rng.uniform(5, 12) * (levels - cliff)) * rng.uniform(0.05, 2.0)
        loss = np.abs(curve + rng.normal(0.0, 0.01, n_levels))
        spatial = float(rng.choice([7, 14, 28, 56])) ** 2
        costs = {
            "flops": 2.0 * size * (1 - levels) * spatial,
            "latency_ms": (size * (1 - levels)) ** 0.8 * 1e-4 + rng.uniform(0, 0.01, n_levels),
        }
        magnitudes = np.quantile(np.abs(rng.normal(0, 1 / np.sqrt(in_ch), 512)), levels)
        layers.append(
            LayerProfile(
                f"layer{i}.weight", levels, loss, size, costs=costs, shape=shape,
                magnitudes=np.maximum.accumulate(magnitudes),
            )
        )  # fmt: skip
    full = {
        "params": sum(p.size for p in layers),
        "flops": sum(float(p.costs["flops"][0]) for p in layers if p.costs),
        "latency_ms": sum(float(p.costs["latency_ms"][0]) for p in layers if p.costs),
    }
    shares = {"params": 0.35, "flops": 0.3, "latency_ms": 0.45}
    names = ["params", "flops", "latency_ms"][:resources]
    return AllocationProblem(layers, {r: shares[r] * full[r] for r in names})


@dataclass
class Row:
    instance: str
    method: str
    solve_s: float
    allocate_s: float
    objective: float
    status: str
    peak_mib: float


T = TypeVar("T")


def _timed(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """Best wall time of ``repeats`` calls (one call if it takes over a second)."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    best = time.perf_counter() - start
    for _ in range(repeats - 1):
        if best > 1.0:
            break
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def _peak_mib(fn: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run_method(
    label: str, problem: AllocationProblem, inst: Instance, name: str, repeats: int
) -> Row:
    solve = METHODS[name].solve

    def core() -> Solution:
        return solve(inst, time_limit=None, seed=0)

    solve_s, _ = _timed(core, repeats)
    allocate_s, result = _timed(lambda: allocate(problem, method=name), repeats)
    peak = _peak_mib(core)
    return Row(label, name, solve_s, allocate_s, result.objective, result.status.value, peak)


def records(rows: list[Row]) -> list[dict[str, Any]]:
    """Every row with its relative gap to the HiGHS objective and its speed-up over HiGHS."""
    highs = {r.instance: r for r in rows if r.method == "milp"}
    out = []
    for r in rows:
        ref = highs[r.instance]
        gap = (r.objective - ref.objective) / max(abs(ref.objective), 1e-12)
        out.append({**asdict(r), "gap_to_highs": gap, "speedup": ref.solve_s / r.solve_s})
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| instance | method | solve ms | allocate ms | objective | gap to HiGHS | x faster "
        "than HiGHS | peak MiB | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['instance']} | {r['method']} | {r['solve_s'] * 1e3:.1f} "
            f"| {r['allocate_s'] * 1e3:.1f} | {r['objective']:.6f} | {r['gap_to_highs']:.2e} "
            f"| {r['speedup']:.1f} | {r['peak_mib']:.1f} | {r['status']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small instances, for a smoke run")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args()
    sizes = [(20, 11)] if args.quick else [(54, 101), (224, 101), (1000, 101)]
    repeats = 1 if args.quick else 5
    methods = ["milp", "exact", "lagrangian", "dp"] + [
        m for m in METHODS if m not in ("milp", "exact", "lagrangian", "dp")
    ]
    rows = []
    for n_layers, n_levels in sizes:
        for resources in (1, 3):
            problem = make_problem(n_layers, n_levels, resources)
            inst = validate_problem(problem)
            label = f"{n_layers}x{n_levels}, {resources} res"
            for name in methods:
                rows.append(run_method(label, problem, inst, name, repeats))
    out = records(rows)
    print(table(out))
    if args.json is not None:
        args.json.write_text(json.dumps({"quick": args.quick, "rows": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
