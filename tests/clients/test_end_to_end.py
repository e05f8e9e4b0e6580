"""Profile -> plan from a real server on a loopback port -> masks; and the demo's pipeline."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from pruneplan.clients import Client  # noqa: E402
from pruneplan.clients.demo import ROWS, _transport, main  # noqa: E402
from pruneplan.clients.torch import (  # noqa: E402
    PlanMismatchError,
    apply,
    problem_for,
    profile,
    relative_budget,
)
from pruneplan.service.server import ServerConfig, create_server  # noqa: E402
from pruneplan.solver import allocate  # noqa: E402

from ._models import TinyCNN, mlp  # noqa: E402


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    server, port = create_server(ServerConfig(port=0, db=str(tmp_path / "plans.sqlite")))
    try:
        with Client(f"127.0.0.1:{port}") as c:
            yield c
    finally:
        server.stop(0).wait()


def test_plan_through_the_server(client: Client, cnn: TinyCNN, images: list[torch.Tensor]) -> None:
    profiles = profile(cnn, images, levels=[i / 16 for i in range(17)], progress=False)
    problem = problem_for(cnn, profiles, relative_budget(profiles, {"flops": 0.4}))
    plan = client.solve(problem, method="exact")
    assert plan.plan_id
    assert client.solve(problem, method="exact").plan_id == plan.plan_id
    local = allocate(problem, method="exact")
    assert dict(plan.sparsity) == dict(local.sparsity)
    np.testing.assert_allclose(plan.objective, local.objective, rtol=1e-9)
    report = apply(cnn, plan, example=images[0])
    for row in report.layers:
        assert row.kept == round(row.size * (1 - plan.sparsity[row.name]))
    assert report.plan_id == plan.plan_id
    assert report.flops is not None and report.dense_flops is not None
    assert report.flops <= 0.4 * report.dense_flops * (1 + 1e-9)
    np.testing.assert_allclose(report.flops, plan.usage["flops"], rtol=1e-9)
    with pytest.raises(PlanMismatchError, match="made for model"):
        apply(mlp(), plan)


@pytest.mark.slow
def test_demo_quick(tmp_path: Path) -> None:
    assert main(["--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    result = json.loads((tmp_path / "demo.json").read_text())
    rows = result["rows"]
    assert [r["method"] for r in rows] == [*ROWS, _transport.METHOD]
    for row in rows:
        assert row["flops"] <= 0.3 * row["dense_flops"] * (1 + 1e-9), row["method"]
        assert row["plan_id"]
        assert 0.0 <= row["acc_before"] <= 1.0 and 0.0 <= row["acc_after"] <= 1.0
    structured_json = tmp_path / "structured.json"
    if importlib.util.find_spec("torch_pruning") is not None:
        structured = json.loads(structured_json.read_text())["rows"]
        assert {r["method"] for r in structured} == {
            "exact",
            "global_threshold",
            "greedy",
            "uniform",
        }
        for row in structured:
            assert row["achieved"] <= row["target"] * (1 + 1e-9), row["method"]
            assert row["flops"] < row["dense_flops"]
