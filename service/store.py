"""The plan store: plans by content id, and batch jobs whose results survive a crash.

One SQLite file in WAL mode, embedded (nothing to run). Payloads are serialized protobuf
messages (``bytes``); this module does not know their types.

Durability: a call that writes (``put_plan``, ``create_job``, ``record_result``,
``cancel_job``) has committed when it returns, so a server killed with SIGKILL right after
loses nothing it acknowledged. ``synchronous=NORMAL`` is enough for that in WAL mode; a power
cut may lose the last transactions, never corrupt the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = [
    "JOB_CANCELLED",
    "JOB_DONE",
    "JOB_QUEUED",
    "JOB_RUNNING",
    "JobRecord",
    "PlanStore",
    "ResultRecord",
]

JOB_QUEUED = "queued"
JOB_RUNNING = "running"
JOB_DONE = "done"
JOB_CANCELLED = "cancelled"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    plan_id    TEXT PRIMARY KEY,
    response   BLOB NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    cancelled  INTEGER NOT NULL DEFAULT 0,
    total      INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS job_items (
    job_id        TEXT NOT NULL REFERENCES jobs(job_id),
    idx           INTEGER NOT NULL,
    request       BLOB NOT NULL,
    finished      INTEGER NOT NULL DEFAULT 0,
    plan_id       TEXT NOT NULL DEFAULT '',
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, idx)
);
"""


@dataclass(frozen=True)
class JobRecord:
    """A job's state and counts. ``done`` counts finished items, ``failed`` those with an error."""

    job_id: str
    state: str
    total: int
    done: int
    failed: int
    created_at: float


@dataclass(frozen=True)
class ResultRecord:
    """One finished item of a job: a ``plan_id`` or an error."""

    index: int
    plan_id: str
    error_code: str
    error_message: str


class PlanStore:
    """Plans and jobs in one SQLite file (or ``":memory:"``); safe to share between threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(os.fspath(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # -- plans -------------------------------------------------------------------------------

    def get_plan(self, plan_id: str) -> bytes | None:
        """The stored response for ``plan_id``, or ``None``."""
        rows = self._query("SELECT response FROM plans WHERE plan_id = ?", (plan_id,))
        return bytes(rows[0][0]) if rows else None

    def put_plan(self, plan_id: str, response: bytes) -> None:
        """Store a response; the first write of a ``plan_id`` wins (identical plans anyway)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO plans (plan_id, response, created_at) VALUES (?, ?, ?)",
                (plan_id, response, time.time()),
            )

    # -- jobs --------------------------------------------------------------------------------

    def create_job(self, job_id: str, requests: Sequence[bytes]) -> None:
        """Persist a job and all its requests in one transaction.

        Raises
        ------
        ValueError
            If ``job_id`` exists already.
        """
        with self._transaction() as db:
            try:
                db.execute(
                    "INSERT INTO jobs (job_id, total, created_at) VALUES (?, ?, ?)",
                    (job_id, len(requests), time.time()),
                )
            except sqlite3.IntegrityError:
                raise ValueError(f"job_id: must be new; got {job_id!r}, which exists.") from None
            db.executemany(
                "INSERT INTO job_items (job_id, idx, request) VALUES (?, ?, ?)",
                [(job_id, i, request) for i, request in enumerate(requests)],
            )

    def job(self, job_id: str) -> JobRecord | None:
        """The job's state (``queued``, ``running``, ``done`` or ``cancelled``) and counts."""
        rows = self._query(
            "SELECT j.cancelled, j.total, j.created_at,"
            " COALESCE(SUM(i.finished), 0), COALESCE(SUM(i.error_code != ''), 0)"
            " FROM jobs j LEFT JOIN job_items i ON i.job_id = j.job_id"
            " WHERE j.job_id = ? GROUP BY j.job_id",
            (job_id,),
        )
        if not rows:
            return None
        cancelled, total, created_at, done, failed = rows[0]
        if done == total:
            state = JOB_DONE
        elif cancelled:
            state = JOB_CANCELLED
        else:
            state = JOB_RUNNING if done else JOB_QUEUED
        return JobRecord(job_id, state, int(total), int(done), int(failed), float(created_at))

    def pending(self, job_id: str) -> list[tuple[int, bytes]]:
        """``(index, request)`` of the items not finished yet; none for a cancelled job."""
        rows = self._query(
            "SELECT i.idx, i.request FROM job_items i JOIN jobs j ON j.job_id = i.job_id"
            " WHERE i.job_id = ? AND i.finished = 0 AND j.cancelled = 0 ORDER BY i.idx",
            (job_id,),
        )
        return [(int(idx), bytes(request)) for idx, request in rows]

    def record_result(
        self,
        job_id: str,
        index: int,
        *,
        plan_id: str = "",
        error_code: str = "",
        error_message: str = "",
    ) -> bool:
        """Record item ``index``'s outcome once; ``False`` if it was recorded already."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE job_items SET finished = 1, plan_id = ?, error_code = ?, error_message = ?"
                " WHERE job_id = ? AND idx = ? AND finished = 0",
                (plan_id, error_code, error_message, job_id, index),
            )
            return cursor.rowcount == 1

    def results(self, job_id: str) -> list[ResultRecord]:
        """The finished items, by index."""
        rows = self._query(
            "SELECT idx, plan_id, error_code, error_message FROM job_items"
            " WHERE job_id = ? AND finished = 1 ORDER BY idx",
            (job_id,),
        )
        return [ResultRecord(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def cancel_job(self, job_id: str) -> bool:
        """Stop a job's pending items. ``False`` if the job is unknown or already done."""
        record = self.job(job_id)
        if record is None or record.state == JOB_DONE:
            return False
        with self._transaction() as db:
            db.execute("UPDATE jobs SET cancelled = 1 WHERE job_id = ?", (job_id,))
        return True

    def unfinished_jobs(self) -> list[str]:
        """Jobs with pending items and not cancelled, oldest first: what to resume at start-up."""
        rows = self._query(
            "SELECT j.job_id FROM jobs j WHERE j.cancelled = 0 AND EXISTS"
            " (SELECT 1 FROM job_items i WHERE i.job_id = j.job_id AND i.finished = 0)"
            " ORDER BY j.created_at, j.job_id"
        )
        return [str(row[0]) for row in rows]

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
