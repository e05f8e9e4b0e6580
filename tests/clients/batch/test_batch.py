"""Batches end to end on the local engine: round trip of every family, bad lines, JSONL files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from pruneplan.clients.batch import BatchError, run_batch, solve_many
from pruneplan.clients.batch._jsonl import Appender, recover
from pruneplan.clients.cli import main
from pruneplan.service import convert
from pruneplan.service.dispatch import solve_request
from pruneplan.v1 import pruning_service_pb2 as pb

from ._examples import EXAMPLES, mixed_requests
from .conftest import by_id, read_results, write_jsonl


def test_every_family_has_examples() -> None:
    assert set(EXAMPLES) == set(convert.CODECS)


def test_round_trip_of_every_family(tmp_path: Path) -> None:
    """Every request's line holds the response `solve_request` gives it in this process."""
    requests = mixed_requests(14)
    summary = run_batch(write_jsonl(tmp_path / "in.jsonl", requests), tmp_path / "out.jsonl")
    assert summary.ok and summary.solved == len(requests) == summary.lines
    records = by_id(read_results(tmp_path / "out.jsonl"))
    assert set(records) == {r.request_id for r in requests}
    kinds = set()
    for line, request in enumerate(requests, 1):
        record = records[request.request_id]
        assert record["line"] == line
        response = json_format.ParseDict(record["response"], pb.SolveResponse())
        expected = solve_request(request)
        response.certificate.solve_time_s = expected.certificate.solve_time_s = 0.0
        assert response == expected
        result = convert.response_to_result(response)  # decodes into the family's result
        assert result.plan_id == expected.plan_id
        kinds.add(response.WhichOneof("solution"))
    assert kinds == set(convert.CODECS)


def test_request_without_id_is_known_by_its_line(tmp_path: Path) -> None:
    requests = mixed_requests(2)
    requests[1].ClearField("request_id")
    run_batch(write_jsonl(tmp_path / "in.jsonl", requests), tmp_path / "out.jsonl")
    want = {r.request_id for r in requests if r.request_id} | {"2"}
    assert set(by_id(read_results(tmp_path / "out.jsonl"))) == want


BAD_LINES = {
    1: ("{not json", "PARSE_ERROR", ""),
    3: ('{"allocation": {"layerz": []}}', "PARSE_ERROR", "allocation.layerz"),
    4: ('{"method": 3}', "PARSE_ERROR", "method"),
    6: ("[1, 2]", "PARSE_ERROR", ""),
    7: ('{"request_id": 7}', "PARSE_ERROR", "request_id"),
    8: ('{"request_id": "allocation-0"}', "DUPLICATE_ID", "request_id"),
    9: ("{}", "INVALID_ARGUMENT", "problem"),
}
"""0-based insertion index -> (line, kind, field)."""


def _negative_budget() -> str:
    request = mixed_requests(1)[0]
    request.request_id = "negative"
    getattr(request, request.WhichOneof("problem")).budget["params"] = -1.0
    return json_format.MessageToJson(request, indent=None)


def test_bad_lines_are_recorded_and_the_batch_goes_on(tmp_path: Path) -> None:
    good = mixed_requests(6)
    extra = {index: text for index, (text, _, _) in BAD_LINES.items()}
    extra[10] = _negative_budget()
    source = write_jsonl(tmp_path / "in.jsonl", good, extra)
    summary = run_batch(source, tmp_path / "out.jsonl")
    records = read_results(tmp_path / "out.jsonl")
    assert len(records) == len(good) + len(extra)
    errors = {r["line"]: r["error"] for r in records if "error" in r}
    expected = {index + 1: (kind, field) for index, (_, kind, field) in BAD_LINES.items()}
    expected[11] = ("INVALID_ARGUMENT", "allocation.budget.params")
    assert {line: (e["kind"], e["field"]) for line, e in errors.items()} == expected
    assert sum(1 for r in records if "response" in r) == summary.solved == len(good)
    assert summary.failed == {"PARSE_ERROR": 5, "DUPLICATE_ID": 1, "INVALID_ARGUMENT": 2}
    assert not summary.ok


def test_cli_exit_status_and_summary_by_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", mixed_requests(3), {1: "{not json", 2: "{}"})
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(source), "--out", str(out), "--no-progress", "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{3 * len(convert.CODECS)} solved" in err and "2 failed" in err
    assert "PARSE_ERROR: 1; first at line 2" in err
    assert "INVALID_ARGUMENT: 1; first at line 3, field problem" in err
    source.write_text(source.read_text().replace("{not json\n", "").replace("{}\n", ""))
    fresh = tmp_path / "fresh.jsonl"
    assert main(["batch", str(source), "--out", str(fresh), "--no-progress"]) == 0


def test_gzip_in_and_out(tmp_path: Path) -> None:
    requests = mixed_requests(5)
    plain = write_jsonl(tmp_path / "in.jsonl", requests)
    packed = tmp_path / "in.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    run_batch(plain, tmp_path / "plain.jsonl")
    run_batch(packed, tmp_path / "packed.jsonl.gz")
    with gzip.open(tmp_path / "packed.jsonl.gz", "rt") as f:  # a valid gzip file
        assert len(f.readlines()) == len(requests)
    assert by_id(read_results(tmp_path / "plain.jsonl")) == by_id(
        read_results(tmp_path / "packed.jsonl.gz")
    )


def test_solve_many_yields_every_request_once() -> None:
    requests = mixed_requests(10)
    requests[3] = pb.SolveRequest(request_id="empty")
    out = dict(solve_many(iter(requests), workers=2))
    assert set(out) == {r.request_id for r in requests}
    error = out.pop("empty")
    assert isinstance(error, BatchError) and error.kind == "INVALID_ARGUMENT"
    for request in requests:
        if request.request_id in out:
            response = out[request.request_id]
            assert isinstance(response, pb.SolveResponse)
            assert response.plan_id == solve_request(request).plan_id


def _lines(n: int) -> list[str]:
    return [f'{{"request_id": "r{i}", "line": {i + 1}, "response": {{}}}}\n' for i in range(n)]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("cut", [1, 17, 30])
def test_recover_drops_a_torn_tail(tmp_path: Path, suffix: str, cut: int) -> None:
    """A file cut anywhere in its last line (or gzip member) keeps exactly its whole lines."""
    path = tmp_path / f"out{suffix}"
    with Appender(path) as appender:
        appender.write(_lines(3))
    with Appender(path) as appender:  # a second gzip member
        appender.write(_lines(5)[3:])
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    recovered = recover(path)
    assert recovered.torn
    kept = recovered.lines
    assert 3 <= kept <= 5 if suffix.endswith(".gz") else kept == 4
    assert recovered.done == {f"r{i}" for i in range(kept)}
    with Appender(path) as appender:  # appending after recovery gives whole lines only
        appender.write(_lines(6)[kept:])
    assert recover(path).done == {f"r{i}" for i in range(6)}
    assert not recover(path).torn


def test_recover_refuses_a_corrupt_middle_line(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_text(_lines(1)[0] + "garbage\n" + _lines(3)[2])
    with pytest.raises(ValueError, match="line 2 of the output"):
        recover(path)


def test_appender_checkpoints_are_durable(tmp_path: Path) -> None:
    """Whatever `write` returned from is on disk (readable by another reader at once)."""
    path = tmp_path / "out.jsonl.gz"
    appender = Appender(path)
    appender.write(_lines(4))
    appender.checkpoint()
    recovered = recover(path)  # the member is still open: the writer is "killed" here
    np.testing.assert_equal(sorted(recovered.done), sorted(f"r{i}" for i in range(4)))
    appender.close()
