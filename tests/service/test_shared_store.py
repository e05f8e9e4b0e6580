"""Two real servers on one SQLite file: each batch item solved by one of them, once; a cancel
sent to one stops the other's solves; a dead server's lease is taken over."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from pruneplan.clients import Client
from pruneplan.service import convert
from pruneplan.service.store import PlanStore
from pruneplan.solver import AllocationResult, Status

from .conftest import ServerFactory, hard_problem, tiny_problem


def _items(db: Path, job_id: str) -> list[tuple[int, int, str, int]]:
    """``(index, finished, owner, attempts)`` of each item, read straight from the file."""
    with sqlite3.connect(db) as raw:
        rows = raw.execute(
            "SELECT idx, finished, owner, attempts FROM job_items WHERE job_id = ? ORDER BY idx",
            (job_id,),
        ).fetchall()
    return [(int(i), int(f), str(o), int(a)) for i, f, o, a in rows]


def _until(predicate: object, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_each_item_is_solved_once_by_one_of_two_servers(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "shared.db"
    a, port_a = make_server(db=db, workers=1)
    b, port_b = make_server(db=db, workers=1)
    problems = [hard_problem(60, 10, resources=3, seed=s) for s in range(8)]
    with Client(f"127.0.0.1:{port_a}") as client:
        job_id = client.submit_batch(problems, method="milp", time_limit=0.3)
    with Client(f"127.0.0.1:{port_b}") as client:  # results through the other server
        results = client.results(job_id, wait=True, timeout=120)
        status = client.job(job_id)
    assert (status.state, status.done, status.failed) == ("done", 8, 0)
    assert all(isinstance(r, AllocationResult) for r in results)
    items = _items(db, job_id)
    assert [attempts for *_, attempts in items] == [1] * 8  # no item claimed twice
    assert {owner for _, _, owner, _ in items} == {a.jobs.owner, b.jobs.owner}


def test_a_cancel_sent_to_one_server_stops_the_other(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "shared.db"
    a, port_a = make_server(db=db, workers=1)
    b, port_b = make_server(db=db, workers=1)
    with Client(f"127.0.0.1:{port_a}") as client:
        job_id = client.submit_batch([hard_problem(seed=s) for s in range(4)], method="milp")
        # Wait until each server holds one item (both single solver processes are busy).
        _until(
            lambda: (
                {o for _, f, o, _ in _items(db, job_id) if o and not f}
                == {
                    a.jobs.owner,
                    b.jobs.owner,
                }
            )
        )
        assert client.cancel(job_id)
    with Client(f"127.0.0.1:{port_b}", timeout=60.0) as client:
        # Server b's only solver process is free again: its item was stopped.
        assert client.solve(tiny_problem(budget=280.0)).status is Status.OPTIMAL
        assert client.job(job_id).state == "cancelled"
    assert [finished for _, finished, _, _ in _items(db, job_id)] == [0, 0, 0, 0]


def test_an_expired_lease_is_taken_over(make_server: ServerFactory, tmp_path: Path) -> None:
    """A server on another host died holding an item: its lease runs out, then it is solved."""
    db = tmp_path / "shared.db"
    request = convert.build_request(tiny_problem(budget=280.0), convert.SolveArgs())
    store = PlanStore(db)
    try:
        store.create_job("j", [request.SerializeToString(deterministic=True)])
        assert store.claim("elsewhere/1/1/dead", lease_s=1.0) is not None
    finally:
        store.close()
    _, port = make_server(db=db, workers=1)
    with Client(f"127.0.0.1:{port}") as client:
        (result,) = client.results("j", wait=True, timeout=60)
    assert isinstance(result, AllocationResult) and result.status is Status.OPTIMAL
    ((_, finished, owner, attempts),) = _items(db, "j")
    assert (finished, attempts) == (1, 2) and owner != "elsewhere/1/1/dead"
