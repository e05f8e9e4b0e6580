"""Limits the server enforces itself: time limits (a solve that ignores its own is killed),
method option keys, and arithmetic ranges (sums that overflow, sizes past 2^53)."""

from __future__ import annotations

import time

import grpc
import numpy as np
import pytest

from pruneplan.clients import Client, JobError
from pruneplan.service import convert
from pruneplan.service.convert._options import RESERVED
from pruneplan.service.pool import kill_after
from pruneplan.solver import (
    AllocationProblem,
    AllocationResult,
    InvalidProblemError,
    LayerProfile,
    Status,
    allocate,
)
from pruneplan.solver._checks import MAX_SIZE, MAX_TOTAL
from pruneplan.v1 import common_pb2 as cpb

from .conftest import ServerFactory, tiny_problem


def presolve_bound(levels: int = 100_000, seed: int = 0) -> AllocationProblem:
    """One layer with many levels: HiGHS's presolve runs for minutes and ignores its limit."""
    rng = np.random.default_rng(seed)
    costs = {"f": np.sort(rng.uniform(0, 1, levels))[::-1]}
    layer = LayerProfile(
        "a",
        np.linspace(0, 1, levels, endpoint=False),
        np.sort(rng.uniform(0, 1, levels)),
        1000,
        costs=costs,
    )
    return AllocationProblem([layer], {"params": 500.0, "f": 0.5})


def _solver_is_free(port: int) -> None:
    with Client(f"127.0.0.1:{port}", timeout=60.0) as client:
        assert client.solve(tiny_problem(budget=280.0)).status is Status.OPTIMAL


# -- item 4: time limits ---------------------------------------------------------------------


def test_kill_after_is_a_small_factor_of_the_limit() -> None:
    assert kill_after(None) is None
    assert kill_after(float("nan")) is None  # refused by the solver's validation anyway
    assert kill_after(0.0) is None
    for limit in (0.1, 1.0, 60.0):
        grace = kill_after(limit)
        assert grace is not None and limit < grace <= 1.5 * limit + 1.0


def test_a_solve_that_ignores_its_time_limit_is_killed(make_server: ServerFactory) -> None:
    """HiGHS's presolve on 100,000 levels ignores its limit: either HiGHS stops by itself within
    the grace (TIME_LIMIT) or the server kills and replaces the process (DEADLINE_EXCEEDED);
    either way the call ends within the grace, not minutes later."""
    _, port = make_server(workers=1)
    start = time.monotonic()
    with Client(f"127.0.0.1:{port}", timeout=60.0) as client:
        try:
            result = client.solve(presolve_bound(), method="milp", time_limit=1.0)
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
            assert "ran past its time limit (time_limit = 1)" in error.details()
            assert "stopped by the server after 2.5 s" in error.details()
        else:
            assert result.status is Status.TIME_LIMIT
    assert time.monotonic() - start < 2.5 + 10.0  # the grace, plus start-up on a loaded machine
    _solver_is_free(port)  # the one solver process is free (or was replaced)


def test_a_batch_item_past_its_limit_is_recorded_once(make_server: ServerFactory, tmp_path) -> None:
    db = tmp_path / "batch.db"
    _, port = make_server(workers=1, db=db)
    with Client(f"127.0.0.1:{port}", timeout=60.0) as client:
        job_id = client.submit_batch(
            [presolve_bound(), tiny_problem(budget=280.0)], method="milp", time_limit=1.0
        )
        results = client.results(job_id, wait=True, timeout=60)
        assert client.job(job_id).state == "done"
    first = results[0]
    if isinstance(first, JobError):  # killed by the server (HiGHS presolve ignored its limit)
        assert first.code == "DEADLINE_EXCEEDED"
        assert "ran past its time limit" in first.message
    else:  # HiGHS sometimes gives up within the grace: its own TIME_LIMIT, no plan
        assert first.status is Status.TIME_LIMIT
    assert isinstance(results[1], AllocationResult) and results[1].status is Status.OPTIMAL
    # A restart on the same store finds nothing to re-run.
    _, again = make_server(workers=1, db=db)
    with Client(f"127.0.0.1:{again}", timeout=60.0) as client:
        status = client.job(job_id)
    assert (status.state, status.done) == ("done", 2)
    assert status.failed == int(isinstance(first, JobError))


# -- item 6: method option keys --------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(RESERVED))
def test_option_keys_that_collide_with_solver_parameters(client: Client, key: str) -> None:
    args = convert.SolveArgs(method="dp", options={key: 1.0})
    with pytest.raises(InvalidProblemError) as info:
        client.solve_request(convert.build_request(tiny_problem(), args))
    error = info.value
    assert error.field == f"options.{key}"
    assert "parameter of the solver itself" in error.hint
    if RESERVED[key]:
        assert f"set the request's {RESERVED[key]}" in error.hint


def test_undeclared_option_lists_the_valid_ones(client: Client) -> None:
    with pytest.raises(InvalidProblemError) as info:
        client.solve(tiny_problem(), method="milp", buckets=10)
    assert info.value.field == "options.buckets"
    assert "'milp' (mip_rel_gap)" in info.value.allowed
    with pytest.raises(InvalidProblemError) as info:
        client.solve(tiny_problem(), method="uniform", n_samples=3)
    assert "(none)" in info.value.allowed


def test_a_long_option_key_is_echoed_cut(client: Client) -> None:
    key = "k" * 3000
    with pytest.raises(InvalidProblemError) as info:
        client.solve(tiny_problem(), method="dp", **{key: 1.0})
    assert len(str(info.value)) < 700
    assert "characters)" in str(info.value)


def test_declared_options_still_solve(client: Client) -> None:
    result = client.solve(tiny_problem(), method="dp", buckets=256)
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE)


# -- item 9: arithmetic ranges ---------------------------------------------------------------


def _layers(loss: float, n: int = 20, size: int = 100) -> list[LayerProfile]:
    levels = [0.0, 0.5, 0.9]
    return [LayerProfile(f"l{i}", levels, [0.0, loss, loss], size) for i in range(n)]


def test_losses_whose_sum_overflows(client: Client) -> None:
    """Finite entries whose sum is ``inf`` made ``exact`` report INFEASIBLE (self-contradicting)."""
    with pytest.raises(InvalidProblemError) as info:
        client.solve(AllocationProblem(_layers(1e308), {"params": 1500.0}))
    assert info.value.field == "allocation.layers[0].loss"
    with pytest.raises(InvalidProblemError) as info:
        client.solve(AllocationProblem(_layers(3e299), {"params": 1500.0}))
    assert info.value.field == "allocation.layers[3].loss"  # 4 x 3e299 > MAX_TOTAL >= 3 x 3e299
    assert f"at most {MAX_TOTAL:g}" in info.value.allowed
    assert "1.2e+300" in info.value.got
    assert "Rescale the losses" in info.value.hint


def test_costs_whose_sum_overflows(client: Client) -> None:
    levels = [0.0, 0.5, 0.9]
    layers = [
        LayerProfile(f"l{i}", levels, [0.0, 1.0, 2.0], 100, costs={"f": [1e308, 1e308, 0.0]})
        for i in range(3)
    ]
    with pytest.raises(InvalidProblemError) as info:
        client.solve(AllocationProblem(layers, {"f": 1.5e308}))
    assert info.value.field == "allocation.layers[0].costs.f"
    assert "costs of 'f'" in info.value.hint


def test_large_sums_below_the_bound_still_solve(client: Client) -> None:
    scaled = client.solve(AllocationProblem(_layers(1e290), {"params": 1500.0}))
    plain = client.solve(AllocationProblem(_layers(1.0), {"params": 1500.0}))
    assert scaled.status is Status.OPTIMAL
    assert scaled.level_index == plain.level_index
    np.testing.assert_allclose(scaled.objective, plain.objective * 1e290, rtol=1e-12)


@pytest.mark.parametrize("size", [2**64 - 1, 2**63, MAX_SIZE + 1])
def test_size_past_2_53(client: Client, size: int) -> None:
    layers = [LayerProfile("a", [0.0, 0.5], [0.0, 1.0], size), *_layers(1.0, n=1)]
    with pytest.raises(InvalidProblemError) as info:
        client.solve(AllocationProblem(layers, {"params": float(size)}))
    assert info.value.field == "allocation.layers[0].size"
    assert info.value.allowed.startswith(f"an integer in [1, {MAX_SIZE}]")
    assert info.value.got == str(size)


def test_size_at_2_53_keeps_exact_counts(client: Client) -> None:
    layers = [LayerProfile("a", [0.0, 0.5], [0.0, 1.0], MAX_SIZE), *_layers(1.0, n=1)]
    request = convert.build_request(
        AllocationProblem(layers, {"params": 2.0**54}), convert.SolveArgs()
    )
    response = client.solve_request(request)
    assert response.certificate.status == cpb.STATUS_OPTIMAL
    assert [layer.kept for layer in response.allocation.layers] == [MAX_SIZE, 100]


def test_each_resource_sums_on_its_own() -> None:
    """Costs of several resources, some layers without one: the layer index is the request's."""
    levels = [0.0, 0.5]
    layers = [
        LayerProfile("a", levels, [0.0, 1.0], 10, costs={"f": [1e299, 0.0], "g": [4e299, 0.0]}),
        LayerProfile("b", levels, [0.0, 1.0], 10, costs={"f": [1e299, 0.0]}),
        LayerProfile("c", levels, [0.0, 1.0], 10, costs={"f": [1e299, 0.0], "g": [7e299, 0.0]}),
    ]
    with pytest.raises(InvalidProblemError) as info:
        allocate(AllocationProblem(layers, {"f": 1.0}))
    assert info.value.field == "layers[2].costs.g"
    assert info.value.got == "a running sum of 1.1e+300 here"
    allocate(AllocationProblem(layers[:2], {"f": 1.0}))  # 3e299 and 4e299: within the bound
