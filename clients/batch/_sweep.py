"""Budget sweeps: one saved problem (or a folder of them) solved for every budget on a grid and
every method, as a batch; a CSV of the results and a frontier plot.

Any family whose problem message has a ``budget`` map can be swept with totals (``absolute``);
fractions of the unpruned total need the family's `TOTALS` entry. A family whose result carries a
``frontier`` (allocation's ``dp``) gets it drawn beside the sweep, from one solve, as a check.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import json_format

from pruneplan.service import convert
from pruneplan.service.dispatch import solve_request
from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

from ._runner import Summary, run_batch


def _allocation_totals(problem: Any) -> dict[str, float]:
    """Per resource, the total of the least pruned level of every layer."""
    totals: dict[str, float] = {}
    for layer in problem.layers:
        levels = np.asarray(layer.levels, dtype=float)
        costs = {"params": layer.size * (1.0 - levels), **(layer.costs or {})}
        for resource, cost in costs.items():
            totals[resource] = totals.get(resource, 0.0) + float(np.max(cost))
    return totals


def _selection_totals(problem: Any) -> dict[str, float]:
    """Per resource, what every group costs keeping all its items (the per-item costs summed,
    or the last entry of a by-count table)."""
    totals: dict[str, float] = {}
    for group in problem.groups:
        full = {name: float(np.sum(cost)) for name, cost in (group.costs or {}).items()}
        for name, table in (group.cost_by_count or {}).items():
            full[name] = float(np.asarray(table, dtype=float)[-1])
        for resource, cost in full.items():
            totals[resource] = totals.get(resource, 0.0) + cost
    return totals


TOTALS: dict[str, Callable[[Any], Mapping[str, float]]] = {
    "allocation": _allocation_totals,
    "selection": _selection_totals,
}
"""The unpruned total of each resource, by ``SolveRequest.problem`` field (what a budget
fraction is a fraction of)."""

FRONTIER_METHOD = "dp"
"""The method whose single solve draws the frontier, where the family has it."""

CSV_COLUMNS = (
    "problem",
    "method",
    "resource",
    "budget",
    "budget_total",
    "status",
    "objective",
    "bound",
    "usage",
)


@dataclass(frozen=True)
class Point:
    """One request of the sweep."""

    problem: str
    method: str
    budget: float
    """As given (a fraction, or a total with ``absolute``)."""
    total: float
    """The budget's total in the resource's units."""


@dataclass
class Sweep:
    """A sweep's plan: the problems, the grid, and the request of every point."""

    resource: str
    budgets: list[float]
    methods: list[str]
    absolute: bool
    problems: dict[str, pb.SolveRequest] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    """Per problem, the total a fraction multiplies (1.0 with ``absolute``)."""
    points: dict[str, Point] = field(default_factory=dict)


def parse_budgets(spec: str) -> tuple[str, list[float]]:
    """``"flops=0.05:0.6:0.05"`` (stop included) or ``"flops=0.1,0.2"`` -> resource, values."""
    resource, sep, values = spec.partition("=")
    if not sep or not resource or not values:
        raise ValueError(f"--budget: must be RESOURCE=START:STOP:STEP or R=V1,V2; got {spec!r}")
    try:
        if ":" in values:
            start, stop, step = (float(v) for v in values.split(":"))
            if step <= 0 or stop < start:
                raise ValueError("STEP must be > 0 and STOP >= START")
            count = math.floor((stop - start) / step + 1e-9) + 1
            grid = [round(start + i * step, 12) for i in range(count)]
        else:
            grid = [float(v) for v in values.split(",")]
    except ValueError as exc:
        raise ValueError(f"--budget {spec!r}: {exc}") from None
    if not grid or min(grid) <= 0:
        raise ValueError(f"--budget {spec!r}: budgets must be > 0")
    return resource, grid


def load_problems(path: Path) -> dict[str, pb.SolveRequest]:
    """The saved `SolveRequest` JSON of ``path``, or of every ``*.json`` in the folder ``path``,
    by name (the request id, else the file name)."""
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no *.json problems")
    problems: dict[str, pb.SolveRequest] = {}
    for file in files:
        try:
            request = json_format.Parse(file.read_text(encoding="utf-8"), pb.SolveRequest())
        except json_format.ParseError as exc:
            raise ValueError(f"{file}: not a SolveRequest: {exc}") from None
        problems[request.request_id or file.stem] = request
    return problems


def _budget_map(request: pb.SolveRequest) -> Any:
    """The ``budget`` map of the request's problem message (ValueError if it has none)."""
    kind = request.WhichOneof("problem")
    if kind is None:
        raise ValueError(f"request {request.request_id!r} has no problem")
    message = getattr(request, kind)
    field = message.DESCRIPTOR.fields_by_name.get("budget")
    if field is None or field.message_type is None or not field.message_type.GetOptions().map_entry:
        raise ValueError(f"{kind} problems have no budget map (resource -> total) to sweep")
    return message.budget


def _scale(request: pb.SolveRequest, resource: str, absolute: bool) -> float:
    if absolute:
        return 1.0
    kind = str(request.WhichOneof("problem"))
    if kind not in TOTALS:
        raise ValueError(f"{kind}: budgets as fractions are not known; pass --absolute")
    _, problem, _ = convert.parse_request(request)
    totals = TOTALS[kind](problem)
    if resource not in totals:
        raise ValueError(f"resource {resource!r}: the problem has {', '.join(sorted(totals))}")
    return float(totals[resource])


def plan_sweep(
    problems: Mapping[str, pb.SolveRequest],
    resource: str,
    budgets: Sequence[float],
    methods: Sequence[str] | None = None,
    absolute: bool = False,
) -> Sweep:
    """Every (problem, method, budget) point, each with its request."""
    sweep = Sweep(resource, list(budgets), list(methods or []), absolute)
    for name, request in problems.items():
        sweep.problems[name] = request
        sweep.scale[name] = scale = _scale(request, resource, absolute)
        for method in methods or [request.method or "auto"]:
            for budget in budgets:
                key = f"{name}/{method}/{resource}={budget:g}"
                sweep.points[key] = Point(name, method, budget, budget * scale)
    return sweep


def sweep_requests(sweep: Sweep) -> Iterator[pb.SolveRequest]:
    """The request of every point (the problem's own budget replaced by the swept one)."""
    for key, point in sweep.points.items():
        request = pb.SolveRequest()
        request.CopyFrom(sweep.problems[point.problem])
        request.request_id, request.method = key, point.method
        budget = _budget_map(request)
        budget.clear()
        budget[sweep.resource] = point.total
        yield request


def _rows(sweep: Sweep, results: Path) -> list[dict[str, Any]]:
    rows = []
    with results.open(encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            point = sweep.points.get(record["request_id"])
            if point is None:
                continue
            c = record.get("response", {}).get("certificate", {})
            status = c.get("status", "STATUS_ERROR").removeprefix("STATUS_")
            feasible = status in ("OPTIMAL", "FEASIBLE", "TIME_LIMIT") and "response" in record
            rows.append(
                {
                    "problem": point.problem,
                    "method": point.method,
                    "resource": sweep.resource,
                    "budget": point.budget,
                    "budget_total": point.total,
                    "status": status if "response" in record else record["error"]["kind"],
                    "objective": float(c.get("objective", 0.0)) if feasible else math.nan,
                    "bound": float(c.get("lower_bound", 0.0)) if feasible else math.nan,
                    "usage": float(c.get("usage", {}).get(sweep.resource, math.nan)),
                }
            )
    rows.sort(key=lambda r: (r["problem"], r["method"], r["budget"]))
    return rows


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def frontier(sweep: Sweep, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(budgets as swept, objective)`` of one `FRONTIER_METHOD` solve at the largest budget,
    when the family has that method and its result carries a frontier; else ``None``."""
    request = pb.SolveRequest()
    request.CopyFrom(sweep.problems[name])
    request.method = FRONTIER_METHOD
    budget = _budget_map(request)
    budget.clear()
    budget[sweep.resource] = max(sweep.budgets) * sweep.scale[name]
    try:
        result = convert.response_to_result(solve_request(request, identify=False))
    except InvalidProblemError:
        return None  # no such method in this family
    curve = getattr(result, "frontier", None)
    if curve is None or curve.resource != sweep.resource:
        return None
    objective = np.where(np.isfinite(curve.objective), curve.objective, np.nan)
    return np.asarray(curve.budget) / sweep.scale[name], objective


def plot(sweep: Sweep, rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Objective (predicted loss) against budget per method, one panel per problem, with the
    frontier of one solve where the family has one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(sweep.problems)
    cols = min(3, len(names))
    rows_n = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5 * cols, 3.8 * rows_n), squeeze=False)
    unit = sweep.resource if sweep.absolute else f"{sweep.resource} (fraction of unpruned)"
    for ax, name in zip(axes.flat, names, strict=False):
        curve = frontier(sweep, name)
        if curve is not None:
            ax.step(*curve, where="post", color="0.6", lw=2.5, label=f"{FRONTIER_METHOD} frontier")
        methods = sorted({r["method"] for r in rows if r["problem"] == name})
        for method in methods:
            points = [r for r in rows if r["problem"] == name and r["method"] == method]
            xs = [r["budget"] for r in points]
            ax.plot(xs, [r["objective"] for r in points], marker="o", ms=4, label=method)
        ax.set(title=name, xlabel=f"budget: {unit}", ylabel="objective (predicted loss)")
        ax.set_xlim(min(sweep.budgets) * 0.95, max(sweep.budgets) * 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_requests(sweep: Sweep, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as f:
        for request in sweep_requests(sweep):
            f.write(json_format.MessageToJson(request, indent=None) + "\n")
    partial.replace(path)


def run_sweep(
    profile: str | Path,
    budget: str,
    out_dir: str | Path,
    *,
    methods: Sequence[str] | None = None,
    absolute: bool = False,
    progress: bool = False,
    **engine: Any,
) -> Summary:
    """Write the sweep's batch (``sweep.jsonl``), run it (``results.jsonl``, resumable), and
    write ``sweep.csv`` and ``sweep.png`` into ``out_dir``. ``engine`` goes to `run_batch`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    resource, budgets = parse_budgets(budget)
    sweep = plan_sweep(load_problems(Path(profile)), resource, budgets, methods, absolute)
    _write_requests(sweep, out / "sweep.jsonl")
    summary = run_batch(out / "sweep.jsonl", out / "results.jsonl", progress=progress, **engine)
    rows = _rows(sweep, out / "results.jsonl")
    write_csv(rows, out / "sweep.csv")
    plot(sweep, rows, out / "sweep.png")
    return summary
