"""End-to-end demo: train a digits CNN, profile it, get plans from a local server, prune, retrain.

Run ``pruneplan demo`` (or ``python -m pruneplan.clients.demo``). Everything is local: a server on
a free 127.0.0.1 port with its SQLite store in a temporary directory, scikit-learn's bundled digits
(nothing is downloaded), CPU only, seeded.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from pruneplan.solver import AllocationProblem, AllocationResult, allocate

from ..torch import (
    LOG_DENSITY_LEVELS,
    apply,
    distortion,
    problem_for,
    profile,
    refine,
    relative_budget,
)
from ._digits import Digits, DigitsCNN, accuracy, load_digits, train

__all__ = ["METHODS", "REFINED", "ROWS", "Row", "main", "run"]

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


@contextmanager
def local_service(workdir: Path, console: Console) -> Iterator[Solve]:
    """A server on a free loopback port with its SQLite store in ``workdir``, and a solve function.

    Falls back to the in-process solver (saying so) where the service is not installed.
    """
    try:
        from pruneplan.clients import Client
        from pruneplan.service.server import ServerConfig, create_server
    except ImportError as exc:
        console.print(f"[yellow]service unavailable ({exc}); solving in-process[/yellow]")
        yield lambda problem, method: allocate(problem, method=method)
        return
    server, port = create_server(ServerConfig(port=0, db=str(workdir / "plans.sqlite")))
    console.print(f"server on 127.0.0.1:{port}, plan store {workdir / 'plans.sqlite'}")
    try:
        with Client(f"127.0.0.1:{port}") as client:
            yield lambda problem, method: client.solve(problem, method=method)
    finally:
        server.stop(0).wait()


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


def _predicted(problem: AllocationProblem, result: AllocationResult) -> float:
    """The one-shot profile's sum of layer distortions at the plan's levels."""
    total = 0.0
    for p in problem.layers:
        levels = np.asarray(p.levels, dtype=np.float64)
        loss = np.asarray(p.loss, dtype=np.float64)
        total += float(np.interp(result.sparsity[p.name], levels, loss))
    return total


def table(rows: Sequence[Row], dense_acc: float) -> Table:
    """The demo's rich table."""
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
    """Per-layer sparsity per method (lowest budget) and accuracy against budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
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
    left.legend(fontsize=8)
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
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(
    *, out: Path, quick: bool, seed: int, console: Console, solve: Solve | None = None
) -> list[Row]:
    """The demo's pipeline; ``solve`` defaults to a local server (see ``local_service``)."""
    torch.manual_seed(seed)
    data = load_digits(seed)
    epochs, ft_epochs = (4, 1) if quick else (30, 3)
    budgets = (0.3,) if quick else (0.3, 0.1)
    start = time.perf_counter()
    model = train(DigitsCNN(), data.x_train, data.y_train, epochs=epochs, seed=seed)
    dense_acc = accuracy(model, data.x_test, data.y_test)
    console.print(
        f"trained digits CNN: {epochs} epochs, test accuracy {dense_acc:.1%} "
        f"({time.perf_counter() - start:.1f} s)"
    )
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
    with tempfile.TemporaryDirectory() as tmp, _solver(solve, Path(tmp), console) as solve_fn:
        for budget in budgets:
            problem = problem_for(model, profiles, relative_budget(profiles, {"flops": budget}))
            results = {method: solve_fn(problem, method) for method in METHODS}
            results[REFINED] = refine(
                model,
                calib,
                problem,
                results["exact"],
                solve=lambda p: solve_fn(p, "exact"),
                profile_options={"metric": METRIC, "progress": False},
            )
            for method in ROWS:
                rows.append(
                    prune_and_retrain(
                        model,
                        data,
                        calib,
                        results[method],
                        budget=budget,
                        epochs=ft_epochs,
                        seed=seed,
                        method=method,
                        predicted=_predicted(problem, results[method]),
                    )
                )
    console.print(table(rows, dense_acc))
    out.mkdir(parents=True, exist_ok=True)
    plot(rows, dense_acc, out / "demo.png")
    (out / "demo.json").write_text(
        json.dumps({"dense_accuracy": dense_acc, "rows": [asdict(r) for r in rows]}, indent=1)
    )
    console.print(f"wrote {out / 'demo.png'} and {out / 'demo.json'}")
    return rows


@contextmanager
def _solver(solve: Solve | None, workdir: Path, console: Console) -> Iterator[Solve]:
    if solve is not None:
        yield solve
        return
    with local_service(workdir, console) as served:
        yield served


def main(argv: list[str] | None = None) -> int:
    """``pruneplan demo [--out DIR] [--quick] [--seed N]``."""
    parser = argparse.ArgumentParser(prog="pruneplan demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    parser.add_argument("--quick", action="store_true", help="tiny training, one budget (CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    console = Console() if sys.stdout.isatty() else Console(width=160)
    run(out=args.out, quick=args.quick, seed=args.seed, console=console)
    console.print(f"demo done in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
