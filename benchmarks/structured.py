"""Structured pruning that really gets faster: budgets hit, measured latency, accuracy.

Two parts, every ratio against a reference measured in the same run:

- ResNet-18 (torchvision's shapes, random init, ``pruneplan.clients.torch.resnet18``: no
  torchvision release installs beside torch 2.13 here) with a CPU latency table: at 50% and
  30% of the FLOPs and at a latency budget, the physical model's achieved FLOPs / params and
  measured latency against the target, for ``exact``, ``global_threshold``, ``greedy`` and
  ``uniform`` (all through the same tangent rounds, `plan_channels`); and
  ``global_threshold`` at the FLOPs ``exact`` spends under the latency budget.
- The digits CNN, trained per seed: the same budgets and methods, accuracy after the same
  fine-tune, paired over seeds: mean and spread of ``exact`` minus each baseline and a
  one-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, alternative "less": is
  ``exact`` below the baseline?). With 5 seeds the smallest attainable p is 1/32.

Timings on a shared machine are noisy (every latency is the fastest of 15 runs, one thread).
``--quick`` for a smoke run, ``--json PATH`` to keep the rows.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from scipy.stats import wilcoxon

from pruneplan.clients.demo._digits import DigitsCNN, accuracy, load_digits, train
from pruneplan.clients.demo._structured import Budget, prune_and_finetune
from pruneplan.clients.torch import (
    LATENCY,
    ChannelGraph,
    LatencyTable,
    channel_graph,
    channel_importance,
    latency_tables,
    measure_model,
    plan_channels,
    prune_channels,
    resnet18,
)

METHODS = ("exact", "global_threshold", "greedy", "uniform")
BUDGETS = (Budget("flops", 0.5), Budget("flops", 0.3), Budget(LATENCY, 0.6))


def _limit(graph: ChannelGraph, table: LatencyTable, budget: Budget) -> dict[str, float]:
    if budget.resource == LATENCY:
        return {LATENCY: budget.fraction * table.usage({})}
    return {budget.resource: budget.fraction * graph.dense[budget.resource]}


def _resnet_row(
    model: torch.nn.Module,
    x: torch.Tensor,
    graph: ChannelGraph,
    table: LatencyTable,
    dense: Any,
    limit: dict[str, float],
    label: str,
    method: str,
    round_to: int,
) -> dict[str, Any]:
    start = time.perf_counter()
    latency = table if LATENCY in limit else None
    plan = plan_channels(graph, [], limit, method=method, latency=latency, round_to=round_to)
    solve_s = time.perf_counter() - start
    if not plan.feasible:
        return {"model": "resnet18", "budget": label, "method": method, "status": "INFEASIBLE"}
    pruned = copy.deepcopy(model)
    prune_channels(pruned, x, plan)
    cost = measure_model(pruned, x)
    resource = next(iter(limit))
    return {
        "model": "resnet18",
        "budget": label,
        "method": method,
        "status": plan.result.status.name,
        "achieved/target": plan.usage[resource] / limit[resource],
        "flops/dense": cost.flops / dense.flops,
        "flops==plan": abs(cost.flops - plan.usage["flops"]) <= 1e-9 * cost.flops,
        "params/dense": cost.params / dense.params,
        "modelled_ms": table.usage({n: int(m.sum()) for n, m in plan.masks.items()}),
        "latency_ms": cost.latency_ms,
        "latency/dense": (cost.latency_ms or 0.0) / dense.latency_ms,
        "plan_s": solve_s,
        "flops": cost.flops,
    }


def resnet(quick: bool, round_to: int) -> list[dict[str, Any]]:
    """ResNet-18 rows; the latency budget is a fraction of the table's dense total."""
    torch.manual_seed(0)
    model = resnet18().eval()
    x = torch.randn(1, 3, *((64, 64) if quick else (224, 224)))
    graph = channel_graph(model, x)
    start = time.perf_counter()
    table = latency_tables(graph, widths=3 if quick else 8, round_to=round_to, progress=False)
    dense = measure_model(model, x)
    print(
        f"resnet18: {len(graph.groups)} groups, latency table {time.perf_counter() - start:.1f} s,"
        f" dense {dense.latency_ms:.1f} ms (table {table.usage({}):.1f} ms)"
    )
    rows = []
    for budget in BUDGETS[:1] + BUDGETS[2:] if quick else BUDGETS:
        limit = _limit(graph, table, budget)
        for method in METHODS:
            rows.append(
                _resnet_row(model, x, graph, table, dense, limit, budget.label, method, round_to)
            )
        if budget.resource == LATENCY and "flops" in rows[-len(METHODS)]:
            same = {"flops": rows[-len(METHODS)]["flops"] * (1 + 1e-12)}
            row = _resnet_row(
                model, x, graph, table, dense, same, budget.label, "global_threshold", round_to
            )
            rows.append({**row, "method": "global_threshold @ exact's FLOPs"})
    for r in rows:
        if r["budget"].endswith("latency") and "latency/dense" in r:
            r["measured meets"] = r["latency/dense"] <= BUDGETS[2].fraction
    return rows


def reachable(table: LatencyTable, limit: float, round_to: int, min_keep: int = 1) -> float:
    """The most modelled latency any plan can spend within ``limit`` (brute force over the
    distinct steps of every group's staircase), whatever it keeps: how close to a latency
    budget a plan can get at all."""
    sums = np.array([table.constant])
    for steps in table.tables.values():
        n = len(steps) - 1
        counts = [k for k in range(min_keep, n + 1) if k % round_to == 0 or k == n]
        sums = np.unique(np.add.outer(sums, np.unique(np.asarray(steps)[counts])).ravel())
        sums = sums[sums <= limit * (1 + 1e-12)]
        if sums.size == 0:
            return float("nan")
    return float(sums.max())


def digits(seeds: Sequence[int], quick: bool, round_to: int) -> list[dict[str, Any]]:
    """Digits CNN rows: one per seed, budget and method."""
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        data = load_digits(seed)
        model = train(DigitsCNN(), data.x_train, data.y_train, epochs=4 if quick else 15, seed=seed)
        dense_acc = accuracy(model, data.x_test, data.y_test)
        example = data.x_test[:256]
        graph = channel_graph(model, example)
        calib = [(data.x_train[i : i + 128], data.y_train[i : i + 128]) for i in (0, 128)]
        values = channel_importance(graph, calib, "taylor")
        table = latency_tables(graph, widths=4 if quick else 16, round_to=round_to, progress=False)
        dense = measure_model(model, example)
        for budget in BUDGETS:
            limit = _limit(graph, table, budget)
            latency = table if budget.resource == LATENCY else None
            best = reachable(table, limit[LATENCY], round_to) if latency else float("nan")
            for method in METHODS:
                plan = plan_channels(
                    graph,
                    [],
                    limit,
                    importance=values,
                    method=method,
                    latency=latency,
                    round_to=round_to,
                )
                if not plan.feasible:
                    continue
                row = prune_and_finetune(
                    model,
                    data,
                    plan,
                    budget,
                    example,
                    dense=dense,
                    epochs=1 if quick else 3,
                    seed=seed,
                    method=method,
                )
                rows.append(
                    {
                        "model": "digits",
                        "seed": seed,
                        "dense_acc": dense_acc,
                        "reachable": best,
                        **asdict(row),
                    }
                )
        print(f"digits seed {seed}: dense accuracy {dense_acc:.3f}")
    return rows


def paired(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per budget and baseline: exact minus baseline accuracy over seeds, Wilcoxon (less)."""
    out = []
    for budget in dict.fromkeys(r["budget"] for r in rows):
        acc = {(r["method"], r["seed"]): r["acc_after"] for r in rows if r["budget"] == budget}
        seeds = sorted({s for _, s in acc})
        for method in METHODS[1:]:
            both = [s for s in seeds if ("exact", s) in acc and (method, s) in acc]
            diff = np.array([acc["exact", s] - acc[method, s] for s in both])
            p = float("nan")
            if len(diff) >= 2 and np.any(diff != 0):
                p = float(wilcoxon(diff, alternative="less").pvalue)
            out.append(
                {
                    "budget": budget,
                    "baseline": method,
                    "seeds": len(both),
                    "mean": float(diff.mean()) if len(diff) else float("nan"),
                    "std": float(diff.std(ddof=1)) if len(diff) > 1 else float("nan"),
                    "p(exact<baseline)": p,
                }
            )
    return out


def _print(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        cells = [r.get(k, "") for k in keys]
        print(
            "| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in cells) + " |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small input, 2 seeds (smoke run)")
    parser.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    parser.add_argument("--seeds", type=int, default=5, help="digits seeds (>= 5 for the test)")
    parser.add_argument("--round-to", type=int, default=1, help="kept counts a multiple of")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for timing")
    parser.add_argument("--skip-resnet", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    res = [] if args.skip_resnet else resnet(args.quick, args.round_to)
    _print(
        res,
        [
            "budget",
            "method",
            "status",
            "achieved/target",
            "flops/dense",
            "flops==plan",
            "params/dense",
            "modelled_ms",
            "latency_ms",
            "latency/dense",
            "measured meets",
            "plan_s",
        ],
    )
    dig = digits(range(2 if args.quick else args.seeds), args.quick, args.round_to)
    summary = []
    for budget in dict.fromkeys(r["budget"] for r in dig):
        for method in METHODS:
            mine = [r for r in dig if r["budget"] == budget and r["method"] == method]
            if mine:
                summary.append(
                    {
                        "budget": budget,
                        "method": method,
                        "seeds": len(mine),
                        "min achieved/target": min(r["achieved"] / r["target"] for r in mine),
                        "max achieved/target": max(r["achieved"] / r["target"] for r in mine),
                        "min reachable/target": min(r["reachable"] / r["target"] for r in mine),
                        "at reachable": sum(
                            r["achieved"] >= r["reachable"] * (1 - 1e-9) for r in mine
                        ),
                        "flops/dense": float(
                            np.mean([r["flops"] / r["dense_flops"] for r in mine])
                        ),
                        "speed-up": float(
                            np.mean([r["dense_latency_ms"] / r["latency_ms"] for r in mine])
                        ),
                        "acc zero-shot": float(np.mean([r["acc_before"] for r in mine])),
                        "acc fine-tuned": float(np.mean([r["acc_after"] for r in mine])),
                        "acc std": float(np.std([r["acc_after"] for r in mine], ddof=1))
                        if len(mine) > 1
                        else float("nan"),
                    }
                )
    _print(
        summary,
        [
            "budget",
            "method",
            "seeds",
            "min achieved/target",
            "max achieved/target",
            "min reachable/target",
            "at reachable",
            "flops/dense",
            "speed-up",
            "acc zero-shot",
            "acc fine-tuned",
            "acc std",
        ],
    )
    tests = paired(dig)
    _print(tests, ["budget", "baseline", "seeds", "mean", "std", "p(exact<baseline)"])
    print(f"total {time.perf_counter() - start:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {"resnet18": res, "digits": dig, "digits_summary": summary, "paired": tests},
                fh,
                indent=1,
                default=str,
            )


if __name__ == "__main__":
    main()
