"""Smoke run of ``benchmarks/batch.py --quick`` with the server engine (no timing assertions)."""

from __future__ import annotations

from pathlib import Path

from tests._bench import run_benchmark


def test_quick_batch_benchmark_writes_its_json(tmp_path: Path) -> None:
    results = run_benchmark("batch", tmp_path, "--quick", "--skip", "ray")
    rows = {row["workload"]: row for row in results["rows"]}
    assert rows["small"]["lines"] == 2_000 and rows["mixed"]["lines"] == 200
    for row in rows.values():
        for engine in ("single", "local", "server"):
            assert row[f"{engine}_s"] > 0 and row[f"{engine}_cpu_s"] > 0
        assert row["local_vs_single"] > 0 and row["server_vs_local"] > 0
    memory = results["memory"]
    assert memory["n"] == 200 and memory["rss_mib_n"] > 0 and memory["rss_mib_4n"] > 0
    assert "server_start_s" in results["startup"]
