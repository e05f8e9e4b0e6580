"""The wire format: generated code up to date, conversions, arrays, masks, example files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import json_format

from pruneplan.service import convert
from pruneplan.service.convert._arrays import canonical_values
from pruneplan.solver import InvalidProblemError, allocate, solve
from pruneplan.v1 import common_pb2 as cpb
from pruneplan.v1 import pruning_service_pb2 as pb

from .conftest import tiny_problem

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_is_up_to_date() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("raw", [False, True], ids=["values", "f64le"])
def test_arrays_round_trip_bit_exact(raw: bool) -> None:
    data = np.array([0.0, -1.5, np.inf, -np.inf, 1e-300, np.pi])
    decoded = convert.values_to_array(convert.array_to_values(data, raw=raw), "x")
    np.testing.assert_array_equal(decoded, data)


@pytest.mark.parametrize("size", [1, 11, 300, 5000], ids=lambda n: f"n{n}")
def test_canonical_values_are_the_numbers_as_f64le(size: int) -> None:
    rng = np.random.default_rng(size)
    data = rng.standard_normal(size)
    data[: min(size, 4)] = [np.nan, -0.0, np.inf, -np.inf][: min(size, 4)]
    message = cpb.Values(values=data)
    assert canonical_values(message) == size
    assert not message.values
    assert message.f64le == np.asarray(data, dtype="<f8").tobytes()
    both = cpb.Values(values=[1.0], f64le=b"\0" * 8)
    assert canonical_values(both) == 2 and list(both.values) == [1.0]  # left for decoding


def test_plan_key_ignores_array_encoding_and_request_id() -> None:
    problem, args = tiny_problem(), convert.SolveArgs(method="exact")
    keys = set()
    for raw in (False, True):
        request = convert.build_request(problem, args, request_id=f"id-{raw}", raw=raw)
        wire = pb.SolveRequest.FromString(request.SerializeToString())
        keys.add(convert.plan_key(convert.canonical_request(wire).payload, "v"))
    assert len(keys) == 1


def test_result_round_trip() -> None:
    problem = tiny_problem()
    result = allocate(problem, method="dp")
    back = convert.response_to_result(convert.result_to_response(result, problem))
    assert back.status is result.status
    assert dict(back.sparsity) == dict(result.sparsity)
    assert dict(back.level_index) == dict(result.level_index)
    np.testing.assert_allclose(back.objective, result.objective)
    assert back.frontier is not None and result.frontier is not None
    np.testing.assert_array_equal(back.frontier.objective, result.frontier.objective)


def test_kept_counts() -> None:
    problem = tiny_problem()
    response = convert.result_to_response(allocate(problem), problem)
    sizes = {layer.name: layer.size for layer in problem.layers}
    for layer in response.allocation.layers:
        assert layer.kept == round(sizes[layer.name] * (1 - layer.sparsity))


def test_mask_bit_order_is_little() -> None:
    mask = np.zeros((3, 5), dtype=bool)
    mask[0, 0] = mask[1, 4] = True  # flat indices 0 and 9
    message = convert.mask_to_proto(mask)
    assert message.bits == bytes([0b00000001, 0b00000010])
    assert (message.length, list(message.shape)) == (15, [3, 5])
    np.testing.assert_array_equal(convert.proto_to_mask(message), mask)


def test_mask_with_wrong_length_names_field() -> None:
    message = cpb.BitMask(bits=b"\x01", length=15, shape=[3, 5])
    with pytest.raises(InvalidProblemError, match=r"^mask\.bits"):
        convert.proto_to_mask(message)


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.json")), ids=lambda p: p.name)
def test_examples_are_canonical_json_and_solve(path: Path) -> None:
    """Every family's example: protobuf JSON as the CLI writes it, and it solves to a plan."""
    text = path.read_text()
    request = json_format.Parse(text, pb.SolveRequest())
    written = json_format.MessageToJson(request, preserving_proto_field_name=True)
    assert json.loads(written) == json.loads(text)
    _, problem, args = convert.parse_request(request)
    assert solve(problem, **args.kwargs()).status.name in ("OPTIMAL", "FEASIBLE")
