"""Store problems surface at start-up: one line naming ``--db PATH`` and what is wrong, exit 2."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pruneplan.clients import cli
from pruneplan.service.store import PlanStore, StoreError, check_store

ROOT = Path(__file__).resolve().parents[2]


def _serve(db: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    code = cli.main(["serve", "--port", "0", "--workers", "1", "--db", str(db)])
    return code, capsys.readouterr().err.strip().splitlines()


def test_missing_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "nowhere" / "plans.db"
    code, lines = _serve(db, capsys)
    assert code == 2
    assert lines == [
        f"pruneplan serve: --db {db}: directory {str(db.parent)!r} does not exist; "
        "create it or pass another --db"
    ]
    assert not db.parent.exists()


def test_corrupt_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "plans.db"
    db.write_bytes(b"this is not an SQLite file" * 100)
    code, lines = _serve(db, capsys)
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith(f"pruneplan serve: --db {db}: not a usable SQLite database")
    assert db.read_bytes().startswith(b"this is not")  # left as it was


def test_truncated_database(tmp_path: Path) -> None:
    db = tmp_path / "plans.db"
    PlanStore(db).close()
    with sqlite3.connect(db) as raw:  # fold the WAL in, then cut the file mid-page
        raw.execute("PRAGMA journal_mode=DELETE")
    db.write_bytes(db.read_bytes()[:1500])
    with pytest.raises(StoreError, match=rf"^--db {db}: not a usable SQLite database"):
        check_store(db)


def test_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=rf"^--db {tmp_path}: is a directory"):
        check_store(tmp_path)


def test_a_good_path_passes_and_memory_too(tmp_path: Path) -> None:
    check_store(tmp_path / "fresh.db")
    check_store(":memory:")
    assert (tmp_path / "fresh.db").exists()


ROOT_WITHOUT_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner"]
"""Root that obeys file permissions: the user an operator's read-only mount is about."""

_IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_permissions = pytest.mark.skipif(
    not hasattr(os, "geteuid") or (_IS_ROOT and shutil.which("setpriv") is None),
    reason="needs POSIX permissions (as root: setpriv to drop CAP_DAC_OVERRIDE)",
)


@pytest.fixture
def locked(tmp_path: Path) -> Iterator[Path]:
    """A directory to make read-only; writable again afterwards for the clean-up."""
    path = tmp_path / "locked"
    path.mkdir()
    yield path
    path.chmod(0o755)


def _serve_unprivileged(db: Path) -> subprocess.CompletedProcess[str]:
    """``pruneplan serve --db db`` by a process that file permissions apply to."""
    command = [sys.executable, "-m", "pruneplan.clients.cli", "serve", "--port", "0"]
    command += ["--workers", "1", "--db", str(db)]
    if _IS_ROOT:
        command = ROOT_WITHOUT_DAC + command
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


@needs_permissions
def test_read_only_store(locked: Path) -> None:
    """Used to start, report SERVING, then answer every Solve with INTERNAL."""
    db = locked / "plans.db"
    PlanStore(db).close()
    for extra in locked.iterdir():
        extra.chmod(0o444)
    locked.chmod(0o555)
    run = _serve_unprivileged(db)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "serving on" not in run.stdout
    assert lines[0].startswith(f"pruneplan serve: --db {db}: cannot write it (")
    assert "needs write access to the file and its directory" in lines[0]


@needs_permissions
def test_unwritable_directory(locked: Path) -> None:
    locked.chmod(0o555)
    db = locked / "plans.db"
    run = _serve_unprivileged(db)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"pruneplan serve: --db {db}: directory {str(locked)!r} is not writable; "
        "the store cannot be created there"
    ]
