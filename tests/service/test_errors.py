"""Bad input over the wire -> INVALID_ARGUMENT naming the field; limits; oversize messages."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from pruneplan.clients import Client
from pruneplan.service import convert
from pruneplan.solver import AllocationProblem, InvalidProblemError, LayerProfile
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc

from .conftest import ServerFactory, tiny_problem

Edit = Callable[[pb.SolveRequest], None]


def _layer(request: pb.SolveRequest, i: int = 0) -> object:
    return request.allocation.layers[i]


def _set(path: str, value: object) -> Edit:
    def edit(request: pb.SolveRequest) -> None:
        *parents, name = path.split(".")
        target: object = request
        for part in parents:
            target = target[int(part)] if part.isdigit() else getattr(target, part)  # type: ignore[index]
        if isinstance(value, list):
            field = getattr(target, name)
            del field[:]
            field.extend(value)
        else:
            setattr(target, name, value)

    return edit


def _group(request: pb.SolveRequest) -> None:
    layers = request.allocation.layers
    layers[0].group = layers[1].group = "g"
    del layers[1].levels.values[-1]
    del layers[1].loss.values[-1]
    del layers[1].costs["flops"].values[-1]


def _empty(request: pb.SolveRequest) -> None:
    del request.allocation.layers[:]


def _unknown_resource(request: pb.SolveRequest) -> None:
    request.allocation.budget["memory"] = 5.0


def _duplicate(request: pb.SolveRequest) -> None:
    request.allocation.layers[1].name = request.allocation.layers[0].name


def _no_problem(request: pb.SolveRequest) -> None:
    request.ClearField("allocation")


def _zero_budget(request: pb.SolveRequest) -> None:
    request.allocation.budget["params"] = 0.0


def _bad_buckets(request: pb.SolveRequest) -> None:
    request.method = "dp"
    request.options["buckets"] = -5


def _bad_f64le(request: pb.SolveRequest) -> None:
    loss = request.allocation.layers[0].loss
    del loss.values[:]
    loss.f64le = b"\x00" * 12


# (id, edit, field path the error must name)
MATRIX: list[tuple[str, Edit, str]] = [
    (
        "nan_loss",
        _set("allocation.layers.0.loss.values", [0, math.nan, 1, 2, 3]),
        "allocation.layers[0].loss",
    ),
    (
        "inf_loss",
        _set("allocation.layers.2.loss.values", [0, 1, math.inf, 2, 3]),
        "allocation.layers[2].loss",
    ),
    (
        "negative_loss",
        _set("allocation.layers.1.loss.values", [0, -1, 1, 2, 3]),
        "allocation.layers[1].loss",
    ),
    (
        "levels_not_ascending",
        _set("allocation.layers.0.levels.values", [0, 0.5, 0.25, 0.75, 0.9]),
        "allocation.layers[0].levels",
    ),
    (
        "levels_outside",
        _set("allocation.layers.3.levels.values", [0, 0.25, 0.5, 0.75, 1.5]),
        "allocation.layers[3].levels",
    ),
    (
        "length_mismatch",
        _set("allocation.layers.0.loss.values", [0, 1, 2]),
        "allocation.layers[0].loss",
    ),
    ("duplicate_names", _duplicate, "allocation.layers[1].name"),
    ("empty_problem", _empty, "allocation.layers"),
    ("unknown_resource", _unknown_resource, "allocation.budget"),
    ("budget_not_positive", _zero_budget, "allocation.budget.params"),
    (
        "min_above_max",
        _set("allocation.layers.0.min_sparsity", 0.8),
        "allocation.layers[0].min_sparsity",
    ),
    ("group_levels_differ", _group, "allocation.layers[1].levels"),
    ("f64le_not_float64", _bad_f64le, "allocation.layers[0].loss.f64le"),
    ("unknown_method", _set("method", "simplex"), "method"),
    ("bad_method_option", _bad_buckets, "options.buckets"),
    ("no_problem", _no_problem, "problem"),
]


def _request(edit: Edit) -> pb.SolveRequest:
    request = convert.build_request(tiny_problem(), convert.SolveArgs(), raw=False)
    request.allocation.layers[0].max_sparsity = 0.5
    edit(request)
    return request


@pytest.mark.parametrize(
    ("edit", "field"), [(e, f) for _, e, f in MATRIX], ids=[m[0] for m in MATRIX]
)
def test_invalid_input_names_the_field(channel: grpc.Channel, edit: Edit, field: str) -> None:
    stub = pb_grpc.PruningServiceStub(channel)
    with pytest.raises(grpc.RpcError) as info:
        stub.Solve(_request(edit), timeout=30)
    error = info.value
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    label = re.sub(r"^(allocation\.layers\[(\d+)\])", r'\1 ("layer\2.weight")', field)
    if field.endswith((".name", ".f64le")):  # the name itself, or the wire: no layer label
        label = field
    assert error.details().startswith(f"{label}: must be ")
    status = rpc_status.from_call(error)
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == field


def test_client_raises_invalid_problem_error(client: Client) -> None:
    problem = tiny_problem()
    layers = list(problem.layers)
    layers[2] = dataclasses.replace(layers[2], loss=[0.0, 1.0, -2.0, 3.0, 4.0])
    with pytest.raises(InvalidProblemError) as info:
        client.solve(dataclasses.replace(problem, layers=layers))
    assert info.value.field == "allocation.layers[2].loss"
    want = 'allocation.layers[2] ("layer2.weight").loss: must be finite and >= 0; got -2.0 at'
    assert str(info.value) == want + " index 2."
    assert info.value.field == "allocation.layers[2].loss"
    assert info.value.label == 'allocation.layers[2] ("layer2.weight").loss'


def _big_problem(n_levels: int) -> AllocationProblem:
    levels = np.linspace(0.0, 0.99, n_levels)
    layer = LayerProfile("big", levels, levels**2, 10**6)
    return AllocationProblem([layer], {"params": 5e5})


def test_oversize_message_is_rejected(make_server: ServerFactory) -> None:
    _, port = make_server(max_message_bytes=1 << 20)
    with Client(f"127.0.0.1:{port}") as client, pytest.raises(grpc.RpcError) as info:
        client.solve(_big_problem(100_000))  # ~1.6 MB of arrays
    assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in info.value.details()


def test_limits_each_have_a_clear_error(make_server: ServerFactory) -> None:
    _, port = make_server(max_layers=3, max_elements=50, max_batch=2)
    with Client(f"127.0.0.1:{port}") as client:
        with pytest.raises(
            InvalidProblemError, match=r"^allocation.layers: must be at most 3 layers or groups"
        ):
            client.solve(tiny_problem(n=4))
        with pytest.raises(InvalidProblemError, match=r"^allocation: must be at most 50 numbers"):
            client.solve(_big_problem(40))
        with pytest.raises(InvalidProblemError, match=r"^requests: must be between 1 and 2"):
            client.submit_batch([tiny_problem(n=2)] * 3)
