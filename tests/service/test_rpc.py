"""Every RPC over a real server: Solve, SolveStream, batches, GetPlan, Ping, health, reflection."""

from __future__ import annotations

import dataclasses
import threading
import urllib.request

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from pruneplan.clients import Client, JobError, SolveProgress
from pruneplan.service import convert
from pruneplan.service.servicer import PAGE_BYTES, _pages, _result
from pruneplan.service.store import ResultRecord
from pruneplan.service.version import solver_version
from pruneplan.service.worker import RateLimited
from pruneplan.solver import AllocationResult, Status, allocate
from pruneplan.solver import Progress as SolverProgress
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc

from .conftest import ServerFactory, hard_problem, tiny_problem


def _same_plan(got: AllocationResult, want: AllocationResult) -> None:
    assert got.status is want.status
    assert dict(got.level_index) == dict(want.level_index)
    np.testing.assert_allclose(got.objective, want.objective, rtol=1e-12)


def test_solve_matches_in_process(client: Client) -> None:
    problem = tiny_problem(budget=310.0)
    result = client.solve(problem, method="exact")
    _same_plan(result, allocate(problem, method="exact"))
    assert result.plan_id.startswith("p") and result.fingerprint == "tiny"


def test_identical_requests_identical_plan(client: Client, channel: grpc.Channel) -> None:
    problem = tiny_problem(budget=320.0)
    first, second = client.solve(problem), client.solve(problem)
    assert first.plan_id == second.plan_id
    assert dataclasses.asdict(first) == dataclasses.asdict(second)
    stub = pb_grpc.PruningServiceStub(channel)
    args = convert.SolveArgs()
    raw = [
        stub.Solve(convert.build_request(problem, args, request_id=str(i), raw=i % 2 == 0))
        for i in range(2)
    ]
    assert raw[0].SerializeToString(deterministic=True) == raw[1].SerializeToString(
        deterministic=True
    )
    assert raw[0].plan_id == first.plan_id


def test_get_plan(client: Client) -> None:
    result = client.solve(tiny_problem(budget=330.0))
    assert dataclasses.asdict(client.plan(result.plan_id)) == dataclasses.asdict(result)


def test_get_plan_unknown_is_not_found(client: Client) -> None:
    with pytest.raises(grpc.RpcError) as info:
        client.plan("p0000")
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


def test_infeasible_is_ok_with_status(client: Client) -> None:
    result = client.solve(tiny_problem(budget=1.0))
    assert result.status is Status.INFEASIBLE
    assert "params" in result.message


def test_solve_stream_ends_with_result(client: Client) -> None:
    events = list(client.solve_stream(tiny_problem(budget=340.0), method="dp", buckets=1000))
    assert all(isinstance(e, SolveProgress) for e in events[:-1])
    final = events[-1]
    assert isinstance(final, AllocationResult) and final.method == "dp"


def test_solve_stream_carries_the_solvers_numbers(client: Client) -> None:
    """A long multi-budget solve streams the solver's objective and bound before the result."""
    events = list(client.solve_stream(hard_problem(60, 10, resources=3, seed=1), method="exact"))
    final, progress = events[-1], events[:-1]
    assert isinstance(final, AllocationResult) and final.status is Status.OPTIMAL
    assert progress and all(isinstance(e, SolveProgress) for e in progress)
    numbers = [e for e in progress if np.isfinite(e.best_bound) or np.isfinite(e.best_objective)]
    assert numbers, [e.phase for e in progress]
    bounds = np.array([e.best_bound for e in progress if np.isfinite(e.best_bound)])
    assert np.all(bounds <= final.objective + 1e-9 * abs(final.objective))
    plans = np.array([e.best_objective for e in progress if np.isfinite(e.best_objective)])
    assert np.all(plans >= final.objective - 1e-9 * abs(final.objective))  # plans in budget
    for event in progress:
        assert event.phase and 0.0 <= event.fraction <= 1.0 and event.elapsed_s >= 0.0


def _report(phase: str, bound: float = 1.0) -> SolverProgress:
    return SolverProgress(phase, objective=2.0, lower_bound=bound)


def test_progress_is_rate_limited_but_keeps_first_and_done() -> None:
    sent: list[SolverProgress] = []
    limited = RateLimited(sent.append, interval=3600.0)
    for bound in (1.0, 1.5, 1.7):
        limited(_report("search", bound))
    limited(_report("done", 2.0))
    assert [(p.phase, p.lower_bound) for p in sent] == [("search", 1.0), ("done", 2.0)]
    every: list[SolverProgress] = []
    unlimited = RateLimited(every.append, interval=0.0)
    unlimited(_report("bound"))
    unlimited(_report("search"))
    assert [p.phase for p in every] == ["bound", "search"]


@pytest.mark.parametrize("inline", [0, 10**6], ids=["pool", "inline"])
def test_inline_and_pooled_give_the_same_plan(make_server: ServerFactory, inline: int) -> None:
    problem = tiny_problem(budget=305.0)
    _, port = make_server(inline_max_elements=inline)
    with Client(f"127.0.0.1:{port}") as client:
        result = client.solve(problem, method="exact")
        events = list(client.solve_stream(problem, method="exact"))
    _same_plan(result, allocate(problem, method="exact"))
    request = convert.build_request(problem, convert.SolveArgs("exact"))
    want = convert.plan_key(convert.canonical_request(request).payload, solver_version())
    assert result.plan_id == want
    final = events[-1]
    assert isinstance(final, AllocationResult)
    assert dataclasses.asdict(final) == dataclasses.asdict(result)


def test_method_options_travel(client: Client) -> None:
    problem = tiny_problem(budget=350.0)
    result = client.solve(problem, method="random", seed=3, n_samples=50)
    _same_plan(result, allocate(problem, method="random", seed=3, n_samples=50))


def test_batch_round_trip(client: Client) -> None:
    problems = [tiny_problem(budget=b) for b in (250.0, 300.0, 1.0)]
    job_id = client.submit_batch(problems, method="exact")
    results = client.results(job_id, wait=True)
    assert len(results) == 3
    for problem, result in zip(problems, results, strict=True):
        assert isinstance(result, AllocationResult)
        _same_plan(result, allocate(problem, method="exact"))
    status = client.job(job_id)
    assert (status.state, status.total, status.done, status.failed) == ("done", 3, 3, 0)
    assert client.cancel(job_id) is False


def _listed(channel: grpc.Channel, job_id: str, page_size: int) -> list[list[int]]:
    """The indexes of each ``ListJobResults`` message (the single result's, or a page's)."""
    stub = pb_grpc.PruningServiceStub(channel)
    request = pb.ListJobResultsRequest(job_id=job_id, follow=True, page_size=page_size)
    messages = list(stub.ListJobResults(request, timeout=60))
    return [[r.index for r in m.results] if m.results else [m.index] for m in messages]


def test_job_results_in_pages(client: Client, channel: grpc.Channel) -> None:
    problems = [tiny_problem(budget=b) for b in (250.0, 260.0, 270.0, 280.0)]
    problems.append(dataclasses.replace(tiny_problem(), budget={"params": -1.0}))
    job_id = client.submit_batch(problems, method="exact")
    want = client.results(job_id, wait=True)  # pages of `RESULTS_PAGE`
    assert isinstance(want[4], JobError)
    single = _listed(channel, job_id, 0)
    assert sorted(single) == [[i] for i in range(5)]
    pages = _listed(channel, job_id, 2)
    assert all(1 <= len(page) <= 2 for page in pages)
    assert sorted(i for page in pages for i in page) == list(range(5))
    stub = pb_grpc.PruningServiceStub(channel)
    request = pb.ListJobResultsRequest(job_id=job_id, page_size=1000)
    (page,) = stub.ListJobResults(request, timeout=60)
    assert not page.HasField("response") and not page.HasField("error")
    by_index = {r.index: r for r in page.results}
    assert by_index[4].error.code == "INVALID_ARGUMENT"
    for index in range(4):
        got = convert.response_to_result(by_index[index].response)
        assert dataclasses.asdict(got) == dataclasses.asdict(want[index])


def test_result_pages_end_at_their_byte_bound() -> None:
    plans = [pb.SolveResponse(plan_id=str(i) * 400_000).SerializeToString() for i in range(5)]
    results = [_result(ResultRecord(i, f"p{i}", "", ""), plan) for i, plan in enumerate(plans)]
    pages = [pb.ListJobResultsResponse.FromString(page) for page in _pages(results, 100)]
    assert [len(page.results) for page in pages] == [2, 2, 1]  # 3 would pass PAGE_BYTES
    assert all(page.ByteSize() <= PAGE_BYTES for page in pages)
    items = [item for page in pages for item in page.results]
    assert [item.index for item in items] == list(range(5))
    assert [item.response.SerializeToString() for item in items] == plans
    plan = pb.SolveResponse(plan_id="p" * 2 * PAGE_BYTES).SerializeToString()
    huge = [_result(ResultRecord(0, "p0", "", ""), plan)]
    assert len(pb.ListJobResultsResponse.FromString(_pages(huge, 100)[0]).results) == 1
    assert _pages(results, 0) == results  # one message each, unpaged


def test_batch_with_invalid_request_records_error(client: Client) -> None:
    bad = tiny_problem()
    bad = dataclasses.replace(bad, budget={"params": -1.0})
    job_id = client.submit_batch([tiny_problem(budget=260.0), bad])
    results = client.results(job_id, wait=True)
    assert isinstance(results[0], AllocationResult)
    assert isinstance(results[1], JobError) and results[1].code == "INVALID_ARGUMENT"
    assert results[1].message.startswith("allocation.budget.params")
    assert client.job(job_id).failed == 1


def test_cancel_job(make_server: ServerFactory) -> None:
    from .conftest import hard_problem

    _, port = make_server(workers=1)
    with Client(f"127.0.0.1:{port}") as client:
        job_id = client.submit_batch([hard_problem(60, 10, seed=s) for s in range(4)])
        assert client.cancel(job_id) is True
        assert client.job(job_id).state == "cancelled"
        assert len(client.results(job_id, wait=True)) < 4


def test_ping_and_unknown_job(client: Client) -> None:
    assert client.ping(b"echo") == b"echo"
    with pytest.raises(grpc.RpcError) as info:
        client.job("j-nope")
    assert info.value.code() is grpc.StatusCode.NOT_FOUND


def test_health_and_reflection(channel: grpc.Channel) -> None:
    check = health_pb2_grpc.HealthStub(channel).Check
    for service in ("", "pruneplan.v1.PruningService"):
        response = check(health_pb2.HealthCheckRequest(service=service))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = {
        s.name
        for r in stub.ServerReflectionInfo(iter([request]))
        for s in r.list_services_response.service
    }
    assert "pruneplan.v1.PruningService" in names


def test_graceful_stop_reports_not_serving(make_server: ServerFactory) -> None:
    server, port = make_server(grace_s=2.0)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        check = health_pb2_grpc.HealthStub(ch).Check
        server.stop(2.0)
        try:
            status = check(health_pb2.HealthCheckRequest(service=""), timeout=5).status
        except grpc.RpcError as error:  # already closed: also not serving
            assert error.code() is grpc.StatusCode.UNAVAILABLE
        else:
            assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert server.wait_for_termination(30)


def test_metrics_endpoint(make_server: ServerFactory) -> None:
    server, port = make_server(metrics_port=0)
    with Client(f"127.0.0.1:{port}") as client:
        client.solve(tiny_problem(budget=270.0))
    url = f"http://127.0.0.1:{server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    assert 'pruneplan_requests_total{code="OK",method="Solve"} 1.0' in text
    assert "pruneplan_request_latency_seconds_bucket" in text
    assert 'pruneplan_solve_time_seconds_count{solver_method="exact"} 1.0' in text
    assert "pruneplan_queue_depth" in text


def test_concurrent_clients(shared_server: tuple[object, int]) -> None:
    """32 clients x 50 requests over 10 distinct problems; every answer is the right plan."""
    port = shared_server[1]
    problems = [tiny_problem(budget=200.0 + 15 * i, seed=i) for i in range(10)]
    expected = [allocate(p, method="exact") for p in problems]
    failures: list[str] = []

    def worker(w: int) -> None:
        with Client(f"127.0.0.1:{port}", timeout=120.0) as client:
            for i in range(50):
                k = (w + i) % len(problems)
                try:
                    got = client.solve(problems[k], method="exact")
                    assert dict(got.level_index) == dict(expected[k].level_index)
                except Exception as exc:  # collected and reported below
                    failures.append(f"client {w} request {i}: {exc!r}")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
