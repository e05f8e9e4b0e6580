"""Batch jobs on a shared store: what the leases cost, and one server against two on one file.

* Store: per item, ``claim`` + ``record_result`` (the lease path) against ``record_result``
  alone after one ``pending`` read (the path before leases), same file, same run.
* Batch: ``N`` tiny requests through one server, then through two servers sharing the file
  (both working on the same job); items per second and the ratio.

``python benchmarks/shared_store.py [--quick] [--json PATH]``. Timings on a shared machine are
noisy: compare the ratios, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from pathlib import Path

from pruneplan.clients import Client
from pruneplan.service.server import ServerConfig, create_server
from pruneplan.service.store import PlanStore
from pruneplan.solver import AllocationProblem, LayerProfile


def store_rates(items: int, folder: Path) -> dict[str, float]:
    """Items per second: plain ``record_result`` against ``claim`` + ``record_result``."""
    rates = {}
    for name in ("record", "claim+record"):
        store = PlanStore(folder / f"{name}.db")
        store.create_job("j", [b"x" * 200] * items)
        start = time.perf_counter()
        if name == "record":
            for index, _ in store.pending("j"):
                store.record_result("j", index, plan_id="p")
        else:
            while (claim := store.claim("me", 60.0)) is not None:
                store.record_result("j", claim.index, plan_id="p", owner="me")
        rates[name] = items / (time.perf_counter() - start)
        store.close()
    return rates


def _problem(i: int) -> AllocationProblem:
    levels = [0.0, 0.25, 0.5, 0.75]
    layers = [
        LayerProfile(f"l{j}", levels, [0.0, 0.1 * (j + 1), 0.3 * (j + 1), 1.0 * (j + 1)], 100)
        for j in range(4)
    ]
    return AllocationProblem(layers, {"params": 150.0 + i})  # distinct: no plan cache hits


def batch_rate(items: int, servers: int, folder: Path) -> float:
    """Items per second of one batch through ``servers`` servers on one file."""
    db = folder / f"batch{servers}.db"
    started = [create_server(ServerConfig(db=db, workers=1, grace_s=1.0)) for _ in range(servers)]
    try:
        with Client(f"127.0.0.1:{started[0][1]}", timeout=600.0) as client:
            warm = client.submit_batch([_problem(-1 - i) for i in range(4 * servers)])
            client.results(warm, wait=True, timeout=600)  # solver processes and imports warm
            start = time.perf_counter()
            job_id = client.submit_batch([_problem(i) for i in range(items)])
            client.results(job_id, wait=True, timeout=600)
            elapsed = time.perf_counter() - start
        with sqlite3.connect(db) as raw:
            twice = raw.execute("SELECT COUNT(*) FROM job_items WHERE attempts != 1").fetchone()
        assert twice[0] == 0, "an item was claimed twice"
        return items / elapsed
    finally:
        for server, _ in started:
            server.stop(0).wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: few items")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    store_items, batch_items = (200, 40) if args.quick else (5000, 400)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rates = store_rates(store_items, folder)
        one = batch_rate(batch_items, 1, folder)
        two = batch_rate(batch_items, 2, folder)
    rows = [
        {"what": f"store, {store_items} items", "reference": "record_result only",
         "reference_per_s": rates["record"], "measured": "claim + record_result",
         "measured_per_s": rates["claim+record"], "ratio": rates["claim+record"] / rates["record"]},
        {"what": f"batch, {batch_items} tiny items", "reference": "1 server",
         "reference_per_s": one, "measured": "2 servers, one file", "measured_per_s": two,
         "ratio": two / one},
    ]  # fmt: skip
    print("| what | reference | items/s | measured | items/s | ratio |")
    print("|---|---|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['what']} | {r['reference']} | {r['reference_per_s']:.0f} | {r['measured']} "
            f"| {r['measured_per_s']:.0f} | {r['ratio']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
