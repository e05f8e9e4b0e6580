"""Fixtures: real servers on 127.0.0.1 (port 0) with a real SQLite file, stopped after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from pruneplan.clients import Client
from pruneplan.service.server import Server, ServerConfig, create_server
from pruneplan.solver import AllocationProblem, LayerProfile

LEVELS = [0.0, 0.25, 0.5, 0.75, 0.9]


def tiny_problem(budget: float = 300.0, n: int = 4, seed: int = 0) -> AllocationProblem:
    """A few layers with convex-ish noisy curves; solves in milliseconds."""
    rng = np.random.default_rng(seed)
    layers = [
        LayerProfile(
            f"layer{i}.weight",
            LEVELS,
            np.round(np.array(LEVELS) ** 2 * rng.uniform(0.5, 2.0) + 0.01 * np.arange(5), 6),
            100 + 20 * i,
            costs={"flops": np.round((1.0 - np.array(LEVELS)) * 1000 * (i + 1))},
        )
        for i in range(n)
    ]
    return AllocationProblem(layers, {"params": budget}, fingerprint="tiny")


def hard_problem(n: int = 200, k: int = 20, resources: int = 4, seed: int = 0) -> AllocationProblem:
    """Random multi-resource instance that keeps HiGHS busy far beyond the tests' deadlines."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 0.95, k)
    layers = [
        LayerProfile(
            f"l{i}",
            levels,
            rng.uniform(0, 100, k),
            1000,
            costs={f"r{j}": rng.uniform(0, 100, k) for j in range(resources)},
        )
        for i in range(n)
    ]
    return AllocationProblem(layers, {f"r{j}": n * 30.0 for j in range(resources)})


ServerFactory = Callable[..., tuple[Server, int]]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start servers with the given config fields; all are stopped at the end of the test."""
    servers: list[Server] = []

    def make(**fields: Any) -> tuple[Server, int]:
        fields.setdefault("db", tmp_path / f"plans{len(servers)}.db")
        fields.setdefault("workers", 2)
        fields.setdefault("grace_s", 1.0)
        server, port = create_server(ServerConfig(**fields))
        servers.append(server)
        return server, port

    yield make
    for server in servers:
        server.stop(0).wait(30)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """One plain server for the tests that need nothing special."""
    db = tmp_path_factory.mktemp("store") / "plans.db"
    server, port = create_server(ServerConfig(db=db, workers=2, grace_s=1.0))
    yield server, port
    server.stop(0).wait(30)


@pytest.fixture
def client(shared_server: tuple[Server, int]) -> Iterator[Client]:
    with Client(f"127.0.0.1:{shared_server[1]}", timeout=60.0) as c:
        yield c


@pytest.fixture
def channel(shared_server: tuple[Server, int]) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{shared_server[1]}") as ch:
        yield ch
