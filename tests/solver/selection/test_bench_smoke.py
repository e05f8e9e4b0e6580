"""Smoke run of ``benchmarks/selection.py --quick`` (no timing assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "selection.py"


def test_quick_benchmark_exact_matches_highs_on_one_resource_and_tables() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--limit", "1"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()]
    rows = [r for r in rows if len(r) == 8 and r[0] in ("1e3/20 1res", "20x257 table")]
    exact = {r[0]: r for r in rows if r[1] == "exact"}
    assert set(exact) == {"1e3/20 1res", "20x257 table"}
    for row in exact.values():
        assert row[7] == "optimal" and float(row[5]) == 1.0
    for row in rows:
        assert float(row[5]) >= 1.0 - 1e-9  # nothing beats the best
