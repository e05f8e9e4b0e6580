"""Smoke run of ``benchmarks/search.py --quick`` (seconds; no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "search.py"


def test_quick_search_benchmark_writes_its_json(tmp_path: Path) -> None:
    out = tmp_path / "search.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    results = json.loads(out.read_text())
    local, wire = results["in_process_exact"], results["wire_exact"]
    assert local["evaluations"] == wire["evaluations"] == 44
    assert wire["best_true_loss"] == local["best_true_loss"] <= local["start_true_loss"]
    assert results["reference_allocate_s"] > 0
