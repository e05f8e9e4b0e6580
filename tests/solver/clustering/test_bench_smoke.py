"""Smoke run of ``benchmarks/clustering.py --quick`` (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._bench import run_benchmark


def test_quick_benchmark_matches_the_reference(tmp_path: Path) -> None:
    pytest.importorskip("bioimage_cpp")
    rows = run_benchmark("clustering", tmp_path, "--quick")
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
