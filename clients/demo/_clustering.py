"""The demo's clustering section: cluster-and-merge of the digits CNN's channels against
magnitude pruning to the same widths, zero-shot and after the same short fine-tune."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ..torch import ModelMergeReport, cluster_model, drop_channels
from ._digits import Digits, accuracy, train

__all__ = ["KEEP", "METHODS", "ClusterRow", "section", "show", "table", "write"]

KEEP = (0.5, 0.25)
"""Fractions of the mergeable layers' channels kept (``--quick``: the first only)."""

METHODS = ("cluster-and-merge", "magnitude")
"""Channels merged into their cluster's representative, or the smallest filters removed."""


@dataclass(frozen=True)
class ClusterRow:
    """One narrowed model of the section."""

    method: str
    keep: float
    channels: int
    dense_channels: int
    params: int
    dense_params: int
    widths: dict[str, int]
    distortion: float
    acc_before: float
    acc_after: float


def section(
    model: torch.nn.Module, data: Digits, *, quick: bool, seed: int, console: Console
) -> list[ClusterRow]:
    """Per width: cluster-and-merge a copy of ``model``, remove the same number of channels
    per layer from another copy by filter norm, measure both, fine-tune both alike, measure."""
    calib = data.calibration()
    rows = []
    for keep in KEEP[:1] if quick else KEEP:
        merged = copy.deepcopy(model)
        report = cluster_model(merged, calib, keep=keep)
        console.print(
            f"clustered {len(report.layers)} layers to {report.kept} of {report.channels} "
            f"channels ({report.result.method}, {report.result.solve_time_s:.2f} s)"
        )
        pruned = copy.deepcopy(model)
        drop_channels(pruned, report.magnitude_kept)
        for method, narrowed, distortion in (
            (METHODS[0], merged, report.distortion),
            (METHODS[1], pruned, report.magnitude_distortion),
        ):
            rows.append(
                _measure(narrowed, data, report, method, keep, distortion, quick=quick, seed=seed)
            )
    return rows


def _measure(
    narrowed: torch.nn.Module,
    data: Digits,
    report: ModelMergeReport,
    method: str,
    keep: float,
    distortion: float,
    *,
    quick: bool,
    seed: int,
) -> ClusterRow:
    acc_before = accuracy(narrowed, data.x_test, data.y_test)
    train(narrowed, data.x_train, data.y_train, epochs=1 if quick else 3, lr=1e-3, seed=seed)
    return ClusterRow(
        method=method,
        keep=keep,
        channels=report.kept,
        dense_channels=report.channels,
        params=report.params,
        dense_params=report.dense_params,
        widths={layer.name: layer.kept for layer in report.layers},
        distortion=distortion,
        acc_before=acc_before,
        acc_after=accuracy(narrowed, data.x_test, data.y_test),
    )


def table(rows: Sequence[ClusterRow], dense_acc: float) -> Table:
    """The section's rich table."""
    out = Table(
        title=f"Channels merged vs removed, digits CNN (dense test accuracy {dense_acc:.1%})"
    )
    for header in ("method", "channels", "widths", "params", "output rel. MSE", "acc zero-shot"):
        out.add_column(header, justify="left" if header == "method" else "right", no_wrap=True)
    out.add_column("acc fine-tuned", justify="right", no_wrap=True)
    for r in rows:
        out.add_row(
            r.method,
            f"{r.channels} / {r.dense_channels}",
            "-".join(str(w) for w in r.widths.values()),
            f"{r.params:,} ({r.params / r.dense_params:.0%})",
            f"{r.distortion:.4g}",
            f"{r.acc_before:.1%}",
            f"{r.acc_after:.1%}",
        )
    return out


def write(rows: Sequence[ClusterRow], dense_acc: float, out: Path) -> list[Path]:
    """``clustering.json`` (the dense accuracy and every row) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "clustering.json"
    path.write_text(
        json.dumps({"dense_accuracy": dense_acc, "rows": [asdict(r) for r in rows]}, indent=1)
    )
    return [path]


def show(
    model: torch.nn.Module,
    data: Digits,
    dense_acc: float,
    *,
    out: Path,
    quick: bool,
    seed: int,
    console: Console,
) -> list[ClusterRow]:
    """`section`, its `table` printed and its file written: the demo's one line."""
    rows = section(model, data, quick=quick, seed=seed, console=console)
    console.print(table(rows, dense_acc))
    console.print(f"wrote {', '.join(map(str, write(rows, dense_acc, out)))}")
    return rows
