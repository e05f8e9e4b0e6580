"""Deadlines and cancellation stop solves; a batch survives SIGKILL; SIGTERM drains; the CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from pruneplan.clients import Client, cli
from pruneplan.service import convert
from pruneplan.service.store import PlanStore
from pruneplan.solver import AllocationResult, Status
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc

from .conftest import ServerFactory, hard_problem, tiny_problem

ROOT = Path(__file__).resolve().parents[2]


def _solver_is_free(port: int) -> None:
    """With one solver process, a tiny solve only completes if the long one was stopped."""
    with Client(f"127.0.0.1:{port}", timeout=60.0) as client:
        assert client.solve(tiny_problem(budget=280.0)).status is Status.OPTIMAL


@pytest.mark.parametrize("inline", [0, 10_000], ids=["pool", "inline-small"])
def test_deadline_stops_a_long_solve(make_server: ServerFactory, inline: int) -> None:
    """Big problems go to the pool (and are stopped there) even where small ones run inline."""
    _, port = make_server(workers=1, inline_max_elements=inline)
    with Client(f"127.0.0.1:{port}", timeout=2.0) as client:
        try:
            result = client.solve(hard_problem(seed=1), method="milp")
        except grpc.RpcError as error:
            assert error.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        else:  # the deadline became the solver's time limit: best plan so far
            assert result.status is Status.TIME_LIMIT
    _solver_is_free(port)


def test_cancel_stops_a_long_solve(make_server: ServerFactory) -> None:
    _, port = make_server(workers=1)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PruningServiceStub(channel)
        request = convert.build_request(hard_problem(seed=2), convert.SolveArgs(method="milp"))
        call = stub.SolveStream(pb.SolveStreamRequest(request=request), timeout=600)
        first = next(call)
        assert first.progress.phase in ("queued", "solving")
        call.cancel()
    _solver_is_free(port)


def test_overload_is_resource_exhausted(make_server: ServerFactory) -> None:
    _, port = make_server(workers=1, queue_size=0)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.PruningServiceStub(channel)
        request = convert.build_request(hard_problem(seed=3), convert.SolveArgs(method="milp"))
        busy = stub.SolveStream(pb.SolveStreamRequest(request=request), timeout=600)
        next(busy)  # admitted: the only slot is taken
        with Client(f"127.0.0.1:{port}") as client, pytest.raises(grpc.RpcError) as info:
            client.solve(tiny_problem(budget=290.0))
        assert info.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        busy.cancel()


class _ServerProcess:
    """``pruneplan serve`` in a subprocess on a free loopback port."""

    def __init__(self, db: Path, log: Path) -> None:
        command = [sys.executable, "-m", "pruneplan.clients.cli", "serve", "--port", "0"]
        command += ["--db", str(db), "--workers", "1", "--grace", "5"]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log.open("ab"), text=True, cwd=ROOT
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "serving on" in line, line
        self.port = int(line.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture
def server_processes(tmp_path: Path) -> Iterator[list[_ServerProcess]]:
    started: list[_ServerProcess] = []
    yield started
    for process in started:
        process.stop()


def test_batch_survives_sigkill(tmp_path: Path, server_processes: list[_ServerProcess]) -> None:
    db, log = tmp_path / "plans.db", tmp_path / "server.log"
    problems = [hard_problem(40, 10, resources=3, seed=s) for s in range(24)]
    first = _ServerProcess(db, log)
    server_processes.append(first)
    with Client(f"127.0.0.1:{first.port}") as client:
        job_id = client.submit_batch(problems, method="milp", time_limit=0.2)
        while client.job(job_id).done < 2:
            time.sleep(0.05)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(30)

    second = _ServerProcess(db, log)
    server_processes.append(second)
    with Client(f"127.0.0.1:{second.port}") as client:
        results = client.results(job_id, wait=True, timeout=150)
        status = client.job(job_id)
    assert (status.state, status.done, status.failed) == ("done", 24, 0)
    assert all(isinstance(r, AllocationResult) for r in results)
    assert len(results) == 24

    second.proc.send_signal(signal.SIGTERM)  # graceful: drains and exits 0
    assert second.proc.wait(60) == 0
    store = PlanStore(db)
    try:
        indices = [r.index for r in store.results(job_id)]
        assert indices == list(range(24))
        assert all(store.get_plan(r.plan_id) is not None for r in store.results(job_id))
    finally:
        store.close()


def _example() -> Path:
    return ROOT / "examples" / "params_budget.json"


def test_cli_solve_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["solve", str(_example())]) == 0
    captured = capsys.readouterr()
    response = json.loads(captured.out)
    assert response["certificate"]["status"] == "STATUS_OPTIMAL"
    assert response["plan_id"].startswith("p")
    assert "conv1.weight" in captured.err and "sparsity" in captured.err


def test_cli_solve_against_server(
    make_server: ServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, port = make_server()
    out = tmp_path / "plan.json"
    argv = ["solve", str(_example()), "--server", f"127.0.0.1:{port}", "--out", str(out)]
    assert cli.main(argv) == 0
    remote = json.loads(out.read_text())
    assert cli.main(["solve", str(_example())]) == 0
    local = json.loads(capsys.readouterr().out)
    assert remote["plan_id"] == local["plan_id"]
    assert remote["allocation"]["layers"] == local["allocation"]["layers"]


def test_cli_solve_reports_invalid_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = json.loads(_example().read_text())
    request["allocation"]["budget"]["params"] = -3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(request))
    assert cli.main(["solve", str(bad)]) == 2
    assert "allocation.budget.params" in capsys.readouterr().err


def test_cli_solve_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = ["solve", str(_example()), "--server", f"127.0.0.1:{port}", "--timeout", "2"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "UNAVAILABLE" in err[0] and "Traceback" not in err[0]


def test_cli_solve_without_token_is_one_line(
    make_server: ServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret-token-for-the-test")
    _, port = make_server(token_file=str(token))
    assert cli.main(["solve", str(_example()), "--server", f"127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "UNAUTHENTICATED" in err[0]


BLOCK_SERVER_EXTRAS = """
import importlib.abc, sys
BLOCKED = {"cvxpy", "ot", "torch", "grpc_health", "grpc_status", "grpc_reflection",
           "prometheus_client"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not installed (client-only install)")
        return None
sys.meta_path.insert(0, Block())
"""


def test_client_only_install_can_solve_and_use_the_client() -> None:
    code = BLOCK_SERVER_EXTRAS + (
        "from pruneplan.clients import Client\n"
        "from pruneplan.clients import cli\n"
        f"sys.exit(cli.main(['solve', {str(_example())!r}]))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=os.environ
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["certificate"]["status"] == "STATUS_OPTIMAL"
