"""Search sessions over the wire: equal to in-process, resumable after a restart, errors."""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import pytest

from pruneplan.clients import Client, RemoteSearch
from pruneplan.solver import AllocationProblem, InvalidProblemError, LayerProfile
from pruneplan.solver.search import Candidate, SearchOptions, SearchSession, SearchState

from .conftest import ServerFactory, tiny_problem

OPTIONS = SearchOptions(evaluations=40, candidates=(5, 2), samples=(2, 8), seed=3)


def measure(c: Candidate) -> float:
    """A fixed function of the plan and the samples it is measured on."""
    levels = tuple(c.level_index.values())
    noise = np.random.default_rng(abs(hash((levels, c.sample_set))) % 2**32).random()
    return float(sum((k + 1) ** 1.5 * (i + 1) for i, k in enumerate(levels)) + noise / c.samples)


def drive(session: SearchSession | RemoteSearch, steps: int | None = None) -> list[Candidate]:
    asked: list[Candidate] = []
    step = 0
    while session.state is SearchState.RUNNING and (steps is None or step < steps):
        batch = session.ask(3)
        asked += batch
        session.tell([(c.candidate_id, measure(c), c.samples) for c in batch])
        step += 1
    return asked


def same_candidates(a: list[Candidate], b: list[Candidate]) -> None:
    assert len(a) == len(b) > 0
    for x, y in zip(a, b, strict=True):
        assert (x.candidate_id, dict(x.level_index), x.samples, x.sample_set, x.mode) == (
            y.candidate_id,
            dict(y.level_index),
            y.samples,
            y.sample_set,
            y.mode,
        )
        np.testing.assert_allclose(x.predicted, y.predicted, rtol=1e-15)
        assert dict(x.sparsity) == dict(y.sparsity)
        for r in x.usage:
            np.testing.assert_allclose(x.usage[r], y.usage[r], rtol=1e-15)


def test_over_the_wire_equals_in_process(client: Client) -> None:
    problem = tiny_problem()
    local = SearchSession(problem, OPTIONS)
    remote = client.create_search(problem, OPTIONS)
    curves = {layer.name: 3.0 * np.asarray(layer.loss) ** 0.5 for layer in problem.layers}
    local.tell_curves(curves)
    remote.tell_curves(curves)
    asked = drive(remote)
    same_candidates(drive(local), asked)
    assert "curves" in {c.mode for c in asked}
    assert remote.state is local.state is SearchState.DONE
    snapshot = remote.refresh()
    assert snapshot.history == local.history
    best, expected = snapshot.best, local.best()
    assert dict(best.level_index) == dict(expected.level_index)
    assert best.objective == expected.objective and best.method == "search"
    assert best.plan_id and best.fingerprint == "tiny"
    stored = client.plan(best.plan_id)
    assert dict(stored.level_index) == dict(best.level_index)
    # the same request_id gives the same search; another client re-attaches with the problem
    again = client.create_search(problem, OPTIONS, request_id="same")
    assert client.create_search(problem, OPTIONS, request_id="same").search_id == again.search_id
    assert again.search_id != remote.search_id


def test_resumes_after_a_restart_with_its_history(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    db = tmp_path / "searches.db"
    problem = tiny_problem(n=5, budget=380.0)
    local = SearchSession(problem, OPTIONS)
    expected = drive(local)
    server, port = make_server(db=db)
    with Client(f"127.0.0.1:{port}", timeout=60.0) as first:
        remote = first.create_search(problem, OPTIONS)
        before = drive(remote, steps=4)
        told = len(remote.history)
    server.stop(0).wait(30)
    _, port = make_server(db=db)
    with Client(f"127.0.0.1:{port}", timeout=60.0) as second:  # knows nothing of the search
        resumed = second.search(remote.search_id)
        assert len(resumed.history) == told > 0
        assert resumed.problem.layers[0].name == problem.layers[0].name
        after = drive(resumed)
        same_candidates(before + after, expected)
        assert resumed.history == local.history
        assert dict(resumed.best().level_index) == dict(local.best().level_index)


def _status(excinfo: pytest.ExceptionInfo[BaseException]) -> grpc.StatusCode:
    error = excinfo.value
    assert isinstance(error, grpc.RpcError)
    return error.code()  # type: ignore[no-any-return, attr-defined]


def test_unknown_search_is_not_found(client: Client) -> None:
    calls = [
        lambda: client.ask("s-nope", 1),
        lambda: client.tell("s-nope", [(1, 1.0, 1)]),
        lambda: client.get_search("s-nope"),
        lambda: client.cancel_search("s-nope"),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as info:
            call()
        assert _status(info) == grpc.StatusCode.NOT_FOUND
        assert "search_id" in info.value.details()  # type: ignore[attr-defined]


def test_bad_values_name_the_field(client: Client) -> None:
    problem = tiny_problem()
    remote = client.create_search(problem, OPTIONS)
    batch = remote.ask(2)
    cid = batch[0].candidate_id
    cases = [
        ([(cid + 1000, 1.0, 2)], "results[0].candidate_id"),
        ([(cid, float("nan"), 2)], "results[0].measured"),
        ([(cid, 1.0, 2), (cid, 1.0, 3)], "results[1].candidate_id"),
        ([(cid, 1.0, 5)], "results[0].samples"),
    ]
    for results, field in cases:
        with pytest.raises(InvalidProblemError) as info:
            remote.tell(results)
        assert info.value.field == field
    with pytest.raises(InvalidProblemError) as info:
        remote.tell_curves({problem.layers[0].name: [0.0, 1.0]})
    assert info.value.field == f"curves.{problem.layers[0].name}"
    assert len(remote.history) == 0  # nothing was recorded
    bad = AllocationProblem(
        [LayerProfile("a", [0.0, 0.5], [0.0, float("nan")], 10)], {"params": 8.0}
    )
    problems = [
        (bad, OPTIONS, "problem.layers[0].loss"),
        (AllocationProblem(problem.layers, {"params": 1.0}), OPTIONS, "problem.budget"),
        (problem, SearchOptions(evaluations=2), "options.evaluations"),
        (problem, SearchOptions(modes=("swap", "nope")), "options.modes[1]"),
    ]
    for p, options, field in problems:
        with pytest.raises(InvalidProblemError) as info:
            client.create_search(p, options)
        assert info.value.field == field
    assert remote.cancel() and remote.state is SearchState.CANCELLED
    assert not client.cancel_search(remote.search_id)
    with pytest.raises(grpc.RpcError) as info:
        remote.tell([(batch[1].candidate_id, 1.0, 2)])
    assert _status(info) == grpc.StatusCode.FAILED_PRECONDITION


def test_limits_and_auth_as_for_solve(make_server: ServerFactory, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    _, port = make_server(max_layers=3, token_file=str(token))
    with Client(f"127.0.0.1:{port}") as anonymous:
        with pytest.raises(grpc.RpcError) as info:
            anonymous.create_search(tiny_problem(), OPTIONS)
        assert _status(info) == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as info:
            anonymous.ask("s-any", 1)
        assert _status(info) == grpc.StatusCode.UNAUTHENTICATED
    with Client(f"127.0.0.1:{port}", token="s3cret") as client:
        with pytest.raises(InvalidProblemError) as error:
            client.create_search(tiny_problem(n=4), OPTIONS)
        assert error.value.field == "problem.layers"
        remote = client.create_search(tiny_problem(n=3), OPTIONS)
        assert remote.ask(1)
