"""Batch items claimed, solved and recorded in chunks: one job's items in index order per claim,
one transaction per chunk, and a chunk whose item must be killed keeps the other results."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from pruneplan.clients import Client, JobError
from pruneplan.service import convert, pool, worker
from pruneplan.service.errors import DeadlineExceeded
from pruneplan.service.pool import SolverPool
from pruneplan.service.store import ItemOutcome, PlanStore
from pruneplan.solver import AllocationResult, Status
from pruneplan.v1 import common_pb2 as cpb
from pruneplan.v1 import pruning_service_pb2 as pb

from .conftest import ServerFactory, tiny_problem
from .test_limits import presolve_bound


def _payload(problem: object, **args: object) -> bytes:
    request = convert.build_request(problem, convert.SolveArgs(**args))  # type: ignore[arg-type]
    return request.SerializeToString(deterministic=True)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PlanStore]:
    s = PlanStore(tmp_path / "plans.db")
    yield s
    s.close()


@pytest.fixture
def killed_soon(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solve with a time limit is killed 5% of it after it started (no slack)."""
    monkeypatch.setattr(pool, "KILL_FACTOR", 0.05)
    monkeypatch.setattr(pool, "KILL_SLACK_S", 0.0)


def test_claim_many_takes_one_jobs_items_in_order(store: PlanStore) -> None:
    store.create_job("a", [b"a0", b"a1", b"a2"])
    store.create_job("b", [b"b0", b"b1"])
    first = store.claim_many("s1", 60.0, 2)
    assert [(c.job_id, c.index, c.request, c.attempt) for c in first] == [
        ("a", 0, b"a0", 1),
        ("a", 1, b"a1", 1),
    ]
    second = store.claim_many("s2", 60.0, 5)  # the rest of the oldest job, not job b's items
    assert [(c.job_id, c.index) for c in second] == [("a", 2)]
    third = store.claim_many("s2", 60.0, 5)
    assert [(c.job_id, c.index) for c in third] == [("b", 0), ("b", 1)]
    assert store.claim_many("s3", 60.0, 5) == []


def test_claim_many_aborts_spent_items_and_claims_past_them(store: PlanStore) -> None:
    store.create_job("j", [b"0", b"1", b"2"])
    for attempt in range(3):  # item 0's servers die three times (leases of 0 s)
        (claim,) = store.claim_many(f"dead{attempt}", 0.0, 1, max_attempts=3)
        assert claim.index == 0
    claims = store.claim_many("s", 60.0, 2, max_attempts=3)
    assert [c.index for c in claims] == [1, 2]
    (aborted,) = store.results("j")
    assert (aborted.index, aborted.error_code) == (0, "ABORTED")


def test_items_whose_server_died_are_claimed_alone(store: PlanStore) -> None:
    """A chunk's server died: each of its items is retried alone (one that kills its server
    must not take the others to ``ABORTED`` with it), the untouched ones in chunks again."""
    store.create_job("j", [b"0", b"1", b"2", b"3"])
    assert [c.index for c in store.claim_many("dead", 0.0, 3)] == [0, 1, 2]
    assert [(c.index, c.attempt) for c in store.claim_many("s", 60.0, 4)] == [(0, 2)]
    assert [(c.index, c.attempt) for c in store.claim_many("s", 60.0, 4)] == [(1, 2)]
    assert [(c.index, c.attempt) for c in store.claim_many("s", 60.0, 4)] == [(2, 2)]
    assert [(c.index, c.attempt) for c in store.claim_many("s", 60.0, 4)] == [(3, 1)]


def test_record_results_is_one_transaction_for_the_lease_holder(store: PlanStore) -> None:
    store.create_job("j", [b"0", b"1", b"2"])
    mine = store.claim_many("me", 60.0, 2)
    assert [c.index for c in mine] == [0, 1]
    (theirs,) = store.claim_many("other", 60.0, 1)
    recorded = store.record_results(
        "me",
        [
            ItemOutcome("j", 0, plan_id="p0", plan=b"response0"),
            ItemOutcome("j", 1, error_code="INVALID_ARGUMENT", error_message="bad"),
            ItemOutcome("j", theirs.index, plan_id="p2", plan=b"response2"),  # not my lease
        ],
    )
    assert recorded == 2
    assert [(r.index, r.plan_id, r.error_code) for r in store.results("j")] == [
        (0, "p0", ""),
        (1, "", "INVALID_ARGUMENT"),
    ]
    # Plans are stored with the results (also one of an item not recorded: plans are by
    # content, the first write wins), and recording again changes nothing.
    assert store.stored_plans(["p0", "p2", "missing"]) == {"p0": b"response0", "p2": b"response2"}
    assert store.record_results("me", [ItemOutcome("j", 0, plan_id="px", plan=b"x")]) == 0
    assert store.results("j")[0].plan_id == "p0"


def test_a_chunk_with_a_stuck_item_keeps_the_results_before_it(killed_soon: None) -> None:
    solver = SolverPool(1, 0)
    try:
        tiny = _payload(tiny_problem(budget=280.0))
        stuck = _payload(presolve_bound(), method="milp", time_limit=1.0)
        items = [(tiny, None), (stuck, 1.0), (tiny, None)]
        outcomes = list(solver.run_chunk(items))
        assert [position for position, _ in outcomes] == [0, 1]  # item 2 not run
        assert outcomes[0][1][0] == "ok"
        assert isinstance(outcomes[1][1], DeadlineExceeded)
        assert "ran past its time limit (time_limit = 1)" in str(outcomes[1][1])
        # The killed process was replaced: the next chunk solves.
        again = list(solver.run_chunk([(tiny, None), (tiny, None)]))
        assert [(position, outcome[0]) for position, outcome in again] == [(0, "ok"), (1, "ok")]  # type: ignore[index]
    finally:
        solver.close()


def test_a_job_solved_in_chunks_records_each_item_once(
    make_server: ServerFactory, tmp_path: Path, killed_soon: None
) -> None:
    """Five items claimed as one chunk, the third stuck: it is an error, the others solved
    once (the two after it given back, then claimed again without counting an attempt)."""
    db = tmp_path / "chunks.db"
    server, port = make_server(db=db, workers=1)
    server.jobs.first_chunk = 5
    tiny = [convert.build_request(tiny_problem(budget=b), convert.SolveArgs()) for b in (260, 270)]
    stuck = convert.build_request(presolve_bound(), convert.SolveArgs("milp", time_limit=1.0))
    more = [convert.build_request(tiny_problem(budget=b), convert.SolveArgs()) for b in (280, 290)]
    with Client(f"127.0.0.1:{port}", timeout=60.0) as client:
        job_id = client.submit_requests([*tiny, stuck, *more], batch_id="chunks")
        results = client.results(job_id, wait=True, timeout=60)
        status = client.job(job_id)
    assert (status.state, status.done, status.failed) == ("done", 5, 1)
    assert isinstance(results[2], JobError) and results[2].code == "DEADLINE_EXCEEDED"
    for i in (0, 1, 3, 4):
        assert isinstance(results[i], AllocationResult) and results[i].status is Status.OPTIMAL
    with sqlite3.connect(db) as raw:
        attempts = [a for (a,) in raw.execute("SELECT attempts FROM job_items ORDER BY idx")]
    assert attempts == [1, 1, 1, 1, 1]
    # Each plan is stored once and served as the item's response.
    stored = PlanStore(db)
    try:
        plan_ids = [r.plan_id for r in stored.results(job_id) if r.plan_id]
        plans = stored.stored_plans(plan_ids)
    finally:
        stored.close()
    assert len(plan_ids) == 4 and set(plans) == set(plan_ids)
    assert all(pb.SolveResponse.FromString(plans[p]).plan_id == p for p in plan_ids)


def test_solver_processes_store_the_bytes_the_server_would(make_server: ServerFactory) -> None:
    """A batch item's response is identified and serialized in its solver process: the same
    plan id and stored bytes as the server's own `Planner.response` of the plain outcome."""
    server, _ = make_server(workers=1)
    planner = server.planner
    request = convert.build_request(tiny_problem(budget=280.0), convert.SolveArgs("exact"))
    prepared = planner.prepare(request)
    identity = planner.identity(prepared)
    plain = worker.run_one(prepared.canonical, None)
    assert plain[0] == "ok"
    response = pb.SolveResponse.FromString(plain[1])  # type: ignore[arg-type]
    for status in (cpb.STATUS_OPTIMAL, cpb.STATUS_TIME_LIMIT):  # a time-limited plan: own id
        response.certificate.status = status
        payload = response.SerializeToString()
        want, data = planner.response(prepared, ("ok", payload))
        got = worker.stored(response, prepared.canonical, identity)
        seconds = want.certificate.solve_time_s
        assert got == ("stored", want.plan_id, data, "exact", seconds)
        assert planner.stored(prepared, got) == (want.plan_id, data)
        assert (want.plan_id == prepared.plan_id) == (status == cpb.STATUS_OPTIMAL)
    ((position, outcome),) = planner.pool.run_chunk(
        [(prepared.canonical, None)], identities=[identity]
    )
    assert position == 0 and outcome[0] == "stored" and outcome[1] == prepared.plan_id
    solved = pb.SolveResponse.FromString(outcome[2])  # type: ignore[index, arg-type]
    assert (solved.plan_id, solved.solver_version) == identity
    assert outcome[2] == solved.SerializeToString(deterministic=True)  # type: ignore[index]
