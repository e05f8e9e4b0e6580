"""In-process solving of a `SolveRequest` (``pruneplan solve`` without ``--server``).

Same conversion and plan id as the server, no store.
"""

from __future__ import annotations

from pruneplan.solver import InvalidProblemError, allocate
from pruneplan.v1 import pruning_service_pb2 as pb

from . import convert
from .version import solver_version


def solve_request(request: pb.SolveRequest) -> pb.SolveResponse:
    """Solve ``request`` here; the response has the plan id the server would give it.

    Raises `InvalidProblemError` with the request's field path.
    """
    problem, args = convert.parse_request(request)
    try:
        result = allocate(problem, **args.kwargs())
    except InvalidProblemError as exc:
        field = convert.remap_field(exc.field)
        raise InvalidProblemError(field, exc.allowed, exc.got, exc.hint) from None
    version = solver_version()
    response = convert.result_to_response(result, problem, solver_version=version)
    response.plan_id = convert.plan_key(convert.canonical_request(request).payload, version)
    return response
