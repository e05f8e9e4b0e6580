"""What runs in a solver process: canonical request bytes in, outcome out.

Outcomes are plain tuples so that they pickle without our exception classes:
``("ok", response_bytes)``, ``("invalid", field, allowed, got, hint)`` or ``("error", text)``.
"""

from __future__ import annotations

import dataclasses
import signal
from multiprocessing.connection import Connection

from pruneplan.solver import InvalidProblemError, allocate
from pruneplan.v1 import pruning_service_pb2 as pb

from . import convert

Outcome = tuple[str, ...] | tuple[str, bytes]


def solve(payload: bytes, time_limit: float | None) -> bytes:
    """Solve a canonical `SolveRequest`; ``time_limit`` (the call's deadline) caps the options."""
    problem, args = convert.parse_request(pb.SolveRequest.FromString(payload))
    if time_limit is not None:
        limit = time_limit if args.time_limit is None else min(args.time_limit, time_limit)
        args = dataclasses.replace(args, time_limit=max(limit, 1e-3))
    result = allocate(problem, **args.kwargs())
    return convert.result_to_response(result, problem).SerializeToString()


def run_one(payload: bytes, time_limit: float | None) -> Outcome:
    """`solve`, with every exception turned into an outcome tuple."""
    try:
        return ("ok", solve(payload, time_limit))
    except InvalidProblemError as exc:
        field = convert.remap_field(exc.field)
        return ("invalid", field, exc.allowed, exc.got, exc.hint)
    except Exception as exc:  # reported to the server, which logs it and answers INTERNAL
        return ("error", f"{type(exc).__name__}: {exc}")


def serve(conn: Connection) -> None:
    """Process main loop: receive ``(payload, time_limit)``, send the outcome; ``None`` stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        payload, time_limit = task
        conn.send(run_one(payload, time_limit))
