"""Smoke run of ``benchmarks/search.py --quick`` (seconds; no timing assertions)."""

from __future__ import annotations

from pathlib import Path

from tests._bench import run_benchmark


def test_quick_search_benchmark_writes_its_json(tmp_path: Path) -> None:
    results = run_benchmark("search", tmp_path, "--quick", timeout=120)
    local, wire = results["in_process_exact"], results["wire_exact"]
    assert local["evaluations"] == wire["evaluations"] == 44
    assert wire["best_true_loss"] == local["best_true_loss"] <= local["start_true_loss"]
    assert results["reference_allocate_s"] > 0
