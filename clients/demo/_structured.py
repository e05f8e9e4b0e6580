"""The demo's structured section: channels really removed from the digits CNN, per method.

FLOPs and latency budgets; ``exact`` against ``global_threshold``, ``greedy`` and ``uniform``
(the same tangent rounds for each, `plan_channels`); each plan pruned physically, its measured
latency and speed-up, its accuracy before and after the same fine-tune.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from pruneplan.solver import InvalidProblemError, SelectionProblem, SelectionResult, select

from ..torch import (
    LATENCY,
    ChannelGraph,
    ChannelPlan,
    LatencyTable,
    ModelCost,
    channel_graph,
    channel_importance,
    latency_tables,
    measure_model,
    plan_channels,
    prune_channels,
)
from ._digits import Digits, accuracy, train

__all__ = [
    "IMPORTANCE",
    "METHODS",
    "Budget",
    "Row",
    "available",
    "budgets",
    "prune_and_finetune",
    "section",
    "table",
    "write",
]

METHODS = ("exact", "global_threshold", "greedy", "uniform")
"""``exact`` and the baselines of the field, all through the same rounds."""

IMPORTANCE = "taylor"
"""First-order Taylor ``|w * grad|`` on labelled calibration batches."""


@dataclass(frozen=True)
class Budget:
    """A budget of the section: ``fraction`` of the dense model's ``resource``."""

    resource: str
    fraction: float

    @property
    def label(self) -> str:
        return f"{self.fraction:.0%} {'latency' if self.resource == LATENCY else 'FLOPs'}"


@dataclass(frozen=True)
class Row:
    """One physically pruned model of the section."""

    method: str
    budget: str
    target: float
    achieved: float
    flops: float
    dense_flops: float
    params: int
    dense_params: int
    latency_ms: float
    dense_latency_ms: float
    acc_before: float
    acc_after: float
    status: str
    kept: dict[str, int]

    @property
    def speedup(self) -> float:
        return self.dense_latency_ms / self.latency_ms


def available() -> bool:
    """Whether Torch-Pruning (``pip install pruneplan[structured]``) is installed."""
    try:
        import torch_pruning  # noqa: F401
    except ImportError:
        return False
    return True


def budgets(quick: bool) -> list[Budget]:
    """50% and 30% of the FLOPs and 60% of the modelled latency (quick: 50% FLOPs, latency)."""
    flops = [Budget("flops", 0.5)] if quick else [Budget("flops", 0.5), Budget("flops", 0.3)]
    return [*flops, Budget(LATENCY, 0.6)]


Solve = Callable[[Any, str], Any]
"""``solve(problem, method) -> result`` (a local server's ``Client.solve`` or in-process)."""


def _selection_solver(solve: Solve, console: Console) -> Callable[[str], Any]:
    """Per method, ``problem -> result`` through ``solve``; in-process (said once) while the
    client's wire format has no selection problem yet."""
    state = {"local": False}

    def for_method(method: str) -> Callable[[SelectionProblem], SelectionResult]:
        def run(problem: SelectionProblem) -> SelectionResult:
            if not state["local"]:
                try:
                    result: SelectionResult = solve(problem, method)
                    return result
                except InvalidProblemError as exc:
                    if exc.field != "problem":
                        raise
                    console.print("[yellow]selection not on the wire yet; in-process[/yellow]")
                    state["local"] = True
            return select(problem, method=method)

        return run

    return for_method


def section(
    model: torch.nn.Module,
    data: Digits,
    solve: Solve,
    *,
    quick: bool,
    seed: int,
    console: Console,
) -> list[Row]:
    """Build the channel graph, time the latency tables, solve every budget with every method,
    prune physically, measure, fine-tune and measure again."""
    example = data.x_test[:256]
    graph = channel_graph(model, example)
    calib = [(data.x_train[i : i + 128], data.y_train[i : i + 128]) for i in (0, 128)]
    values = channel_importance(graph, calib, IMPORTANCE)
    table_ = latency_tables(graph, widths=4 if quick else 8, progress=console.is_terminal)
    dense = measure_model(model, example)
    console.print(
        f"structured: {len(graph.groups)} groups ({', '.join(graph.names)}), latency tables on "
        f"{table_.device}, dense {dense.latency_ms:.2f} ms per 256 images"
    )
    for_method = _selection_solver(solve, console)
    rows = []
    for budget in budgets(quick):
        limit = _limit(graph, table_, budget)
        for method in METHODS:
            plan = plan_channels(
                graph,
                [],
                limit,
                importance=values,
                solve=for_method(method),
                latency=table_ if budget.resource == LATENCY else None,
            )
            if not plan.feasible:
                console.print(f"[yellow]{method} at {budget.label}: {plan.result.message}[/yellow]")
                continue
            rows.append(
                prune_and_finetune(
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
            )
    return rows


def _limit(graph: ChannelGraph, latency: LatencyTable, budget: Budget) -> dict[str, float]:
    if budget.resource == LATENCY:
        return {LATENCY: budget.fraction * latency.usage({})}
    return {budget.resource: budget.fraction * graph.dense[budget.resource]}


def prune_and_finetune(
    model: torch.nn.Module,
    data: Digits,
    plan: ChannelPlan,
    budget: Budget,
    example: torch.Tensor,
    *,
    dense: ModelCost,
    epochs: int,
    seed: int,
    method: str,
) -> Row:
    """Prune a copy of ``model`` physically to ``plan``, measure it, fine-tune it, measure."""
    pruned = copy.deepcopy(model)
    prune_channels(pruned, example, plan)
    cost = measure_model(pruned, example)
    acc_before = accuracy(pruned, data.x_test, data.y_test)
    train(pruned, data.x_train, data.y_train, epochs=epochs, lr=1e-3, seed=seed)
    return Row(
        method=method,
        budget=budget.label,
        target=plan.budget[budget.resource],
        achieved=plan.usage[budget.resource],
        flops=cost.flops,
        dense_flops=dense.flops,
        params=cost.params,
        dense_params=dense.params,
        latency_ms=cost.latency_ms or 0.0,
        dense_latency_ms=dense.latency_ms or 0.0,
        acc_before=acc_before,
        acc_after=accuracy(pruned, data.x_test, data.y_test),
        status=plan.result.status.name,
        kept={n: int(m.sum()) for n, m in plan.masks.items()},
    )


def table(rows: Sequence[Row], dense_acc: float) -> Table:
    """The section's rich table."""
    out = Table(title=f"Structured pruning, digits CNN (dense accuracy {dense_acc:.1%})")
    headers = (
        "method",
        "budget",
        "achieved / target",
        "FLOPs",
        "params",
        "latency ms",
        "speed-up",
        "acc zero-shot",
        "acc fine-tuned",
    )
    for h in headers:
        out.add_column(h, justify="left" if h == "method" else "right", no_wrap=True)
    for r in rows:
        out.add_row(
            r.method,
            r.budget,
            f"{r.achieved / r.target:.3f}",
            f"{r.flops:,.0f} ({r.flops / r.dense_flops:.0%})",
            f"{r.params:,} ({r.params / r.dense_params:.0%})",
            f"{r.latency_ms:.2f}",
            f"{r.speedup:.2f}x",
            f"{r.acc_before:.1%}",
            f"{r.acc_after:.1%}",
        )
    return out


def write(rows: Sequence[Row], dense_acc: float, out: Path) -> Path:
    """``structured.json`` in ``out``: the dense accuracy and every row."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "structured.json"
    payload = {"dense_accuracy": dense_acc, "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(payload, indent=1))
    return path
