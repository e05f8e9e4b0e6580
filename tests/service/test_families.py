"""The selection and clustering families over the wire: codecs, a real server and the CLI.

Each family is checked the same way: problem -> request -> problem and result -> response ->
result give back what went in; the canonical form ignores how arrays were encoded; a real
server gives what the in-process solver gives; a bad field comes back as INVALID_ARGUMENT
naming it under the family's field; ``pruneplan solve`` prints the family's table; every
mutation of every field of a valid request is answered with a named code.
"""

from __future__ import annotations

import collections
import dataclasses
import inspect
import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from pruneplan.clients import Client, cli
from pruneplan.service import convert
from pruneplan.solver import (
    ClusterGroup,
    ClusteringProblem,
    GroupSelection,
    InvalidProblemError,
    ItemGroup,
    SelectionProblem,
    Status,
    solve,
)
from pruneplan.v1 import clustering_pb2 as kpb
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import selection_pb2 as spb

from .conftest import ServerFactory
from .fuzz import mutations

ROOT = Path(__file__).resolve().parents[2]
SOLVE = "/pruneplan.v1.PruningService/Solve"
NOT_EXPECTED = {"INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"}

# ----------------------------------------------------------------------------------------------
# Problems


def selection_problem(seed: int = 0) -> SelectionProblem:
    """Three groups: per-item costs in two resources, a count table, every side constraint."""
    rng = np.random.default_rng(seed)
    return SelectionProblem(
        [
            ItemGroup("a", rng.normal(size=6), costs={"flops": rng.uniform(1, 3, 6)}, round_to=2),
            ItemGroup(
                "b",
                rng.normal(size=5),
                costs={"flops": rng.uniform(1, 3, 5), "params": rng.uniform(1, 2, 5)},
                min_keep=0,
                max_keep=4,
            ),
            ItemGroup("c", rng.uniform(size=4), cost_by_count={"latency": [0, 1, 1, 2, 2.5]}),
        ],
        {"flops": 9.0, "params": 5.0, "latency": 1.5},
        fingerprint="model-1",
    )


TARGETS: dict[str, dict[str, Any]] = {
    "offset": {"offset": 0.3},
    "offset-by-group": {"offset": {"conv1": 0.2, "conv2": 0.5}},
    "n-clusters": {"n_clusters": 2},
    "n-clusters-by-group": {"n_clusters": {"conv1": 3, "conv2": 2}},
    "keep-budget": {"keep_budget": 5},
}


def clustering_problem(target: str = "keep-budget", seed: int = 0) -> ClusteringProblem:
    """Two groups of noisy copies of a few directions, one with importance."""
    rng = np.random.default_rng(seed)
    f1 = rng.normal(size=(3, 4))[[0, 0, 1, 1, 2, 2]] + 0.1 * rng.normal(size=(6, 4))
    f2 = rng.normal(size=(2, 3))[[0, 1, 0, 1, 0]] + 0.1 * rng.normal(size=(5, 3))
    groups = [ClusterGroup("conv1", f1, importance=rng.uniform(size=6)), ClusterGroup("conv2", f2)]
    return ClusteringProblem(groups, **TARGETS[target])


PROBLEMS: dict[str, Callable[[], object]] = {
    "selection": selection_problem,
    **{f"clustering-{t}": (lambda t=t: clustering_problem(t)) for t in TARGETS},  # type: ignore[misc]
}


def same(a: object, b: object, where: str = "") -> None:
    """Assert ``a`` and ``b`` hold the same content: dataclass fields, mappings, arrays."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in dataclasses.fields(a):
            if f.name != "solve_time_s":
                same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, Mapping):
        assert isinstance(b, Mapping) and sorted(a) == sorted(b), (where, a, b)  # maps: no order
        for key in a:
            same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)) and a and dataclasses.is_dataclass(a[0]):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, (np.ndarray, list, tuple)):
        expected = np.asarray(a)
        got = np.asarray(b)
        assert got.shape == expected.shape, where
        np.testing.assert_array_equal(got, expected, err_msg=where)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, (where, a, b)


def _request(problem: object, *, raw: bool | None = None, request_id: str = "") -> pb.SolveRequest:
    return convert.build_request(problem, convert.SolveArgs(), request_id=request_id, raw=raw)


# ----------------------------------------------------------------------------------------------
# Codecs


def test_every_family_entry_point_takes_the_dispatch_keywords() -> None:
    """The one solve path passes method, time_limit, seed and progress to every family."""
    for problem_type in (c.problem_type for c in convert.CODECS.values()):
        entry = solve.dispatch(problem_type)
        assert entry is not solve.registry[object], problem_type
        parameters = inspect.signature(entry).parameters
        assert {"method", "time_limit", "seed", "progress"} <= set(parameters), entry


@pytest.mark.parametrize(
    ("solver_type", "message_type", "extra"),
    [
        (ItemGroup, spb.ItemGroup, set()),
        (SelectionProblem, spb.SelectionProblem, set()),
        (GroupSelection, spb.GroupSelection, {"name"}),
        (ClusterGroup, kpb.ClusterGroup, set()),
        (ClusteringProblem, kpb.ClusteringProblem, {"offset_by_group", "n_clusters_by_group"}),
    ],
    ids=lambda t: getattr(t, "__name__", ""),
)
def test_one_vocabulary(solver_type: type, message_type: Any, extra: set[str]) -> None:
    """The messages use the solver's field names (plus the mapping forms of union fields)."""
    solver = {f.name for f in dataclasses.fields(solver_type)}
    assert {f.name for f in message_type.DESCRIPTOR.fields} == solver | extra


@pytest.mark.parametrize("raw", [False, True], ids=["values", "f64le"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_problem_round_trip(name: str, raw: bool) -> None:
    problem = PROBLEMS[name]()
    request = _request(problem, raw=raw)
    assert request.WhichOneof("problem") == name.split("-")[0]
    _, decoded, _ = convert.parse_request(pb.SolveRequest.FromString(request.SerializeToString()))
    same(problem, decoded)


@pytest.mark.parametrize("name", ["selection", "clustering-keep-budget", "clustering-offset"])
def test_result_round_trip(name: str) -> None:
    problem = PROBLEMS[name]()
    result = solve(problem)
    response = convert.result_to_response(result, problem)
    back = convert.response_to_result(pb.SolveResponse.FromString(response.SerializeToString()))
    same(result, back)
    assert back.solve_time_s == result.solve_time_s


def test_infeasible_selection_round_trip() -> None:
    problem = dataclasses.replace(selection_problem(), budget={"flops": 1e-3})
    result = solve(problem)
    assert result.status is Status.INFEASIBLE
    back = convert.response_to_result(convert.result_to_response(result, problem))
    same(result, back)
    assert back.groups == {}


def test_selection_solution_is_bit_packed_with_indices() -> None:
    problem = selection_problem()
    result = solve(problem)
    solution = convert.result_to_response(result, problem).selection
    for g in solution.groups:
        mask = convert.proto_to_mask(g.mask)
        np.testing.assert_array_equal(np.flatnonzero(mask), list(g.kept))
        assert g.count == len(g.kept) == result.count[g.name]
        assert len(g.mask.bits) == (mask.size + 7) // 8


def _elements(problem: object) -> int:
    if isinstance(problem, SelectionProblem):
        tables = [t for g in problem.groups for t in (g.costs or {}, g.cost_by_count or {})]
        return sum(np.size(g.values) for g in problem.groups) + sum(
            np.size(v) for t in tables for v in t.values()
        )
    assert isinstance(problem, ClusteringProblem)
    importance = [g.importance for g in problem.groups if g.importance is not None]
    return sum(np.size(g.features) for g in problem.groups) + sum(map(np.size, importance))


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_canonical_form_ignores_encoding_and_request_id(name: str) -> None:
    problem = PROBLEMS[name]()
    packed = convert.canonical_request(_request(problem, raw=False, request_id="one"))
    raw = convert.canonical_request(_request(problem, raw=True, request_id="two"))
    assert packed == raw
    assert packed.elements == _elements(problem)
    assert packed.parts == len(problem.groups)  # type: ignore[attr-defined]
    assert packed.parts_path == f"{name.split('-')[0]}.groups"


def test_selection_defaults_are_written_out() -> None:
    """Unset bounds and the same bounds given explicitly are one plan."""
    request = _request(selection_problem())
    explicit = pb.SolveRequest()
    explicit.CopyFrom(request)
    for group in request.selection.groups:
        for field in ("min_keep", "round_to"):
            if getattr(group, field) == 1:
                group.ClearField(field)
    for group in explicit.selection.groups:
        if not group.HasField("max_keep"):
            group.max_keep = len(group.values.values)
    unset = convert.canonical_request(request).payload
    assert unset == convert.canonical_request(explicit).payload
    assert unset != convert.canonical_request(_request(selection_problem(seed=1))).payload


def _rows(rows: int, group: int = 0) -> Callable[[pb.SolveRequest], None]:
    def edit(request: pb.SolveRequest) -> None:
        request.clustering.groups[group].features.rows = rows

    return edit


def _empty_huge(request: pb.SolveRequest) -> None:
    features = request.clustering.groups[0].features
    features.rows, features.cols = 2**63, 0
    features.values.ClearField("values")


def _both_targets(request: pb.SolveRequest) -> None:
    request.clustering.offset_by_group["conv1"] = 1.0


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (_rows(4, group=1), "groups[1].features.values"),
        (_rows(2**63), "groups[0].features.values"),
        (_empty_huge, "groups[0].features.rows"),
        (_both_targets, "offset_by_group"),
    ],
    ids=["ragged", "huge-rows", "empty-huge-rows", "two-targets"],
)
def test_clustering_decode_errors_name_the_request_field(
    edit: Callable[[pb.SolveRequest], None], field: str
) -> None:
    request = _request(clustering_problem("offset"))
    edit(request)
    with pytest.raises(InvalidProblemError) as info:
        convert.parse_request(request)
    assert info.value.field == f"clustering.{field}"


def test_client_side_encoding_refuses_what_the_wire_cannot_hold() -> None:
    ragged = ClusteringProblem([ClusterGroup("x", [[1.0, 2.0], [3.0]])], offset=0.0)
    with pytest.raises(InvalidProblemError, match=r"groups\[0\]\.features"):
        _request(ragged)
    negative = SelectionProblem([ItemGroup("x", [1.0], min_keep=-1)], {"flops": 1.0})
    with pytest.raises(InvalidProblemError, match=r"groups\[0\]\.min_keep"):
        _request(negative)


def test_tables_have_one_row_per_group() -> None:
    for problem in (selection_problem(), clustering_problem()):
        response = convert.result_to_response(solve(problem), problem)
        kind = response.WhichOneof("solution")
        assert kind is not None
        table = convert.CODECS[kind].table(getattr(response, kind))
        assert table.row_count == len(problem.groups)
        assert list(table.columns[0].cells) == [g.name for g in problem.groups]


# ----------------------------------------------------------------------------------------------
# A real server


@pytest.mark.parametrize("name", ["selection", "clustering-keep-budget", "clustering-n-clusters"])
def test_server_solve_equals_in_process(client: Client, name: str) -> None:
    problem = PROBLEMS[name]()
    remote = client.solve(problem)
    local = solve(problem)
    assert type(remote) is type(local)
    for f in dataclasses.fields(local):
        if f.name not in ("solve_time_s", "plan_id"):
            same(getattr(local, f.name), getattr(remote, f.name), f.name)


@pytest.mark.parametrize("name", ["selection", "clustering-offset"])
def test_server_stream_ends_with_the_result(client: Client, name: str) -> None:
    events = list(client.solve_stream(PROBLEMS[name]()))
    assert type(events[-1]) is type(solve(PROBLEMS[name]()))


def test_one_batch_of_every_family(client: Client) -> None:
    problems = [selection_problem(), clustering_problem(), PROBLEMS["clustering-offset"]()]
    job_id = client.submit_batch(problems)
    results = client.results(job_id, wait=True, timeout=60)
    assert [type(r) for r in results] == [type(solve(p)) for p in problems]
    for problem, result in zip(problems, results, strict=True):
        same(solve(problem).objective, result.objective)


def _invalid_field(channel: grpc.Channel, request: pb.SolveRequest) -> str:
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(SOLVE)(request.SerializeToString(), timeout=30)
    assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(info.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert info.value.details().startswith(bad.field_violations[0].field)
    return str(bad.field_violations[0].field)


def test_invalid_selection_field_is_named(channel: grpc.Channel) -> None:
    request = _request(selection_problem(), raw=False)
    request.selection.groups[1].values.values[2] = math.nan
    assert _invalid_field(channel, request) == "selection.groups[1].values"
    request = _request(selection_problem(), raw=False)
    request.selection.groups[2].cost_by_count["latency"].values.append(3.0)
    assert _invalid_field(channel, request) == "selection.groups[2].cost_by_count.latency"


def test_invalid_clustering_field_is_named(channel: grpc.Channel) -> None:
    request = _request(clustering_problem(), raw=False)
    request.clustering.groups[1].features.values.values[0] = math.inf
    assert _invalid_field(channel, request) == "clustering.groups[1].features"
    request = _request(clustering_problem(), raw=False)
    request.clustering.keep_budget = 999
    assert _invalid_field(channel, request) == "clustering.keep_budget"
    request = _request(clustering_problem(), raw=False)
    request.clustering.groups[0].features.cols = 5
    assert _invalid_field(channel, request) == "clustering.groups[0].features.values"


def test_client_raises_with_the_request_path(client: Client) -> None:
    problem = selection_problem()
    bad = dataclasses.replace(
        problem, groups=[*problem.groups[:2], dataclasses.replace(problem.groups[2], round_to=0)]
    )
    with pytest.raises(InvalidProblemError) as info:
        client.solve(bad)
    assert info.value.field == "selection.groups[2].round_to"


def test_server_limits_count_features_and_groups(make_server: ServerFactory) -> None:
    problem = clustering_problem()
    numbers = _elements(problem)  # 6 * 4 + 6 + 5 * 3 = 45
    _, port = make_server(max_elements=numbers - 1, max_layers=1)
    with Client(f"127.0.0.1:{port}", timeout=30) as client:
        with pytest.raises(InvalidProblemError, match="--max-layers") as info:
            client.solve(problem)
        assert info.value.field == "clustering.groups"
        one = dataclasses.replace(problem, groups=problem.groups[:1], keep_budget=3)
        assert client.solve(one).usage == {"clusters": 3.0}
    _, port = make_server(max_elements=numbers - 1)
    with (
        Client(f"127.0.0.1:{port}", timeout=30) as client,
        pytest.raises(InvalidProblemError, match=f"{numbers} numbers"),
    ):
        client.solve(problem)


# ----------------------------------------------------------------------------------------------
# The CLI


@pytest.mark.parametrize(
    ("family", "columns"),
    [("selection", ("items", "kept %")), ("clustering", ("clusters", "merged"))],
)
def test_cli_prints_the_family_table(
    capsys: pytest.CaptureFixture[str], family: str, columns: tuple[str, ...]
) -> None:
    example = ROOT / "examples" / f"{family}.json"
    assert cli.main(["solve", str(example)]) == 0
    captured = capsys.readouterr()
    response = json.loads(captured.out)
    assert response["certificate"]["status"] in ("STATUS_OPTIMAL", "STATUS_FEASIBLE")
    names = [g["name"] for g in json.loads(example.read_text())[family]["groups"]]
    assert [g["name"] for g in response[family]["groups"]] == names
    for text in (*columns, *names):
        assert text in captured.err


# ----------------------------------------------------------------------------------------------
# Fuzz: every field of each family's request


@pytest.mark.parametrize("name", ["selection", "clustering-offset"])
def test_mutated_family_requests_never_internal(make_server: ServerFactory, name: str) -> None:
    _, port = make_server(max_layers=100, max_elements=10_000)
    base = convert.build_request(PROBLEMS[name](), convert.SolveArgs(time_limit=5.0), raw=False)
    tally: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    bad: list[str] = []
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(SOLVE)
        for mutation in mutations(base, counts=(3, 300)):
            try:
                call(mutation.apply(base).SerializeToString(), timeout=30)
                code = "OK"
            except grpc.RpcError as error:
                code = error.code().name
            tally[mutation.path][code] += 1
            if code in NOT_EXPECTED:
                bad.append(f"{mutation.path} {mutation.label}: {code}")
    assert bad == []
    family = name.split("-")[0]
    assert sum(c["INVALID_ARGUMENT"] for c in tally.values()) > 30
    assert sum(c["OK"] for c in tally.values()) > 10
    assert {f"{family}.groups", f"{family}.groups.0.name"} <= set(tally)
