"""The SQLite plan store on a real file: plans, jobs, crash safety across processes, leases."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pruneplan.service.jobs import is_dead, new_owner
from pruneplan.service.store import (
    JOB_CANCELLED,
    JOB_DONE,
    JOB_QUEUED,
    JOB_RUNNING,
    PAGE_SIZE,
    HeldItem,
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


def test_new_files_have_large_pages_and_old_ones_keep_theirs(tmp_path: Path) -> None:
    s = PlanStore(tmp_path / "new.db")
    assert s._query("PRAGMA page_size")[0][0] == PAGE_SIZE
    s.close()
    old = tmp_path / "old.db"
    raw = sqlite3.connect(old)
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE t (x)")
    raw.close()
    s = PlanStore(old)
    s.put_plan("p1", bytes(100_000))
    assert s._query("PRAGMA page_size")[0][0] == 4096
    assert s.get_plan("p1") == bytes(100_000)
    s.close()


def test_job_header_and_results_from_an_index(store: PlanStore) -> None:
    assert store.job_header("j") is None
    store.create_job("j", [b"r"] * 5)
    assert store.job_header("j") == (5, False)
    for index in (3, 1, 4):  # out of order, 0 and 2 unfinished
        store.record_result("j", index, plan_id=f"p{index}")
    assert [r.index for r in store.results("j")] == [1, 3, 4]
    assert [r.index for r in store.results("j", 2)] == [3, 4]
    store.cancel_job("j")
    assert store.job_header("j") == (5, True)


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


# -- leases: several servers on one file ------------------------------------------------------


def test_claims_are_exclusive_across_connections(tmp_path: Path) -> None:
    a, b = PlanStore(tmp_path / "shared.db"), PlanStore(tmp_path / "shared.db")
    try:
        a.create_job("j", [b"r0", b"r1", b"r2"])
        claims = [a.claim("A", 60.0), b.claim("B", 60.0), a.claim("A", 60.0)]
        assert [(c.index, c.request, c.attempt) for c in claims if c] == [
            (0, b"r0", 1),
            (1, b"r1", 1),
            (2, b"r2", 1),
        ]
        assert b.claim("B", 60.0) is None  # all held
        assert b.job("j").state == JOB_RUNNING  # leased counts as running
        assert [h.index for h in a.held("A")] == [0, 2]
        assert not b.record_result("j", 0, plan_id="p", owner="B")  # A holds it
        assert a.record_result("j", 0, plan_id="p", owner="A")
        assert a.renew("A", 60.0) == 1  # item 2 only: item 0 is finished
        assert a.release("j", 2, "A") and not a.release("j", 2, "A")
        again = b.claim("B", 60.0)
        assert again is not None and (again.index, again.attempt) == (2, 1)  # release refunds
    finally:
        a.close()
        b.close()


def test_an_expired_lease_is_taken_over(store: PlanStore) -> None:
    store.create_job("j", [b"r0"])
    first = store.claim("dead", 0.05)
    assert first is not None and store.claim("alive", 60.0) is None
    time.sleep(0.1)
    second = store.claim("alive", 60.0)
    assert second is not None and (second.index, second.attempt) == (0, 2)
    assert not store.record_result("j", 0, plan_id="late", owner="dead")
    assert store.record_result("j", 0, plan_id="p", owner="alive")


def test_an_item_whose_servers_keep_dying_is_aborted(store: PlanStore) -> None:
    store.create_job("j", [b"r0", b"r1"])
    for attempt in range(1, 4):
        claim = store.claim(f"s{attempt}", 0.0, max_attempts=3)
        assert claim is not None and (claim.index, claim.attempt) == (0, attempt)
    after = store.claim("s4", 60.0, max_attempts=3)
    assert after is not None and after.index == 1  # item 0 is no longer run
    (aborted,) = store.results("j")
    assert (aborted.index, aborted.error_code) == (0, "ABORTED")
    assert "abandoned after 3 attempts" in aborted.error_message


def test_cancel_is_seen_by_every_connection(tmp_path: Path) -> None:
    a, b = PlanStore(tmp_path / "shared.db"), PlanStore(tmp_path / "shared.db")
    try:
        a.create_job("j", [b"r0", b"r1"])
        assert b.claim("B", 60.0) is not None
        assert a.cancel_job("j")
        assert b.held("B") == [HeldItem("j", 0, cancelled=True)]
        assert b.claim("B", 60.0) is None
    finally:
        a.close()
        b.close()


def test_a_store_from_before_leases_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, cancelled INTEGER NOT NULL DEFAULT 0,"
        " total INTEGER NOT NULL, created_at REAL NOT NULL);"
        "CREATE TABLE job_items (job_id TEXT NOT NULL, idx INTEGER NOT NULL,"
        " request BLOB NOT NULL, finished INTEGER NOT NULL DEFAULT 0,"
        " plan_id TEXT NOT NULL DEFAULT '', error_code TEXT NOT NULL DEFAULT '',"
        " error_message TEXT NOT NULL DEFAULT '', PRIMARY KEY (job_id, idx));"
        "INSERT INTO jobs VALUES ('j', 0, 1, 0.0); INSERT INTO job_items (job_id, idx, request)"
        " VALUES ('j', 0, x'01');"
    )
    old.commit()
    old.close()
    s = PlanStore(path)
    try:
        claim = s.claim("A", 60.0)
        assert claim is not None and (claim.job_id, claim.request, claim.attempt) == (
            "j",
            b"\x01",
            1,
        )
    finally:
        s.close()


def test_lease_owners_of_exited_processes_are_dead() -> None:
    code = "from pruneplan.service.jobs import new_owner; print(new_owner())"
    exited = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert is_dead(exited)
    assert not is_dead(new_owner())  # this process
    assert not is_dead("elsewhere/1/1/abc")  # another host: its lease runs out instead
    assert not is_dead("not an owner id")
