"""Smoke run of ``benchmarks/clustering.py --quick`` (no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "clustering.py"


def test_quick_benchmark_matches_the_reference(tmp_path: Path) -> None:
    pytest.importorskip("bioimage_cpp")
    out = tmp_path / "rows.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    rows = json.loads(out.read_text())
    assert {r["n"] for r in rows} == {200, 600}
    for r in rows:
        if r["method"].startswith("gaec"):
            assert abs(r["obj_gap"]) <= 1e-9  # the same greedy contractions as bioimage-cpp
        elif r["method"].startswith("knn"):
            assert r["obj_gap"] <= 0.005  # within 0.5% of the complete-graph GAEC
    for n in (200, 600):
        obj = {r["method"].split(" (")[0]: r["objective"] for r in rows if r["n"] == n}
        assert obj["knn"] <= obj["knn, no KL"] + 1e-9  # Kernighan-Lin never increases the cut
        assert len(obj) == 5 and "elf gaec, complete graph" in obj and "gaec" in obj
