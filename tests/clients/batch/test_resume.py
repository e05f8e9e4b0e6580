"""Resume after a kill: ``pruneplan batch`` killed mid-run at several moments, then rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pruneplan.clients.batch import run_batch

from ._examples import mixed_requests
from .conftest import by_id, read_results, write_jsonl


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _run_and_kill(source: Path, out: Path, grown: int) -> int:
    """Start ``pruneplan batch`` and SIGKILL it once ``out`` has grown by ``grown`` bytes."""
    command = [sys.executable, "-m", "pruneplan.clients.cli", "batch", str(source)]
    command += ["--out", str(out), "--workers", "2", "--chunk", "2", "--no-progress"]
    start = _size(out)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            if _size(out) - start >= grown:
                break
            time.sleep(0.002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    return _size(out)


@pytest.mark.parametrize(
    ("suffix", "kills"),
    [(".jsonl", (1, 20_000)), (".jsonl.gz", (100,))],
    ids=["plain-killed-twice", "gzip-killed-once"],
)
def test_killed_mid_run_then_resumed(tmp_path: Path, suffix: str, kills: tuple[int, ...]) -> None:
    """Every request is answered exactly once, as in an uninterrupted run (up to order)."""
    requests = mixed_requests(80)
    source = write_jsonl(tmp_path / "in.jsonl", requests, {30: "{not json"})
    reference = tmp_path / "reference.jsonl"
    run_batch(source, reference, workers=2)
    out = tmp_path / f"out{suffix}"
    sizes = [_run_and_kill(source, out, grown) for grown in kills]
    assert sizes[0] > 0 and sizes == sorted(sizes)
    summary = run_batch(source, out, workers=2)
    assert 0 < summary.skipped < len(requests)  # the kills were mid-run
    assert summary.lines == len(requests) + 1
    assert by_id(read_results(out)) == by_id(read_results(reference))
