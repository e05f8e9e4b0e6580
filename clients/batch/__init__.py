"""Offline batches: many `SolveRequest` of any family, on a local pool, a server or Ray.

>>> for request_id, outcome in solve_many(requests, engine="local"):   # doctest: +SKIP
...     if isinstance(outcome, BatchError):
...         print(request_id, outcome.kind, outcome.field)
...     else:
...         result = convert.response_to_result(outcome)

Engines (``engine=``): ``"local"`` (a process pool over all cores, the default), ``"ray"``
(``address=`` for `ray.init`, ``pip install 'pruneplan[ray]'``) and ``"server"`` (``server=
"HOST:PORT"`` of a running pruneplan server, plus `Client` keyword arguments). Every engine
solves through `pruneplan.service.dispatch.solve_request`, so all give the same responses.
`run_batch` is the file-to-file form behind ``pruneplan batch``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol, cast

from pruneplan.v1 import pruning_service_pb2 as pb

from ._runner import Summary, run_batch
from ._work import BatchError, Outcome, Payload, Tag

__all__ = ["ENGINES", "BatchError", "Engine", "Summary", "make_engine", "run_batch", "solve_many"]

ENGINES = ("local", "ray", "server")


class Engine(Protocol):
    """Solves ``(tag, payload)`` tasks, yielding ``(tag, outcome)`` in completion order."""

    def run(self, tasks: Iterable[tuple[Tag, Payload]]) -> Iterator[tuple[Tag, Outcome]]: ...


def make_engine(
    engine: str | Engine = "local",
    workers: int | None = None,
    *,
    address: str | None = None,
    server: str | None = None,
    chunk_tasks: int | None = None,
    **client: Any,
) -> Engine:
    """The engine named ``engine`` (see the module docstring; an `Engine` object is used as it
    is); imports only what it needs.

    ``chunk_tasks``: requests per pool chunk, Ray task or server job (default: the engine's).
    """
    if not isinstance(engine, str):
        return engine  # an engine of the caller's own
    chunk = {"chunk_tasks": chunk_tasks} if chunk_tasks else {}
    if engine == "local":
        from ._local import LocalEngine

        return LocalEngine(workers, **chunk)
    if engine == "ray":
        from ._ray import RayEngine

        return RayEngine(address, workers, **chunk)
    if engine == "server":
        if not server:
            raise ValueError("engine 'server' needs server='HOST:PORT'")
        from ._server import ServerEngine

        return ServerEngine(server, **chunk, **client)
    raise ValueError(f"engine: must be one of {', '.join(ENGINES)}; got {engine!r}")


def solve_many(
    requests: Iterable[pb.SolveRequest],
    engine: str | Engine = "local",
    workers: int | None = None,
    **options: Any,
) -> Iterator[tuple[str, pb.SolveResponse | BatchError]]:
    """Solve ``requests`` (any families), yielding ``(request_id, response or BatchError)`` as
    they finish.

    A request without a ``request_id`` is known by its position (``"1"``, ``"2"``, ...).
    ``requests`` is read lazily, as the engine takes work, so a generator of any length is
    fine. ``options`` go to `make_engine` (``address``, ``server``, `Client` arguments).
    """
    tasks = (
        (request.request_id or str(position), request.SerializeToString())
        for position, request in enumerate(requests, 1)
    )
    for tag, outcome in make_engine(engine, workers, **options).run(tasks):
        if isinstance(outcome, BatchError):
            yield str(tag), outcome
        else:  # bytes: the payloads were bytes
            yield str(tag), pb.SolveResponse.FromString(cast(bytes, outcome))
