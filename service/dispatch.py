"""One path from a `SolveRequest` to its `SolveResponse`, for every family.

Used by the solver processes and the server's inline solves (`worker`), the in-process CLI
(``pruneplan solve`` without ``--server``) and the batch runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from pruneplan.solver import InvalidProblemError, Progress, solve
from pruneplan.v1 import pruning_service_pb2 as pb

from . import convert
from .version import solver_version

ProgressSink = Callable[[Progress], None]


def solve_request(
    request: pb.SolveRequest,
    *,
    time_limit: float | None = None,
    progress: ProgressSink | None = None,
    identify: bool = True,
) -> pb.SolveResponse:
    """Solve ``request`` in this process.

    ``time_limit`` (a call's deadline) caps the request's own. With ``identify`` the response
    carries the plan id and solver version the server would give it.

    Raises `InvalidProblemError` with the request's field path.
    """
    codec, problem, args = convert.parse_request(request)
    if time_limit is not None:
        limit = time_limit if args.time_limit is None else min(args.time_limit, time_limit)
        args = dataclasses.replace(args, time_limit=max(limit, 1e-3))
    try:
        result = solve(problem, progress=progress, **args.kwargs())
    except InvalidProblemError as error:
        exc = codec.solver_error(problem, error)
        field = convert.request_path(codec.name, exc.field)
        label = convert.request_path(codec.name, exc.label)
        raise InvalidProblemError(field, exc.allowed, exc.got, exc.hint, label=label) from None
    if not identify:
        return convert.result_to_response(result, problem)
    version = solver_version()
    response = convert.result_to_response(result, problem, solver_version=version)
    response.plan_id = convert.plan_key(convert.canonical_request(request).payload, version)
    return response
