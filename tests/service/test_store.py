"""The SQLite plan store on a real file: plans, jobs, crash safety across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pruneplan.service.store import (
    JOB_CANCELLED,
    JOB_DONE,
    JOB_QUEUED,
    JOB_RUNNING,
    PlanStore,
    ResultRecord,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PlanStore]:
    s = PlanStore(tmp_path / "plans.db")
    yield s
    s.close()


def test_plan_round_trip_and_first_write_wins(store: PlanStore) -> None:
    assert store.get_plan("p1") is None
    store.put_plan("p1", b"first")
    store.put_plan("p1", b"second")
    assert store.get_plan("p1") == b"first"


def test_wal_mode_on_disk(tmp_path: Path) -> None:
    s = PlanStore(tmp_path / "wal.db")
    mode = s._query("PRAGMA journal_mode")[0][0]
    s.close()
    assert mode == "wal"


def test_job_lifecycle_counts_and_states(store: PlanStore) -> None:
    store.create_job("j", [b"r0", b"r1", b"r2"])
    assert store.job("j").state == JOB_QUEUED
    assert store.pending("j") == [(0, b"r0"), (1, b"r1"), (2, b"r2")]
    assert store.record_result("j", 1, plan_id="p1")
    assert not store.record_result("j", 1, plan_id="other")  # once per index
    assert store.record_result("j", 0, error_code="INVALID_ARGUMENT", error_message="bad")
    record = store.job("j")
    assert (record.state, record.total, record.done, record.failed) == (JOB_RUNNING, 3, 2, 1)
    assert store.pending("j") == [(2, b"r2")]
    store.record_result("j", 2, plan_id="p2")
    assert store.job("j").state == JOB_DONE
    assert store.results("j") == [
        ResultRecord(0, "", "INVALID_ARGUMENT", "bad"),
        ResultRecord(1, "p1", "", ""),
        ResultRecord(2, "p2", "", ""),
    ]
    assert store.unfinished_jobs() == []
    assert not store.cancel_job("j")  # already done


def test_duplicate_job_id_is_refused(store: PlanStore) -> None:
    store.create_job("j", [b"r"])
    with pytest.raises(ValueError, match=r"job_id: must be new; got 'j', which exists\."):
        store.create_job("j", [b"x"])


def test_cancel_stops_pending_and_resume(store: PlanStore) -> None:
    store.create_job("a", [b"1", b"2"])
    store.create_job("b", [b"3"])
    assert store.unfinished_jobs() == ["a", "b"]
    assert store.cancel_job("a")
    assert store.job("a").state == JOB_CANCELLED
    assert store.pending("a") == []
    assert store.unfinished_jobs() == ["b"]
    assert store.job("missing") is None
    assert not store.cancel_job("missing")


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    """A writer killed with SIGKILL right after its writes returned loses none of them."""
    path = tmp_path / "crash.db"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        from pruneplan.service.store import PlanStore
        s = PlanStore({str(path)!r})
        s.create_job("job", [b"a", b"b", b"c"])
        s.put_plan("p0", b"plan0")
        s.record_result("job", 0, plan_id="p0")
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert proc.stdout.strip() == "written"
    s = PlanStore(path)
    try:
        assert s.get_plan("p0") == b"plan0"
        assert s.unfinished_jobs() == ["job"]
        assert s.pending("job") == [(1, b"b"), (2, b"c")]
        assert s.results("job") == [ResultRecord(0, "p0", "", "")]
    finally:
        s.close()
    assert os.path.exists(path)
