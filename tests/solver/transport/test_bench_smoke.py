"""Smoke run of ``benchmarks/transport.py --quick`` (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

from tests._bench import run_benchmark


def test_quick_benchmark_meets_the_budget_and_matches_pot(tmp_path: Path) -> None:
    data = run_benchmark("transport", tmp_path, "--quick")
    assert {(r["n"], r["reg_type"], r["reg"]) for r in data["rows"]} == {
        (n, kind, reg)
        for n in (500, 2000)
        for kind, reg in (("entropy", 0.1), ("entropy", 0.01), ("l2", 0.1))
    }
    for r in data["rows"]:
        assert r["budget_error"] <= 1e-9
        if r["n"] <= data["pot_max"]:
            assert r["ratio"] > 0 and r["max_dev"] < (1e-3 if r["reg_type"] == "entropy" else 1e-2)
        else:
            assert r["pot_s"] is None
    assert all(r["budget_error"] <= 1e-6 for r in data["torch"])
