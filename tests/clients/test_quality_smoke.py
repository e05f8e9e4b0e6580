"""Smoke run of ``benchmarks/quality.py --smoke --json`` (seconds; no timing assertions)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests._bench import run_benchmark

pytest.importorskip("torch")
pytest.importorskip("sklearn")

METHODS = {"search", "exact", "exact (refined)", "uniform", "global_magnitude", "lamp", "erk",
           "random"}  # fmt: skip


def test_smoke_run_writes_rows_where_every_plan_meets_its_budget(tmp_path: Path) -> None:
    data = run_benchmark("quality", tmp_path, "--smoke", "--out", str(tmp_path))
    assert data["quick"] is True and data["evaluations"] == 22
    assert set(data["raw"]) == {"digits CNN", "digits MLP"}
    for name, seeds in data["raw"].items():
        assert len(seeds) == 1
        run = seeds[0]
        assert set(run) == {"dense", "profile_s", "params:0.7"}, name
        assert 0.5 < sum(run["dense"]) / len(run["dense"]) <= 1.0  # a trained classifier
        cell = run["params:0.7"]
        assert set(cell) == {"search_s", "search_evaluations", "search_holdout", "budget",
                             *METHODS}  # fmt: skip
        assert 0 < cell["search_evaluations"] <= 22 and cell["search_s"] > 0
        assert set(cell["budget"]) == {"params"}
        for method in METHODS:
            row = cell[method]
            assert set(row) == {"items", "calib", "usage"}, (name, method)
            assert len(row["items"]) == len(run["dense"])
            assert set(row["items"]) <= {0.0, 1.0}
            assert math.isfinite(row["calib"]) and row["calib"] >= 0
            for resource, budget in cell["budget"].items():
                assert row["usage"][resource] <= budget * (1 + 1e-9), (name, method, resource)
        # the search is never worse than its start (exact) where it picked: the held-out batches
        held, start_held = cell["search_holdout"]
        assert held <= start_held
    assert set(data["summary"]) == {"digits CNN 70% sparsity", "digits MLP 70% sparsity"}
    assert (tmp_path / "quality_smoke.md").read_text().startswith("| model | cell | method |")
    assert (tmp_path / "quality_smoke.png").stat().st_size > 0
