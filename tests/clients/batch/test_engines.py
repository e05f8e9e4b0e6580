"""The three engines give identical results; ray and server batches resume like local ones.

Ray runs on one small local cluster for the session (``ray_address``), the server engine
against a real server on 127.0.0.1 (``server_target``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from pruneplan.clients.batch import BatchError, _jsonl, run_batch, solve_many
from pruneplan.service import convert
from pruneplan.v1 import pruning_service_pb2 as pb

from ._examples import mixed_requests
from .conftest import by_id, read_results, write_jsonl


@pytest.fixture
def engines(ray_address: str, server_target: str) -> dict[str, dict[str, Any]]:
    return {
        "local": {"engine": "local", "workers": 2},
        "ray": {"engine": "ray", "address": ray_address},
        "server": {"engine": "server", "server": server_target},
    }


def _comparable(outcome: pb.SolveResponse | BatchError) -> object:
    if isinstance(outcome, BatchError):
        return outcome
    response = pb.SolveResponse()
    response.CopyFrom(outcome)
    response.certificate.solve_time_s = 0.0
    return response.SerializeToString(deterministic=True)


def _requests() -> list[pb.SolveRequest]:
    requests = mixed_requests(7, seed=5)
    negative = pb.SolveRequest()
    negative.CopyFrom(requests[0])
    negative.request_id = "negative-budget"
    getattr(negative, negative.WhichOneof("problem")).budget["params"] = -1.0
    return [*requests, negative, pb.SolveRequest(request_id="no-problem")]


def test_solve_many_is_the_same_on_every_engine(engines: dict[str, dict[str, Any]]) -> None:
    requests = _requests()
    results = {
        name: {rid: _comparable(o) for rid, o in solve_many(requests, **options)}
        for name, options in engines.items()
    }
    assert set(results["local"]) == {r.request_id for r in requests}
    assert results["ray"] == results["local"]
    assert results["server"] == results["local"]
    error = results["server"]["negative-budget"]
    assert isinstance(error, BatchError) and error.field == "allocation.budget.params"


def test_file_batches_are_the_same_on_every_engine(
    tmp_path: Path, engines: dict[str, dict[str, Any]]
) -> None:
    """JSON in and out, bad lines included (the server engine parses them on the client)."""
    extra = {2: "{not json", 5: '{"allocation": {"layerz": []}}', 7: "{}"}
    source = write_jsonl(tmp_path / "in.jsonl", mixed_requests(4, seed=7), extra)
    outputs = {}
    for name, options in engines.items():
        summary = run_batch(source, tmp_path / f"{name}.jsonl", **options)
        assert (summary.solved, sum(summary.failed.values())) == (4 * len(convert.CODECS), 3)
        outputs[name] = by_id(read_results(tmp_path / f"{name}.jsonl"))
    assert outputs["ray"] == outputs["local"]
    assert outputs["server"] == outputs["local"]


class _Killed(Exception):
    pass


@pytest.mark.parametrize("name", ["ray", "server"])
def test_interrupted_batches_resume(
    tmp_path: Path,
    engines: dict[str, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """Stopped after the first results were written, then rerun: each request once."""
    requests = mixed_requests(30, seed=11)
    source = write_jsonl(tmp_path / "in.jsonl", requests)
    run_batch(source, tmp_path / "reference.jsonl", workers=2)
    write = _jsonl.Appender.write
    written: list[int] = []

    def write_then_die(self: _jsonl.Appender, lines: list[str]) -> None:
        write(self, lines[:3])  # the first write's lines (1 to 3 of them) reach the file
        written.append(len(lines[:3]))
        raise _Killed

    monkeypatch.setattr(_jsonl.Appender, "write", write_then_die)
    out = tmp_path / "out.jsonl"
    options = {**engines[name], "chunk_tasks": 4}
    with pytest.raises(_Killed):
        run_batch(source, out, **options)
    monkeypatch.setattr(_jsonl.Appender, "write", write)
    summary = run_batch(source, out, **options)
    assert written and 1 <= written[0] <= 3
    assert summary.skipped == written[0] and summary.solved == len(requests) - written[0]
    assert by_id(read_results(out)) == by_id(read_results(tmp_path / "reference.jsonl"))
    first = json_format.ParseDict(read_results(out)[0]["response"], pb.SolveResponse())
    assert first.plan_id.startswith("p")


def test_server_engine_splits_batches_under_the_server_limit(tmp_path: Path) -> None:
    """A server with ``max_batch=4`` refuses the engine's first job; it halves until accepted."""
    from pruneplan.service.server import ServerConfig, create_server

    server, port = create_server(
        ServerConfig(db=tmp_path / "plans.db", workers=1, max_batch=4, grace_s=0.5)
    )
    try:
        requests = mixed_requests(11, seed=13)
        out = dict(solve_many(requests, engine="server", server=f"127.0.0.1:{port}"))
    finally:
        server.stop(0).wait(30)
    assert set(out) == {r.request_id for r in requests}
    local = dict(solve_many(requests, workers=1))
    assert {k: _comparable(v) for k, v in out.items()} == {
        k: _comparable(v) for k, v in local.items()
    }
