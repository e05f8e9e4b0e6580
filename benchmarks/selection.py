"""Channel selection: `exact` against HiGHS and OR-Tools' knapsack solver, and the baselines.

Rows: per-item costs with 10^4 / 10^5 / 10^6 items in 50-500 groups (one and three
resources), and count tables (200 groups x 4,096 counts). Every ratio is against a reference
measured in the same run: time against HiGHS (run in a killable subprocess: its presolve
ignores the time limit), objective against the best found. Timings on a shared machine are
noisy. ``--quick`` for a smoke run, ``--case TEXT`` for the rows whose label contains it,
``--json PATH`` to keep the rows.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import time
from typing import Any

import numpy as np

from pruneplan.solver.selection import ItemGroup, SelectionProblem, select

NAMES = ("flops", "params", "latency")


def items_problem(n: int, n_groups: int, n_res: int, seed: int = 0) -> SelectionProblem:
    """Lognormal importances; per-item costs a group scale times U(0.5, 1.5); half the cost."""
    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - n_groups, np.ones(n_groups) / n_groups) + 1
    groups, total = [], np.zeros(n_res)
    for g, size in enumerate(sizes):
        values = rng.lognormal(0.0, 1.0, size) * rng.uniform(0.5, 2.0)
        scale = rng.uniform(1.0, 10.0, n_res)
        costs = {NAMES[r]: scale[r] * rng.uniform(0.5, 1.5, size) for r in range(n_res)}
        total += [costs[NAMES[r]].sum() for r in range(n_res)]
        groups.append(ItemGroup(f"g{g}", values, costs=costs))
    return SelectionProblem(groups, {NAMES[r]: 0.5 * total[r] for r in range(n_res)})


def table_problem(n_groups: int, width: int, seed: int = 0) -> SelectionProblem:
    """Latency staircases (steps of 8/16/32 channels, measurement noise), half the latency."""
    rng = np.random.default_rng(seed)
    groups, total = [], 0.0
    n = width - 1
    for g in range(n_groups):
        step = rng.choice([8, 16, 32])
        latency = np.ceil(np.arange(n + 1) / step) * rng.uniform(0.5, 2.0)
        latency = latency + np.abs(rng.normal(0.0, 0.05, n + 1))
        groups.append(
            ItemGroup(f"g{g}", rng.lognormal(0, 1, n), cost_by_count={"latency": latency})
        )
        total += float(latency[-1])
    return SelectionProblem(groups, {"latency": 0.5 * total})


def _highs_child(problem: SelectionProblem, limit: float, queue: Any) -> None:
    start = time.perf_counter()
    result = select(problem, method="milp", time_limit=limit)
    queue.put((time.perf_counter() - start, result.objective, result.gap, result.status.name))


def run_highs(problem: SelectionProblem, limit: float) -> dict[str, Any]:
    """`milp` in a subprocess, killed at ``1.5 limit + 5`` s."""
    queue: Any = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_highs_child, args=(problem, limit, queue))
    start = time.perf_counter()
    proc.start()
    proc.join(1.5 * limit + 5.0)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return {"time": time.perf_counter() - start, "objective": math.inf, "gap": math.inf,
                "status": "killed"}  # fmt: skip
    t, objective, gap, status = queue.get()
    return {"time": t, "objective": objective, "gap": gap, "status": status}


def run_ortools(problem: SelectionProblem, scale: float = 1e6) -> dict[str, Any]:
    """OR-Tools' branch-and-bound knapsack solver on integer-scaled data (one resource, no
    side constraints: it has neither min_keep nor groups)."""
    try:
        from ortools.algorithms.python import knapsack_solver
    except ImportError:
        return {"time": math.nan, "objective": math.nan, "gap": math.nan, "status": "n/a"}
    values = np.concatenate([np.asarray(g.values, dtype=float) for g in problem.groups])
    resources = list(problem.budget)
    costs = [np.concatenate([np.asarray(g.costs[r], dtype=float) for g in problem.groups])  # type: ignore[index]
             for r in resources]  # fmt: skip
    start = time.perf_counter()
    solver = knapsack_solver.KnapsackSolver(
        knapsack_solver.SolverType.KNAPSACK_MULTIDIMENSION_BRANCH_AND_BOUND_SOLVER, "sel"
    )
    solver.set_time_limit(60.0)
    v = np.rint(values * scale).astype(np.int64).tolist()
    w = [np.ceil(c * scale).astype(np.int64).tolist() for c in costs]
    cap = [int(problem.budget[r] * scale) for r in resources]
    solver.init(v, w, cap)
    solver.solve()
    kept = np.array([solver.best_solution_contains(i) for i in range(values.size)])
    elapsed = time.perf_counter() - start
    return {"time": elapsed, "objective": float(values[~kept].sum()), "gap": math.nan,
            "status": "optimal" if solver.is_solution_optimal() else "time_limit"}  # fmt: skip


def run_method(problem: SelectionProblem, method: str, limit: float) -> dict[str, Any]:
    start = time.perf_counter()
    result = select(problem, method=method, time_limit=limit)
    return {"time": time.perf_counter() - start, "objective": result.objective,
            "gap": result.gap, "status": result.status.name.lower()}  # fmt: skip


def cases(quick: bool) -> list[tuple[str, SelectionProblem, list[str], bool]]:
    """(label, problem, methods, whether HiGHS and OR-Tools run)."""
    baselines = ["greedy", "uniform", "global_threshold"]
    if quick:
        return [
            ("1e3/20 1res", items_problem(1_000, 20, 1), ["exact", *baselines, "halp"], True),
            ("1e3/20 3res", items_problem(1_000, 20, 3), ["exact", "greedy"], True),
            ("20x257 table", table_problem(20, 257), ["exact", "halp", "uniform"], True),
        ]
    return [
        ("1e4/50 1res", items_problem(10_000, 50, 1), ["exact", *baselines, "halp"], True),
        ("1e5/200 1res", items_problem(100_000, 200, 1), ["exact", *baselines], True),
        ("1e6/500 1res", items_problem(1_000_000, 500, 1), ["exact", "greedy"], False),
        ("1e4/50 3res", items_problem(10_000, 50, 3), ["exact", "greedy"], True),
        ("1e5/200 3res", items_problem(100_000, 200, 3), ["exact", "greedy"], True),
        ("200x4096 table", table_problem(200, 4096), ["exact", "halp", "uniform"], False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    parser.add_argument("--limit", type=float, default=None, help="time limit per solve, s")
    parser.add_argument("--case", metavar="TEXT", default="",
                        help="only the cases whose label contains TEXT (e.g. 3res)")  # fmt: skip
    args = parser.parse_args()
    limit = args.limit or (2.0 if args.quick else 20.0)
    rows = []
    print("| case | method | time s | x HiGHS time | objective | / best | certified gap | status |")
    print("|---|---|---|---|---|---|---|---|")
    for label, problem, methods, refs in cases(args.quick):
        if args.case not in label:
            continue
        runs = {m: run_method(problem, m, limit) for m in methods}
        if refs:
            runs["highs"] = run_highs(problem, limit)
            if len(problem.budget) == 1 and all(g.costs for g in problem.groups):
                runs["ortools"] = run_ortools(problem)
        best = min(r["objective"] for r in runs.values() if np.isfinite(r["objective"]))
        ref = runs.get("highs", {}).get("time", math.nan)
        for method, r in runs.items():
            ratio = r["time"] / ref if ref and np.isfinite(ref) else math.nan
            rows.append({"case": label, "method": method, **r, "vs_best": r["objective"] / best})
            print(f"| {label} | {method} | {r['time']:.3f} | {ratio:.3g} | {r['objective']:.6g} | "
                  f"{r['objective'] / best:.6f} | {r['gap']:.2g} | {r['status']} |")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
