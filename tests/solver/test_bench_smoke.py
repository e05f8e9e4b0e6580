"""Smoke run of ``benchmarks/allocation.py --quick`` (a few seconds; no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "allocation.py"


def test_quick_benchmark_prints_a_table_where_exact_matches_highs() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    rows = [line.split("|")[1:-1] for line in out.splitlines() if line.startswith("| 20x11")]
    methods = {cells[1].strip() for cells in rows}
    assert {"milp", "exact", "lagrangian", "dp"} <= methods
    assert len(rows) == 2 * len(methods)
    for cells in rows:
        gap = float(cells[5])
        if cells[1].strip() in ("exact", "milp"):
            assert abs(gap) <= 1e-9
        else:
            assert gap >= -1e-9  # nothing beats the optimum
