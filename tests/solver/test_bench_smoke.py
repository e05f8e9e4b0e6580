"""Smoke run of ``benchmarks/allocation.py --quick --json`` (seconds; no timing assertions)."""

from __future__ import annotations

import math
from pathlib import Path

from tests._bench import run_benchmark


def test_quick_benchmark_writes_rows_where_exact_matches_highs(tmp_path: Path) -> None:
    data = run_benchmark("allocation", tmp_path, "--quick", timeout=120)
    assert data["quick"] is True
    rows = data["rows"]
    assert {r["instance"] for r in rows} == {"20x11, 1 res", "20x11, 3 res"}
    methods = {r["method"] for r in rows}
    assert {"milp", "exact", "lagrangian", "dp"} <= methods
    assert len(rows) == 2 * len(methods)
    for r in rows:
        assert r["status"] in ("optimal", "feasible"), r
        assert math.isfinite(r["objective"]) and r["solve_s"] > 0 and r["peak_mib"] >= 0
        if r["method"] in ("exact", "milp"):
            assert abs(r["gap_to_highs"]) <= 1e-9
        else:
            assert r["gap_to_highs"] >= -1e-9  # nothing beats the optimum
