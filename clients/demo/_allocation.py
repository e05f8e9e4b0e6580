"""The demo's allocation section: per-layer sparsity from ``exact`` (and refined) vs baselines."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from pruneplan.solver import AllocationProblem, AllocationResult

from ..torch import (
    LOG_DENSITY_LEVELS,
    apply,
    distortion,
    problem_for,
    profile,
    refine,
    relative_budget,
)
from ._digits import Digits, accuracy, train

__all__ = [
    "LEVELS",
    "MAX_SPARSITY",
    "METHODS",
    "METRIC",
    "REFINED",
    "ROWS",
    "Row",
    "Solve",
    "figure",
    "plot",
    "predicted",
    "prune_and_retrain",
    "section",
    "table",
    "write",
]

METHODS = ("exact", "uniform", "global_magnitude", "lamp", "erk", "random")
"""The solver's exact allocation and the baselines it is compared with."""

MAX_SPARSITY = 1.0 - 1.0 / 32
"""The highest level any layer may take (31/32 on the default grid)."""

METRIC = "kl"
"""A classifier's distortion: KL of the pruned model's predictions to the dense ones.

Measured on the digits models (held-out part of the training set, seeds apart from the
benchmark's, never the test set), plans on KL lose less zero-shot accuracy than plans on
logit MSE at 70% and 90% sparsity; see ``profile``'s Notes for why."""

REFINED = "exact (refined)"
"""``exact``, then ``refine``: two rounds of re-profiling around the plan and re-solving."""

ROWS = (METHODS[0], REFINED, *METHODS[1:])
"""The rows of the demo's table, per budget."""

LEVELS = LOG_DENSITY_LEVELS
"""The budgets reach 90% sparsity, where the default grid's steps are too coarse."""

Solve = Callable[[AllocationProblem, str], AllocationResult]
"""``solve(problem, method) -> plan``: a local server's ``Client.solve`` or in-process."""


@dataclass(frozen=True)
class Row:
    """One pruned model of the demo."""

    method: str
    budget: float
    params: int
    dense_params: int
    flops: float
    dense_flops: float
    acc_before: float
    acc_after: float
    predicted: float
    measured: float
    status: str
    plan_id: str
    sparsity: dict[str, float]


def section(
    model: torch.nn.Module,
    data: Digits,
    solve: Solve,
    *,
    quick: bool,
    seed: int,
    console: Console,
) -> list[Row]:
    """Profile ``model``, solve every budget with ``exact``, ``refine`` and the baselines,
    apply each plan to a copy, measure, fine-tune briefly and measure again."""
    calib = data.calibration()
    start = time.perf_counter()
    # No layer may go entirely: a fully masked layer disconnects the network for good.
    profiles = profile(
        model,
        calib,
        levels=LEVELS,
        metric=METRIC,
        progress=console.is_terminal,
        max_sparsity=MAX_SPARSITY,
    )
    console.print(
        f"profiled {len(profiles)} layers x {len(LEVELS)} levels, metric {METRIC} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    rows = []
    for budget in (0.3,) if quick else (0.3, 0.1):
        problem = problem_for(model, profiles, relative_budget(profiles, {"flops": budget}))
        results = {method: solve(problem, method) for method in METHODS}
        results[REFINED] = refine(
            model,
            calib,
            problem,
            results["exact"],
            solve=lambda p: solve(p, "exact"),
            profile_options={"metric": METRIC, "progress": False},
        )
        for method in ROWS:
            row = prune_and_retrain(
                model,
                data,
                calib,
                results[method],
                budget=budget,
                epochs=1 if quick else 3,
                seed=seed,
                method=method,
                predicted=predicted(problem, results[method]),
            )
            rows.append(row)
    return rows


def prune_and_retrain(
    model: torch.nn.Module,
    data: Digits,
    calib: Sequence[torch.Tensor],
    result: AllocationResult,
    *,
    budget: float,
    epochs: int,
    seed: int,
    method: str,
    predicted: float,
) -> Row:
    """Apply ``result`` to a copy of ``model``, measure, fine-tune briefly, measure again."""
    model.eval()
    with torch.no_grad():
        dense_out = [model(b) for b in calib]
    pruned = copy.deepcopy(model)
    report = apply(pruned, result, example=calib[0])
    acc_before = accuracy(pruned, data.x_test, data.y_test)
    with torch.no_grad():
        measured = distortion([pruned(b) for b in calib], dense_out, METRIC)
    train(pruned, data.x_train, data.y_train, epochs=epochs, lr=1e-3, seed=seed)
    return Row(
        method=method,
        budget=budget,
        params=report.params,
        dense_params=report.dense_params,
        flops=report.flops or 0.0,
        dense_flops=report.dense_flops or 0.0,
        acc_before=acc_before,
        acc_after=accuracy(pruned, data.x_test, data.y_test),
        predicted=predicted,
        measured=measured,
        status=result.status.name,
        plan_id=result.plan_id,
        sparsity={r.name: r.sparsity for r in report.layers},
    )


def predicted(problem: AllocationProblem, result: AllocationResult) -> float:
    """The one-shot profile's sum of layer distortions at the plan's levels."""
    total = 0.0
    for p in problem.layers:
        levels = np.asarray(p.levels, dtype=np.float64)
        loss = np.asarray(p.loss, dtype=np.float64)
        total += float(np.interp(result.sparsity[p.name], levels, loss))
    return total


def table(rows: Sequence[Row], dense_acc: float) -> Table:
    """The section's rich table."""
    out = Table(title=f"Pruned digits CNN (dense test accuracy {dense_acc:.1%})")
    for header in ("method", "budget", "params", "FLOPs", "acc zero-shot", "acc fine-tuned"):
        out.add_column(header, justify="left" if header == "method" else "right", no_wrap=True)
    out.add_column(f"{METRIC} pred. / measured", justify="right", no_wrap=True)
    for r in rows:
        out.add_row(
            r.method,
            f"{r.budget:.0%} FLOPs",
            f"{r.params:,} ({r.params / r.dense_params:.0%})",
            f"{r.flops:,.0f} ({r.flops / r.dense_flops:.0%})",
            f"{r.acc_before:.1%}",
            f"{r.acc_after:.1%}",
            f"{r.predicted:.4g} / {r.measured:.4g}",
        )
    return out


def plot(rows: Sequence[Row], dense_acc: float, path: Path) -> None:
    """Write ``figure(rows, dense_acc)`` to ``path`` (PNG, legends included)."""
    plt = _pyplot()
    fig = figure(rows, dense_acc)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def figure(rows: Sequence[Row], dense_acc: float) -> Any:
    """Per-layer sparsity per method (lowest budget) and accuracy against budget.

    Each legend sits below its axes, outside them, so that no bar or point is hidden.
    """
    fig, (left, right) = _pyplot().subplots(1, 2, figsize=(12, 5))
    lowest = min(r.budget for r in rows)
    at = [r for r in rows if r.budget == lowest]
    names = list(at[0].sparsity)
    width = 0.8 / len(at)
    for i, r in enumerate(at):
        xs = [j + (i - (len(at) - 1) / 2) * width for j in range(len(names))]
        left.bar(xs, [r.sparsity[n] for n in names], width, label=r.method)
    left.set_xticks(range(len(names)), [n.removesuffix(".weight") for n in names])
    left.set_ylabel("sparsity")
    left.set_title(f"per-layer sparsity at {lowest:.0%} of the FLOPs")
    _legend_below(left, len(at))
    for i, method in enumerate(dict.fromkeys(r.method for r in rows)):
        mine = sorted((r for r in rows if r.method == method), key=lambda r: r.budget)
        color = f"C{i}"
        budgets = [r.budget for r in mine]
        right.plot(budgets, [r.acc_after for r in mine], "o-", color=color, label=method)
        right.plot(budgets, [r.acc_before for r in mine], "x--", color=color, alpha=0.6)
    right.axhline(dense_acc, color="gray", lw=0.8, label="dense")
    right.set_xlabel("FLOPs budget (fraction of dense)")
    right.set_ylabel("test accuracy (solid: fine-tuned, dashed: zero-shot)")
    right.set_title("accuracy against budget")
    _legend_below(right, len(at) + 1)
    return fig


def _pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend_below(axes: Any, entries: int) -> None:
    """A legend under the axes' x label, in up to four columns (outside the data area)."""
    axes.legend(
        fontsize=8,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.14),
        ncol=min(4, entries),
        frameon=False,
    )


def write(rows: Sequence[Row], dense_acc: float, out: Path) -> list[Path]:
    """``demo.png`` (``plot``) and ``demo.json`` (the dense accuracy and every row) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    plot(rows, dense_acc, out / "demo.png")
    (out / "demo.json").write_text(
        json.dumps({"dense_accuracy": dense_acc, "rows": [asdict(r) for r in rows]}, indent=1)
    )
    return [out / "demo.png", out / "demo.json"]
