"""Smoke run of ``benchmarks/selection.py --quick --json`` (no timing assertions)."""

from __future__ import annotations

import math
from pathlib import Path

from tests._bench import run_benchmark


def test_quick_benchmark_exact_matches_highs_on_one_resource_and_tables(tmp_path: Path) -> None:
    rows = run_benchmark("selection", tmp_path, "--quick", "--limit", "5")
    exact = {r["case"]: r for r in rows if r["method"] == "exact"}
    assert {"1e3/20 1res", "20x257 table"} <= set(exact)
    for case in ("1e3/20 1res", "20x257 table"):
        assert exact[case]["status"] == "optimal" and exact[case]["vs_best"] == 1.0
    for row in rows:  # nothing that finished beats the best, and exact is the best where proven
        if math.isfinite(row["objective"]):
            assert row["vs_best"] >= 1.0 - 1e-9
            assert row["objective"] >= exact[row["case"]]["objective"] * (1 - 1e-9) or (
                exact[row["case"]]["status"] != "optimal"
            )
