"""The store's search table: create once, read back, versioned updates, survives reopening."""

from __future__ import annotations

from pathlib import Path

from pruneplan.service.store import PlanStore, SearchRow


def test_search_rows_are_versioned_and_durable(tmp_path: Path) -> None:
    path = tmp_path / "plans.db"
    store = PlanStore(path)
    assert store.search("s1") is None
    assert store.create_search("s1", b"\x01problem", '{"a": 1}')
    assert not store.create_search("s1", b"other", "{}")  # the first one is kept
    assert store.search("s1") == SearchRow("s1", b"\x01problem", '{"a": 1}', 0)
    assert store.update_search("s1", '{"a": 2}', 0)
    assert not store.update_search("s1", '{"a": 3}', 0)  # a stale writer loses
    assert not store.update_search("nope", "{}", 0)
    store.close()
    again = PlanStore(path)
    assert again.search("s1") == SearchRow("s1", b"\x01problem", '{"a": 2}', 1)
    again.close()
