"""What runs in a solver process: canonical request bytes in, progress and outcome out.

Per task the process sends zero or more `Progress` reports of the solver (the first, then at most
one per `PROGRESS_INTERVAL_S`, and always the final ``"done"``), then one outcome. Outcomes are
plain tuples so that they pickle without our exception classes: ``("ok", response_bytes)``,
``("invalid", field, allowed, got, hint)`` or ``("error", text)``; a batch item given its
`Identity` gets ``("stored", plan_id, stored_bytes, method, solve_time_s)`` instead of
``"ok"``: the response as the server stores it, made here (in parallel) rather than parsed,
changed and serialized again in the server's process.

The server also calls `run_one` on its own thread for small problems (``inline_max_elements``).
"""

from __future__ import annotations

import math
import signal
import time
from multiprocessing.connection import Connection

from pruneplan.solver import InvalidProblemError, Progress
from pruneplan.v1 import common_pb2 as cpb
from pruneplan.v1 import pruning_service_pb2 as pb

from . import convert, dispatch, quiet
from .dispatch import ProgressSink

Outcome = tuple[str, ...] | tuple[str, bytes] | tuple[str, str, bytes, str, float]
Message = Progress | Outcome
"""What a solver process sends back."""
Identity = tuple[str, str]
"""``(plan_id, solver_version)`` of a request (`planner.Prepared`): what its response carries."""

PROGRESS_INTERVAL_S = 0.1
"""At most one progress report per interval goes through (besides the first and ``"done"``)."""


class RateLimited:
    """Forward the first report, then at most one per ``interval`` seconds, and ``"done"``.

    Reports go out as the solver made them (its phases may report the objective of a
    sub-problem; merging "best so far" across phases is the solver's call, not ours).
    """

    def __init__(self, sink: ProgressSink, interval: float = PROGRESS_INTERVAL_S) -> None:
        self.sink = sink
        self.interval = interval
        self._last = -math.inf

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if progress.phase == "done" or now - self._last >= self.interval:
            self._last = now
            self.sink(progress)


def run_one(
    payload: bytes,
    time_limit: float | None,
    progress: ProgressSink | None = None,
    identity: Identity | None = None,
) -> Outcome:
    """Solve a canonical `SolveRequest` (``time_limit``: the call's deadline caps the request's
    own), with every exception turned into an outcome tuple; ``identity``: the ``"stored"``
    outcome (see the module docstring)."""
    try:
        request = pb.SolveRequest.FromString(payload)
        response = dispatch.solve_request(
            request, time_limit=time_limit, progress=progress, identify=False
        )
        if identity is not None:
            return stored(response, payload, identity)
        return ("ok", response.SerializeToString())
    except InvalidProblemError as exc:
        return ("invalid", exc.field, exc.allowed, exc.got, exc.hint, exc.label)
    except Exception as exc:  # reported to the server, which logs it and answers INTERNAL
        return ("error", f"{type(exc).__name__}: {exc}")


def identify(
    response: pb.SolveResponse, canonical: bytes, identity: Identity, unstamped: bytes | None
) -> None:
    """Give a response without identity (``unstamped``: its bytes, if at hand) the plan id and
    solver version of ``identity``, the one of the request ``canonical``; the server's rule
    (`planner.Planner.response`) and the solver process's (`stored`) alike."""
    plan_id, version = identity
    if response.certificate.status == cpb.STATUS_TIME_LIMIT:
        # Depends on the time it got: never served as the answer to an identical request,
        # but kept under its own id so GetPlan finds it.
        data = response.SerializeToString() if unstamped is None else unstamped
        plan_id = convert.plan_key(canonical + data, version)
    response.solver_version = version
    response.plan_id = plan_id


def stored(response: pb.SolveResponse, canonical: bytes, identity: Identity) -> Outcome:
    """``("stored", plan_id, bytes, method, solve_time_s)`` of a response without identity (as
    `planner.Planner.response` makes it from the ``"ok"`` outcome, the same bytes)."""
    identify(response, canonical, identity, None)
    plan_id = response.plan_id
    certificate = response.certificate
    data = response.SerializeToString(deterministic=True)
    return ("stored", plan_id, data, certificate.method, certificate.solve_time_s)


def serve(conn: Connection) -> None:
    """Process main loop: receive ``(payload, time_limit, reports)``, send progress reports (if
    ``reports``) and the outcome; or a list of ``(payload, time_limit, identity or None)`` (a
    chunk of batch items), send each one's outcome as it finishes, without progress reports;
    ``None`` stops.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    quiet.silence_stdout()
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        if isinstance(task, list):
            for payload, time_limit, identity in task:
                conn.send(run_one(payload, time_limit, identity=identity))
            continue
        payload, time_limit, reports = task
        conn.send(run_one(payload, time_limit, RateLimited(conn.send) if reports else None))
