"""``pruneplan sweep``: the batch of a budget grid, its CSV and its frontier plot."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from pruneplan.clients.batch._sweep import (
    _allocation_totals,
    _selection_totals,
    frontier,
    parse_budgets,
    plan_sweep,
    sweep_requests,
)
from pruneplan.clients.cli import main
from pruneplan.service import convert
from pruneplan.v1 import pruning_service_pb2 as pb

from ._examples import allocation_problem, selection_requests, transport_requests


def _save(path: Path, seed: int) -> Path:
    problem = allocation_problem(seed, 0.5, layers=6)
    request = convert.build_request(problem, convert.SolveArgs("exact"), request_id=path.stem)
    path.write_text(json_format.MessageToJson(request), encoding="utf-8")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_parse_budgets() -> None:
    resource, grid = parse_budgets("flops=0.05:0.6:0.05")
    assert resource == "flops" and len(grid) == 12
    np.testing.assert_allclose(grid, np.arange(1, 13) * 0.05)
    assert parse_budgets("params=0.1,0.3") == ("params", [0.1, 0.3])
    for bad in ("flops", "flops=0.5:0.1:0.1", "flops=0:0.5:0.1", "flops=a,b", "=0.1"):
        with pytest.raises(ValueError, match="--budget"):
            parse_budgets(bad)


def test_sweep_writes_csv_and_png(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for seed in (1, 2):
        _save(profiles / f"model{seed}.json", seed)
    out = tmp_path / "sweep"
    argv = ["sweep", str(profiles), "--budget", "flops=0.2:0.8:0.2", "--method", "exact,uniform"]
    assert main([*argv, "--out-dir", str(out), "--no-progress", "--workers", "2"]) == 0
    rows = _read_csv(out / "sweep.csv")
    assert len(rows) == 2 * 2 * 4
    assert list(rows[0]) == [
        "problem",
        "method",
        "resource",
        "budget",
        "budget_total",
        "status",
        "objective",
        "bound",
        "usage",
    ]
    for name, seed in (("model1", 1), ("model2", 2)):
        total = _allocation_totals(allocation_problem(seed, 0.5, layers=6))["flops"]
        mine = [r for r in rows if r["problem"] == name]
        exact = [r for r in mine if r["method"] == "exact"]
        uniform = [r for r in mine if r["method"] == "uniform"]
        budgets = [float(r["budget"]) for r in exact]
        np.testing.assert_allclose(budgets, [0.2, 0.4, 0.6, 0.8])
        np.testing.assert_allclose(
            [float(r["budget_total"]) for r in exact], np.array(budgets) * total
        )
        objective = np.array([float(r["objective"]) for r in exact])
        assert all(r["status"] == "OPTIMAL" for r in exact)
        assert np.all(np.diff(objective) <= 1e-12)  # more budget never costs more
        for e, u in zip(exact, uniform, strict=True):  # the optimum beats the baseline
            assert float(e["usage"]) <= float(e["budget_total"]) + 1e-6
            if u["status"] != "INFEASIBLE":
                assert float(e["objective"]) <= float(u["objective"]) + 1e-9
    png = (out / "sweep.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    import matplotlib.image

    image = matplotlib.image.imread(out / "sweep.png")
    assert image.shape[1] > image.shape[0] > 300  # two panels side by side
    assert float(np.std(image[..., :3])) > 0.05  # something is drawn


def test_frontier_matches_the_exact_sweep(tmp_path: Path) -> None:
    """The frontier of one ``dp`` solve agrees with the exact solve at every swept budget."""
    path = _save(tmp_path / "model.json", 3)
    problems = {"model": json_format.Parse(path.read_text(), pb.SolveRequest())}
    grid = [0.3, 0.5, 0.7]
    sweep = plan_sweep(problems, "flops", grid, ["exact"])
    curve = frontier(sweep, "model")
    assert curve is not None
    budgets, objective = curve
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--budget", "flops=0.3,0.5,0.7", "--method", "exact"]
    assert main([*argv, "--out-dir", str(out), "--no-progress", "--workers", "1"]) == 0
    exact = [float(r["objective"]) for r in _read_csv(out / "sweep.csv")]
    at_budget = [objective[np.searchsorted(budgets, b, side="right") - 1] for b in grid]
    np.testing.assert_allclose(at_budget, exact, rtol=1e-6)


def test_absolute_budgets_and_unknown_resource(tmp_path: Path) -> None:
    path = _save(tmp_path / "model.json", 4)
    out = tmp_path / "out"
    argv = ["sweep", str(path), "--budget", "params=300,600", "--absolute", "--out-dir", str(out)]
    assert main([*argv, "--no-progress", "--workers", "1"]) == 0
    rows = _read_csv(out / "sweep.csv")
    assert [float(r["budget_total"]) for r in rows] == [300.0, 600.0]
    argv = ["sweep", str(path), "--budget", "latency=0.5", "--out-dir", str(out)]
    assert main([*argv, "--no-progress"]) == 2


def test_selection_sweeps_as_fractions_of_its_totals() -> None:
    """A selection problem's budgets are fractions of keeping every item (summed by hand)."""
    (request,) = selection_requests(1, seed=3)
    _, problem, _ = convert.parse_request(request)
    totals = _selection_totals(problem)
    by_hand = sum(float(np.sum(group.costs["flops"])) for group in problem.groups)
    np.testing.assert_allclose(totals["flops"], by_hand)
    sweep = plan_sweep({"sel": request}, "flops", [0.25, 0.5])
    budgets = [point.total for point in sweep.points.values()]
    np.testing.assert_allclose(budgets, [0.25 * by_hand, 0.5 * by_hand])


def test_a_family_without_a_budget_map_is_refused_by_name() -> None:
    (request,) = transport_requests(1)
    sweep = plan_sweep({"t": request}, "mass", [1.0], absolute=True)
    with pytest.raises(ValueError, match="transport problems have no budget map"):
        list(sweep_requests(sweep))
