"""Fixtures of the batch tests: one small local Ray cluster and one server for the session,
and JSONL files of example requests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from pruneplan.service.server import ServerConfig, create_server
from pruneplan.v1 import pruning_service_pb2 as pb


@pytest.fixture(scope="session")
def ray_address() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs on the loopback address; its GCS address."""
    import ray

    os.environ["RAY_AUTH_MODE"] = "disabled"
    context = ray.init(
        num_cpus=2,
        object_store_memory=80 << 20,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    yield str(context.address_info["gcs_address"])
    ray.shutdown()


@pytest.fixture(scope="session")
def server_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A pruneplan server on 127.0.0.1 (port 0) with a real SQLite store."""
    db = tmp_path_factory.mktemp("batch-store") / "plans.db"
    server, port = create_server(ServerConfig(db=db, workers=2, grace_s=1.0))
    yield f"127.0.0.1:{port}"
    server.stop(0).wait(30)


def write_jsonl(
    path: Path, requests: list[pb.SolveRequest], extra: dict[int, str] | None = None
) -> Path:
    """One request per line; ``extra`` raw lines land at the given 0-based line indices."""
    lines = [json_format.MessageToJson(r, indent=None) for r in requests]
    for index, text in sorted((extra or {}).items()):
        lines.insert(index, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_results(path: Path) -> list[dict[str, Any]]:
    """The output records, without the solve time (the one field that differs between runs)."""
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    for record in records:
        record.get("response", {}).get("certificate", {}).pop("solve_time_s", None)
    return records


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Records by request id; fails on a repeated id (each request answered exactly once)."""
    ids = [r["request_id"] for r in records]
    assert len(ids) == len(set(ids)), "a request was answered more than once"
    return {r["request_id"]: r for r in records}
