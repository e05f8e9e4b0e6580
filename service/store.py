"""The plan store: plans by content id, batch jobs whose results survive a crash, and search
sessions (their state, versioned so that concurrent writers never lose an update).

One SQLite file in WAL mode, embedded (nothing to run). Payloads are serialized protobuf
messages (``bytes``); this module does not know their types.

Durability: a call that writes (``put_plan``, ``create_job``, ``record_result``,
``cancel_job``) has committed when it returns, so a server killed with SIGKILL right after
loses nothing it acknowledged. ``synchronous=NORMAL`` is enough for that in WAL mode; a power
cut may lose the last transactions, never corrupt the file.

Several servers may share one file. A job item is worked on under a lease (`claim`): the
claiming server's ``owner`` id and an expiry it renews while it works (`renew`); an item whose
lease expired (its server died) is claimed again, and one claimed `MAX_ATTEMPTS` times without a
result is recorded as ``ABORTED`` instead of being run once more. Results are recorded by the
lease holder only, so each item is solved by one server at a time and recorded once.

Opening checks the file at once (`StoreError`, naming ``--db PATH`` and what is wrong): a
missing directory, a directory, a file that is not SQLite, or one that cannot be written (the
check writes a row).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "JOB_CANCELLED",
    "JOB_DONE",
    "JOB_QUEUED",
    "JOB_RUNNING",
    "MAX_ATTEMPTS",
    "Claim",
    "HeldItem",
    "ItemOutcome",
    "JobRecord",
    "PlanStore",
    "ResultRecord",
    "SearchRow",
    "StoreError",
    "check_store",
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
CREATE TABLE IF NOT EXISTS searches (
    search_id  TEXT PRIMARY KEY,
    problem    BLOB NOT NULL,
    state      TEXT NOT NULL,
    version    INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_LEASE_COLUMNS = {
    "owner": "TEXT NOT NULL DEFAULT ''",
    "lease_expires": "REAL NOT NULL DEFAULT 0",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
}
"""Added to ``job_items`` (by ``ALTER TABLE`` in files written before leases)."""

_INDEXES = """
CREATE INDEX IF NOT EXISTS job_items_open ON job_items (job_id, idx) WHERE finished = 0;
CREATE INDEX IF NOT EXISTS job_items_owner ON job_items (owner) WHERE finished = 0;
CREATE INDEX IF NOT EXISTS job_items_done ON job_items (job_id, idx) WHERE finished = 1;
CREATE INDEX IF NOT EXISTS jobs_age ON jobs (created_at, job_id);
"""

MAX_ATTEMPTS = 3
"""Claims of one item without a result (each ended by its server dying) before it is recorded
as ``ABORTED``: a request that kills or outlives every server is not run forever."""

ABORTED = "ABORTED"

PAGE_SIZE = 16384
"""Bytes per database page of a new store file. Plans are often tens of kilobytes (a frontier
of 10,000 points is 160 kB): with SQLite's default 4 kB pages, recording them (overflow page
chains, WAL checkpoints) cost twice the CPU."""

_IN_LIMIT = 500
"""Values per ``IN (...)`` list (SQLite allows 999 parameters in older builds)."""


class StoreError(ValueError):
    """The store file cannot be used; the message names ``--db PATH`` and what is wrong."""


def _abandoned(attempts: int) -> str:
    return (
        f"abandoned after {attempts} attempts: each server working on it stopped before it "
        "finished (a crash, a kill or a restart mid-solve); not retried"
    )


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


@dataclass(frozen=True)
class SearchRow:
    """A stored search session: its problem (bytes), its state (text) and the state's version,
    which every update must name (`PlanStore.update_search`)."""

    search_id: str
    problem: bytes
    state: str
    version: int


@dataclass(frozen=True)
class Claim:
    """A job item leased to one owner (`PlanStore.claim`)."""

    job_id: str
    index: int
    request: bytes
    attempt: int
    """1 for the first claim; more after servers died while working on it."""


@dataclass(frozen=True)
class ItemOutcome:
    """What `PlanStore.record_results` records for one claimed item: a plan (its id, and the
    response to store under it unless ``plan`` is ``None``: stored already) or an error."""

    job_id: str
    index: int
    plan_id: str = ""
    plan: bytes | None = None
    error_code: str = ""
    error_message: str = ""


@dataclass(frozen=True)
class HeldItem:
    """An unfinished item leased to an owner, and whether its job was cancelled."""

    job_id: str
    index: int
    cancelled: bool


def _where(path: str) -> str:
    return f"--db {path}"


def _check_path(path: str) -> None:
    """The problems visible before SQLite opens the file."""
    file = Path(path)
    if file.is_dir():
        raise StoreError(f"{_where(path)}: is a directory; pass the path of a file")
    parent = file.parent
    if not parent.is_dir():
        raise StoreError(
            f"{_where(path)}: directory {str(parent)!r} does not exist; create it or pass "
            "another --db"
        )
    if not file.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(
            f"{_where(path)}: directory {str(parent)!r} is not writable; the store cannot "
            "be created there"
        )


def _explain(path: str, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return StoreError(
            f"{_where(path)}: not a usable SQLite database ({text}); move it away or pass "
            "another --db"
        )
    if "readonly" in text or "unable to open" in text or "disk I/O" in text:
        name = Path(path).name
        return StoreError(
            f"{_where(path)}: cannot write it ({text}); the server needs write access to "
            f"the file and its directory (SQLite writes {name}-wal and {name}-shm beside it)"
        )
    return StoreError(f"{_where(path)}: cannot use it as the plan store ({text})")


def _connect(path: str) -> sqlite3.Connection:
    """Open, set up and write-probe the store (`StoreError` on anything wrong)."""
    if path != ":memory:":
        _check_path(path)
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
        db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file's; an existing one keeps its own
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(job_items)")}
        for name, kind in _LEASE_COLUMNS.items():
            if name not in columns:
                db.execute(f"ALTER TABLE job_items ADD COLUMN {name} {kind}")
        db.executescript(_INDEXES)
        # A real write: a read-only file or directory fails here, not at the first Solve.
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('opened_at', ?)", (str(time.time()),)
        )
    except sqlite3.Error as exc:
        if db is not None:
            db.close()
        raise _explain(path, exc) from None
    return db


def check_store(path: str | os.PathLike[str]) -> None:
    """Open and write-probe the store at ``path``; `StoreError` with one line naming
    ``--db PATH`` and what is wrong (``pruneplan serve`` prints it and exits with status 2).

    `PlanStore` runs the same check: a server built on a bad path fails before it serves.
    """
    PlanStore(path).close()


class PlanStore:
    """Plans, jobs and searches in one SQLite file (or ``":memory:"``); safe to share between
    threads and between processes.

    Raises `StoreError` (a `ValueError`) if the file cannot be used as the store.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._lock = threading.Lock()
        self._db = _connect(os.fspath(path))

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
            " COALESCE(SUM(i.finished), 0), COALESCE(SUM(i.error_code != ''), 0),"
            " COALESCE(SUM(i.finished = 0 AND i.owner != '' AND i.lease_expires > ?), 0)"
            " FROM jobs j LEFT JOIN job_items i ON i.job_id = j.job_id"
            " WHERE j.job_id = ? GROUP BY j.job_id",
            (time.time(), job_id),
        )
        if not rows:
            return None
        cancelled, total, created_at, done, failed, leased = rows[0]
        if done == total:
            state = JOB_DONE
        elif cancelled:
            state = JOB_CANCELLED
        else:
            state = JOB_RUNNING if done or leased else JOB_QUEUED
        return JobRecord(job_id, state, int(total), int(done), int(failed), float(created_at))

    def job_header(self, job_id: str) -> tuple[int, bool] | None:
        """``(total, cancelled)`` of a job, or ``None``: one row read, where `job` counts the
        job's items."""
        rows = self._query("SELECT total, cancelled FROM jobs WHERE job_id = ?", (job_id,))
        return (int(rows[0][0]), bool(rows[0][1])) if rows else None

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
        owner: str | None = None,
    ) -> bool:
        """Record item ``index``'s outcome once; ``False`` if it was recorded already (or, with
        ``owner``, if that owner no longer holds its lease: another server took it over)."""
        outcome = ItemOutcome(job_id, index, plan_id, None, error_code, error_message)
        return self.record_results(owner, [outcome]) == 1

    def record_results(self, owner: str | None, outcomes: Sequence[ItemOutcome]) -> int:
        """Store the plans of ``outcomes`` (first write of a plan id wins) and record each
        item's outcome once, all in one transaction; how many items were recorded (with
        ``owner``, those it no longer holds are skipped)."""
        now = time.time()
        plans = [(o.plan_id, o.plan, now) for o in outcomes if o.plan is not None]
        sql = (
            "UPDATE job_items SET finished = 1, plan_id = ?, error_code = ?, error_message = ?"
            " WHERE job_id = ? AND idx = ? AND finished = 0"
        )
        if owner is not None:
            sql += " AND owner = ?"
        tail = () if owner is None else (owner,)
        with self._transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO plans (plan_id, response, created_at) VALUES (?, ?, ?)",
                plans,
            )
            recorded = 0
            for o in outcomes:
                args = (o.plan_id, o.error_code, o.error_message, o.job_id, o.index, *tail)
                recorded += db.execute(sql, args).rowcount
        return recorded

    def stored_plans(self, plan_ids: Sequence[str]) -> dict[str, bytes]:
        """The stored responses of those of ``plan_ids`` the store has."""
        found: dict[str, bytes] = {}
        unique = list(dict.fromkeys(plan_ids))
        for start in range(0, len(unique), _IN_LIMIT):
            part = unique[start : start + _IN_LIMIT]
            marks = ",".join("?" * len(part))
            rows = self._query(
                f"SELECT plan_id, response FROM plans WHERE plan_id IN ({marks})", part
            )
            found.update((str(plan_id), bytes(response)) for plan_id, response in rows)
        return found

    def results(self, job_id: str, start: int = 0) -> list[ResultRecord]:
        """The finished items from index ``start`` on, by index (their partial index: the
        unfinished ones, and their requests, are not read)."""
        rows = self._query(
            "SELECT idx, plan_id, error_code, error_message FROM job_items"
            " INDEXED BY job_items_done"
            " WHERE job_id = ? AND idx >= ? AND finished = 1 ORDER BY idx",
            (job_id, start),
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

    # -- searches ----------------------------------------------------------------------------

    def create_search(self, search_id: str, problem: bytes, state: str) -> bool:
        """Store a new search at version 0; ``False`` if ``search_id`` exists (kept as it is)."""
        now = time.time()
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO searches"
                " (search_id, problem, state, version, created_at, updated_at)"
                " VALUES (?, ?, ?, 0, ?, ?)",
                (search_id, problem, state, now, now),
            )
            return cursor.rowcount == 1

    def search(self, search_id: str) -> SearchRow | None:
        """The stored search, or ``None``."""
        rows = self._query(
            "SELECT problem, state, version FROM searches WHERE search_id = ?", (search_id,)
        )
        if not rows:
            return None
        problem, state, version = rows[0]
        return SearchRow(search_id, bytes(problem), str(state), int(version))

    def update_search(self, search_id: str, state: str, version: int) -> bool:
        """Replace the state if it is still at ``version`` (then at ``version + 1``); ``False``
        if another writer got there first (read it again and redo the change)."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE searches SET state = ?, version = version + 1, updated_at = ?"
                " WHERE search_id = ? AND version = ?",
                (state, time.time(), search_id, version),
            )
            return cursor.rowcount == 1

    # -- leases ------------------------------------------------------------------------------

    # Oldest job first, then by index: the outer query walks jobs_age, the subquery the
    # partial index of open items in index order and stops at the first claimable one, so a
    # claim costs O(jobs), not O(open items).
    _CLAIMABLE = (
        "SELECT j.job_id, (SELECT i.idx FROM job_items i INDEXED BY job_items_open"
        " WHERE i.job_id = j.job_id AND i.finished = 0"
        " AND (i.owner = '' OR i.lease_expires < ?) ORDER BY i.idx LIMIT 1) AS first"
        " FROM jobs j INDEXED BY jobs_age WHERE j.cancelled = 0 AND first IS NOT NULL"
        " ORDER BY j.created_at, j.job_id LIMIT 1"
    )

    def claim(self, owner: str, lease_s: float, max_attempts: int = MAX_ATTEMPTS) -> Claim | None:
        """Lease the oldest unfinished item nobody holds (or whose lease expired) to ``owner``
        for ``lease_s`` seconds; ``None`` if there is none (`claim_many` of one item)."""
        claims = self.claim_many(owner, lease_s, 1, max_attempts)
        return claims[0] if claims else None

    # The claimable items of one job from an index on, in index order.
    _CLAIMABLE_OF_JOB = (
        "SELECT idx, attempts, request FROM job_items INDEXED BY job_items_open"
        " WHERE job_id = ? AND idx >= ? AND finished = 0 AND (owner = '' OR lease_expires < ?)"
        " ORDER BY idx LIMIT ?"
    )

    def claim_many(
        self, owner: str, lease_s: float, count: int, max_attempts: int = MAX_ATTEMPTS
    ) -> list[Claim]:
        """Lease up to ``count`` unfinished items of the oldest job with claimable items (in
        index order) to ``owner`` for ``lease_s`` seconds; ``[]`` if there are none.

        An item already claimed ``max_attempts`` times is recorded as ``ABORTED`` instead, and
        the next one is tried. An item claimed before (its server died holding it) is claimed
        alone, so that the items of a chunk that killed its server are not aborted with it.
        One transaction: of several servers, exactly one gets an item.
        """
        now = time.time()
        if not self._query(self._CLAIMABLE, (now,)):
            return []  # the common idle case: a read, no write lock
        claims: list[Claim] = []
        with self._transaction() as db:
            rows = db.execute(self._CLAIMABLE, (now,)).fetchall()
            if not rows:
                return []
            job_id, start = str(rows[0][0]), int(rows[0][1])
            while len(claims) < count:
                items = db.execute(
                    self._CLAIMABLE_OF_JOB, (job_id, start, now, count - len(claims))
                ).fetchall()
                if not items:
                    break
                for index, attempts, request in items:
                    if attempts >= max_attempts:
                        db.execute(
                            "UPDATE job_items SET finished = 1, error_code = ?,"
                            " error_message = ? WHERE job_id = ? AND idx = ?",
                            (ABORTED, _abandoned(attempts), job_id, index),
                        )
                        continue
                    if attempts and claims:
                        break  # claimed before by a server that died: it goes alone
                    claims.append(Claim(job_id, int(index), bytes(request), attempts + 1))
                    if attempts:
                        break
                else:
                    start = int(items[-1][0]) + 1
                    continue
                break
            db.executemany(
                "UPDATE job_items SET owner = ?, lease_expires = ?, attempts = attempts + 1"
                " WHERE job_id = ? AND idx = ?",
                [(owner, now + lease_s, c.job_id, c.index) for c in claims],
            )
        return claims

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease ``owner`` holds to ``lease_s`` seconds from now; how many."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE job_items SET lease_expires = ? WHERE owner = ? AND finished = 0",
                (time.time() + lease_s, owner),
            )
            return int(cursor.rowcount)

    def held(self, owner: str) -> list[HeldItem]:
        """The unfinished items ``owner`` holds, with their job's cancellation."""
        rows = self._query(
            "SELECT i.job_id, i.idx, j.cancelled FROM job_items i JOIN jobs j"
            " ON j.job_id = i.job_id WHERE i.owner = ? AND i.finished = 0",
            (owner,),
        )
        return [HeldItem(str(r[0]), int(r[1]), bool(r[2])) for r in rows]

    def release(self, job_id: str, index: int, owner: str) -> bool:
        """Give back an unfinished item ``owner`` holds without counting the attempt (a
        server stopping on purpose); ``False`` if it did not hold it."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE job_items SET owner = '', lease_expires = 0,"
                " attempts = MAX(attempts - 1, 0)"
                " WHERE job_id = ? AND idx = ? AND owner = ? AND finished = 0",
                (job_id, index, owner),
            )
            return cursor.rowcount == 1

    def lease_owners(self) -> list[str]:
        """Owners holding unexpired leases on unfinished items."""
        rows = self._query(
            "SELECT DISTINCT owner FROM job_items"
            " WHERE finished = 0 AND owner != '' AND lease_expires >= ?",
            (time.time(),),
        )
        return [str(r[0]) for r in rows]

    def expire(self, owner: str) -> int:
        """End ``owner``'s leases now (it is known dead): the items can be claimed at once."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE job_items SET lease_expires = 0 WHERE owner = ? AND finished = 0",
                (owner,),
            )
            return int(cursor.rowcount)

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()
