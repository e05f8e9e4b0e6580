"""Fixtures: real servers on 127.0.0.1 (port 0) with a real SQLite file, stopped after use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from pruneplan.clients import Client
from pruneplan.service.server import Server, ServerConfig, create_server

# The problems live in tests._factories; re-exported for the modules that still import them here.
from tests._factories import hard_problem, tiny_problem  # noqa: F401

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
