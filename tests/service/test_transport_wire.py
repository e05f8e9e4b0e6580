"""The transport family on the wire: round trips, canonical form, a real server, errors, CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from pruneplan.clients import Client, cli
from pruneplan.service import convert
from pruneplan.service.convert import CODECS, SolveArgs
from pruneplan.solver import InvalidProblemError, Status, solve
from pruneplan.solver.transport import TransportProblem, TransportResult
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc
from pruneplan.v1 import transport_pb2 as tpb
from tests._factories import tiny_problem

from .conftest import ServerFactory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "transport.json"
NAMES = ("conv1.weight", "conv2.weight", "fc1.weight")


def problem(
    *, weights: bool = True, per_group: bool = False, reg: float = 0.05, reg_type: str = "entropy"
) -> TransportProblem:
    """Three groups of seeded scores; FLOPs per element as weights; bounds on one group."""
    rng = np.random.default_rng(3)
    sizes = (12, 20, 7)
    scores = {n: rng.normal(size=k) for n, k in zip(NAMES, sizes, strict=True)}
    masses = {n: rng.uniform(1.0, 9.0, size=k) for n, k in zip(NAMES, sizes, strict=True)}
    mass = {
        n: float(masses[n].sum()) if weights else float(k)
        for n, k in zip(NAMES, sizes, strict=True)
    }
    budget: float | dict[str, float] = (
        {n: 0.4 * m for n, m in mass.items()} if per_group else 0.45 * sum(mass.values())
    )
    return TransportProblem(
        scores,
        budget,
        weights=masses if weights else None,
        reg=reg,
        reg_type=reg_type,
        min_keep=None if per_group else {"fc1.weight": 0.3},
        max_keep=None if per_group else {"conv2.weight": 0.6},
    )


CASES = {
    "entropy_flops": problem(),
    "l2_counts": problem(weights=False, reg=0.2, reg_type="l2"),
    "exact_per_group": problem(per_group=True, reg=0.0),
}


def _same_problem(a: TransportProblem, b: TransportProblem) -> None:
    assert list(a.scores) == list(b.scores)
    for name in a.scores:
        np.testing.assert_array_equal(b.scores[name], a.scores[name])
        if a.weights is None:
            assert b.weights is None
        else:
            assert b.weights is not None
            np.testing.assert_array_equal(b.weights[name], a.weights[name])
    assert (b.budget, b.reg, b.reg_type) == (a.budget, a.reg, a.reg_type)
    assert (b.min_keep, b.max_keep) == (a.min_keep, a.max_keep)


def _same_masks(a: TransportResult, b: TransportResult, atol: float = 0.0) -> None:
    assert list(a.soft_mask) == list(b.soft_mask)
    for name in a.soft_mask:
        np.testing.assert_allclose(b.soft_mask[name], a.soft_mask[name], rtol=0, atol=atol)
        np.testing.assert_array_equal(b.hard_mask[name], a.hard_mask[name])
        np.testing.assert_allclose(b.kept[name], a.kept[name], rtol=0, atol=atol * 100)
        assert math.isnan(a.threshold[name]) == math.isnan(b.threshold[name])


@pytest.mark.parametrize("raw", [False, True, None])
@pytest.mark.parametrize("case", sorted(CASES))
def test_problem_round_trip(case: str, raw: bool | None) -> None:
    original = CASES[case]
    request = convert.build_request(original, SolveArgs(method="semi_dual"), raw=raw)
    assert request.WhichOneof("problem") == "transport"
    wire = pb.SolveRequest.FromString(request.SerializeToString())
    codec, decoded, args = convert.parse_request(wire)
    assert codec.name == "transport" and args.method == "semi_dual"
    _same_problem(original, decoded)
    _same_masks(solve(original), solve(decoded))


@pytest.mark.parametrize("case", sorted(CASES))
def test_result_round_trip(case: str) -> None:
    result = solve(CASES[case], method="semi_dual")
    response = convert.result_to_response(result, CASES[case], solver_version="v")
    back = convert.response_to_result(pb.SolveResponse.FromString(response.SerializeToString()))
    assert isinstance(back, TransportResult)
    _same_masks(result, back)
    for name in result.threshold:
        np.testing.assert_array_equal(back.threshold[name], result.threshold[name])
    assert (back.status, back.method, back.objective) == (
        result.status,
        result.method,
        result.objective,
    )
    assert (back.budget_error, back.iterations, back.usage) == (
        result.budget_error,
        result.iterations,
        result.usage,
    )


def test_infeasible_result_round_trip() -> None:
    infeasible = TransportProblem({"a": [1.0, 2.0], "b": [0.0, 3.0]}, 3.5, max_keep={"a": 0.5})
    result = solve(infeasible)
    assert result.status is Status.INFEASIBLE
    back = convert.response_to_result(convert.result_to_response(result, infeasible))
    assert back.status is Status.INFEASIBLE and back.message == result.message
    assert {n: m.size for n, m in back.soft_mask.items()} == {"a": 0, "b": 0}


def test_canonical_form_ignores_encoding_and_request_id() -> None:
    original = CASES["entropy_flops"]
    packed = convert.build_request(original, SolveArgs(), request_id="one", raw=False)
    raw = convert.build_request(original, SolveArgs(), request_id="two", raw=True)
    assert packed.SerializeToString() != raw.SerializeToString()
    defaults = pb.SolveRequest()
    defaults.CopyFrom(packed)
    defaults.transport.ClearField("reg")  # unset: the solver's default, written out
    defaults.transport.reg_type = tpb.REG_TYPE_UNSPECIFIED
    defaults.method = ""
    with_defaults = pb.SolveRequest()
    with_defaults.CopyFrom(defaults)
    with_defaults.transport.reg = 0.1
    with_defaults.transport.reg_type = tpb.REG_TYPE_ENTROPY
    a, b = convert.canonical_request(packed), convert.canonical_request(raw)
    assert a.payload == b.payload
    c, d = convert.canonical_request(defaults), convert.canonical_request(with_defaults)
    assert c.payload == d.payload != a.payload
    n = sum(np.size(s) for s in original.scores.values())
    assert (a.elements, a.parts, a.parts_path) == (2 * n, 3, "transport.groups")
    unit = convert.canonical_request(convert.build_request(problem(weights=False), SolveArgs()))
    assert unit.elements == n


@pytest.mark.parametrize("case", sorted(CASES))
def test_server_equals_in_process(client: Client, case: str) -> None:
    remote = client.solve(CASES[case], method="semi_dual")
    local = solve(CASES[case], method="semi_dual")
    assert isinstance(remote, TransportResult)
    assert remote.plan_id.startswith("p") and remote.status is local.status
    _same_masks(local, remote, atol=1e-12)
    assert remote.budget_error <= 1e-9
    assert client.plan(remote.plan_id).plan_id == remote.plan_id


def test_pot_methods_name_the_group_bound_they_lack(client: Client) -> None:
    # POT's methods have no group bounds: refused before POT is imported (a slow import).
    with pytest.raises(InvalidProblemError) as info:
        client.solve(CASES["entropy_flops"], method="sinkhorn_log", max_iter=100)
    assert info.value.field == "transport.groups[2].min_keep"
    assert info.value.label == 'transport.groups[2] ("fc1.weight").min_keep'


def test_stream_and_mixed_batch(client: Client) -> None:
    *_, last = client.solve_stream(CASES["l2_counts"])
    assert isinstance(last, TransportResult)
    _same_masks(solve(CASES["l2_counts"]), last, atol=1e-12)
    job = client.submit_batch([CASES["entropy_flops"], tiny_problem(), CASES["exact_per_group"]])
    results = client.results(job, timeout=60)
    assert [type(r).__name__ for r in results] == [
        "TransportResult",
        "AllocationResult",
        "TransportResult",
    ]
    _same_masks(solve(CASES["exact_per_group"]), results[2], atol=1e-12)  # type: ignore[arg-type]


Edit = Callable[[pb.SolveRequest], None]


def _nan_score(request: pb.SolveRequest) -> None:
    request.transport.groups[1].scores.values[3] = math.nan


def _negative_weight(request: pb.SolveRequest) -> None:
    request.transport.groups[0].weights.values[0] = -1.0


def _short_weights(request: pb.SolveRequest) -> None:
    del request.transport.groups[2].weights.values[-1]


def _budget_above_mass(request: pb.SolveRequest) -> None:
    request.transport.budget = 1e9


def _no_budget(request: pb.SolveRequest) -> None:
    request.transport.ClearField("budget")


def _one_group_budget(request: pb.SolveRequest) -> None:
    request.transport.groups[1].budget = 2.0


def _negative_reg(request: pb.SolveRequest) -> None:
    request.transport.reg = -0.5


def _unknown_reg_type(request: pb.SolveRequest) -> None:
    request.transport.reg_type = 7  # type: ignore[assignment]


def _duplicate(request: pb.SolveRequest) -> None:
    request.transport.groups[2].name = request.transport.groups[0].name


def _max_keep(request: pb.SolveRequest) -> None:
    request.transport.groups[2].max_keep = 1.5


def _no_groups(request: pb.SolveRequest) -> None:
    del request.transport.groups[:]


# (id, edit, the field path the error names, its label)
MATRIX: list[tuple[str, Edit, str, str]] = [
    ("nan_score", _nan_score, "transport.groups[1].scores", '("conv2.weight").scores'),
    ("negative_weight", _negative_weight, "transport.groups[0].weights", '("conv1.weight")'),
    ("short_weights", _short_weights, "transport.groups[2].weights", '("fc1.weight")'),
    ("budget_above_mass", _budget_above_mass, "transport.budget", "transport.budget"),
    ("no_budget", _no_budget, "transport.budget", "transport.budget"),
    ("one_group_budget", _one_group_budget, "transport.groups[1].budget", "groups[1].budget"),
    ("negative_reg", _negative_reg, "transport.reg", "transport.reg"),
    ("unknown_reg_type", _unknown_reg_type, "transport.reg_type", "transport.reg_type"),
    ("duplicate_names", _duplicate, "transport.groups[2].name", "transport.groups[2].name"),
    ("max_keep", _max_keep, "transport.groups[2].max_keep", '("fc1.weight").max_keep'),
    ("no_groups", _no_groups, "transport.groups", "transport.groups"),
]


@pytest.mark.parametrize(
    ("edit", "field", "label"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX]
)
def test_invalid_input_names_the_field(
    channel: grpc.Channel, edit: Edit, field: str, label: str
) -> None:
    request = convert.build_request(CASES["entropy_flops"], SolveArgs(), raw=False)
    edit(request)
    with pytest.raises(grpc.RpcError) as info:
        pb_grpc.PruningServiceStub(channel).Solve(request, timeout=30)
    error = info.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    head = error.details().split(": must be ", 1)[0]
    assert label in head and head.startswith("transport.")
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == field


def test_client_raises_invalid_problem_error(client: Client) -> None:
    bad = TransportProblem({"a": [1.0, 2.0], "b": [0.0, math.inf]}, 1.0)
    with pytest.raises(InvalidProblemError) as info:
        client.solve(bad)
    assert info.value.field == "transport.groups[1].scores"
    assert str(info.value).startswith('transport.groups[1] ("b").scores: must be finite')


def test_limits_count_groups_and_numbers(make_server: ServerFactory) -> None:
    _, port = make_server(max_layers=2, max_elements=50)
    with Client(f"127.0.0.1:{port}") as client:
        with pytest.raises(InvalidProblemError, match=r"^transport.groups: must be at most 2"):
            client.solve(CASES["entropy_flops"])
        big = TransportProblem({"a": np.arange(60.0)}, 10.0)
        with pytest.raises(InvalidProblemError, match=r"^transport: must be at most 50 numbers"):
            client.solve(big)


def test_example_is_canonical_json_and_cli_prints_the_table(
    capsys: pytest.CaptureFixture[str],
) -> None:
    request = json_format.Parse(EXAMPLE.read_text(), pb.SolveRequest())
    again = json_format.MessageToJson(request, preserving_proto_field_name=True, indent=2)
    assert again + "\n" == EXAMPLE.read_text()
    assert cli.main(["solve", str(EXAMPLE)]) == 0
    captured = capsys.readouterr()
    response = json.loads(captured.out)
    assert response["certificate"]["status"] == "STATUS_OPTIMAL"
    assert [g["name"] for g in response["transport"]["groups"]] == list(NAMES)
    rows = [line for line in captured.err.splitlines() if "weight" in line]
    assert len(rows) == 3 and "hard kept" in captured.err


def test_codec_is_registered() -> None:
    assert CODECS["transport"].problem_type is TransportProblem
    assert convert.codec_for(CASES["l2_counts"]).name == "transport"
