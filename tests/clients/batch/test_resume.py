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

MARK = "PRUNEPLAN_TEST_BATCH_RUN"
"""Set in the environment of each killed batch, so its pool processes can be found."""


def _marked(value: str) -> list[int]:
    """Processes whose environment holds ``MARK=value`` (the batch, its pool, its forkserver)."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"{MARK}={value}".encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue
    return pids


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _run_and_kill(source: Path, out: Path, grown: int) -> int:
    """Start ``pruneplan batch`` and SIGKILL it once ``out`` has grown by ``grown`` bytes."""
    command = [sys.executable, "-m", "pruneplan.clients.cli", "batch", str(source)]
    command += ["--out", str(out), "--workers", "2", "--chunk", "2", "--no-progress"]
    start = _size(out)
    env = {**os.environ, MARK: str(out)}
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
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


def _assert_no_process_left(out: Path) -> None:
    """The pools of the killed batches exit by themselves (no orphans blocked on queues)."""
    if not Path("/proc/self/environ").exists():
        return
    deadline = time.monotonic() + 20
    while _marked(str(out)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _marked(str(out)) == []


@pytest.mark.parametrize(
    ("suffix", "kills"),
    [(".jsonl", (1, 20_000)), (".jsonl.gz", (100,))],
    ids=["plain-killed-twice", "gzip-killed-once"],
)
def test_killed_mid_run_then_resumed(tmp_path: Path, suffix: str, kills: tuple[int, ...]) -> None:
    """Every request is answered exactly once, as in an uninterrupted run (up to order), and
    the killed runs leave no process behind."""
    requests = mixed_requests(80)
    source = write_jsonl(tmp_path / "in.jsonl", requests, {30: "{not json"})
    reference = tmp_path / "reference.jsonl"
    run_batch(source, reference, workers=2)
    out = tmp_path / f"out{suffix}"
    sizes = [_run_and_kill(source, out, grown) for grown in kills]
    _assert_no_process_left(out)
    assert sizes[0] > 0 and sizes == sorted(sizes)
    summary = run_batch(source, out, workers=2)
    assert 0 < summary.skipped < len(requests)  # the kills were mid-run
    assert summary.lines == len(requests) + 1
    assert by_id(read_results(out)) == by_id(read_results(reference))
