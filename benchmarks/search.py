"""What a measured search session costs besides the measurements, in-process and over the wire.

The caller's measurements (forward passes) are replaced by a synthetic additive "true" loss that
the proxy misjudges (each layer's curve scaled by a random factor), so the time measured is the
session's own: proposals (swaps, residual-perturbed exact re-solves), halving, persistence.

* reference: one ``allocate(problem)`` (exact) of the same problem, in the same run;
* ``in-process``: `SearchSession`, ``evaluations`` measurements, per resolve method;
* ``over the wire``: the same search through a server on 127.0.0.1 (state in SQLite, loaded and
  stored on every call), asked and told in batches of a whole stage;
* quality: the true loss of the final plan over the start (exact) plan's.

``python benchmarks/search.py [--quick] [--json PATH]``. Timings on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pruneplan.clients import Client
from pruneplan.service.server import ServerConfig, create_server
from pruneplan.solver import AllocationProblem, LayerProfile, allocate
from pruneplan.solver.search import Candidate, SearchOptions, SearchSession, SearchState


def make_problem(layers: int, levels: int, seed: int = 0) -> tuple[AllocationProblem, list[Any]]:
    """Plateau-then-cliff curves, a params budget at half the weights, and the "true" curves."""
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 0.99, levels)
    profiles, true = [], []
    for i in range(layers):
        cliff = rng.uniform(0.5, 0.95)
        loss = np.where(grid < cliff, grid * 0.1, (grid - cliff) * 10 + cliff * 0.1)
        loss = loss * rng.uniform(0.5, 2.0)
        profiles.append(LayerProfile(f"layer{i}.weight", grid, loss, int(rng.integers(1000, 9000))))
        true.append(loss * rng.uniform(0.3, 3.0))
    budget = 0.5 * sum(p.size for p in profiles)
    return AllocationProblem(profiles, {"params": budget}), true


def _true_loss(problem: AllocationProblem, true: list[Any], c: Candidate) -> float:
    return float(sum(t[c.level_index[p.name]] for p, t in zip(problem.layers, true, strict=True)))


def drive(session: Any, problem: AllocationProblem, true: list[Any]) -> float:
    """Ask whole stages and tell them until done; seconds."""
    began = time.perf_counter()
    while session.state is SearchState.RUNNING:
        batch = session.ask(64)
        session.tell([(c.candidate_id, _true_loss(problem, true, c), c.samples) for c in batch])
    return time.perf_counter() - began


def reference_s(problem: AllocationProblem) -> float:
    times = []
    for _ in range(3):
        began = time.perf_counter()
        allocate(problem)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def in_process(
    problem: AllocationProblem, true: list[Any], options: SearchOptions
) -> dict[str, Any]:
    began = time.perf_counter()
    session = SearchSession(problem, options)
    start = _true_loss(problem, true, session.incumbent)
    drive(session, problem, true)
    total = time.perf_counter() - began
    return {
        "seconds": total,
        "evaluations": session.evaluations_used,
        "generations": session.generation,
        "ms_per_evaluation": 1000 * total / max(session.evaluations_used, 1),
        "start_true_loss": start,
        "best_true_loss": session.best().objective,
        "state_bytes": len(json.dumps(session.to_dict())),
    }


def over_the_wire(
    problem: AllocationProblem, true: list[Any], options: SearchOptions
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        server, port = create_server(ServerConfig(db=Path(tmp) / "plans.db", workers=1))
        try:
            with Client(f"127.0.0.1:{port}", timeout=120.0) as client:
                began = time.perf_counter()
                remote = client.create_search(problem, options)
                drive(remote, problem, true)
                total = time.perf_counter() - began
                best = remote.best()
        finally:
            server.stop(0).wait(30)
    return {
        "seconds": total,
        "evaluations": remote.evaluations_used,
        "ms_per_evaluation": 1000 * total / max(remote.evaluations_used, 1),
        "best_true_loss": best.objective,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test (seconds)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    layers, levels, evaluations = (12, 21, 44) if args.quick else (54, 101, 300)
    problem, true = make_problem(layers, levels)
    results: dict[str, Any] = {
        "problem": f"{layers} x {levels}, params",
        "reference_allocate_s": reference_s(problem),
    }
    for method in ("exact", "lagrangian"):
        options = SearchOptions(evaluations=evaluations, seed=0, resolve_method=method)
        results[f"in_process_{method}"] = in_process(problem, true, options)
    options = SearchOptions(evaluations=evaluations, seed=0, resolve_method="exact")
    results["wire_exact"] = over_the_wire(problem, true, options)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    same = results["wire_exact"]["best_true_loss"] == results["in_process_exact"]["best_true_loss"]
    return 0 if same else 1


def report(results: dict[str, Any]) -> None:
    ref = results["reference_allocate_s"]
    local = results["in_process_exact"]
    print(f"problem {results['problem']}; reference: one exact allocate = {1000 * ref:.1f} ms")
    print("| run | evaluations | ms / evaluation | x reference allocate | true loss / start |")
    print("|---|---|---|---|---|")
    for key in ("in_process_exact", "in_process_lagrangian", "wire_exact"):
        r = results[key]
        ratio = r["best_true_loss"] / local["start_true_loss"]
        print(
            f"| {key} | {r['evaluations']} | {r['ms_per_evaluation']:.2f} | "
            f"{r['ms_per_evaluation'] / 1000 / ref:.2f} | {ratio:.3f} |"
        )
    wire = results["wire_exact"]["ms_per_evaluation"] / local["ms_per_evaluation"]
    print(f"over the wire / in-process (exact): {wire:.2f}x; state {local['state_bytes']} bytes")


if __name__ == "__main__":
    sys.exit(main())
