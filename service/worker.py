"""What runs in a solver process: canonical request bytes in, progress and outcome out.

Per task the process sends zero or more `Progress` reports of the solver (the first, then at most
one per `PROGRESS_INTERVAL_S`, and always the final ``"done"``), then one outcome. Outcomes are
plain tuples so that they pickle without our exception classes: ``("ok", response_bytes)``,
``("invalid", field, allowed, got, hint)`` or ``("error", text)``.

The server also calls `run_one` on its own thread for small problems (``inline_max_elements``).
"""

from __future__ import annotations

import math
import signal
import time
from multiprocessing.connection import Connection

from pruneplan.solver import InvalidProblemError, Progress
from pruneplan.v1 import pruning_service_pb2 as pb

from . import dispatch, quiet
from .dispatch import ProgressSink

Outcome = tuple[str, ...] | tuple[str, bytes]
Message = Progress | Outcome
"""What a solver process sends back."""

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
    payload: bytes, time_limit: float | None, progress: ProgressSink | None = None
) -> Outcome:
    """Solve a canonical `SolveRequest` (``time_limit``: the call's deadline caps the request's
    own), with every exception turned into an outcome tuple."""
    try:
        request = pb.SolveRequest.FromString(payload)
        response = dispatch.solve_request(
            request, time_limit=time_limit, progress=progress, identify=False
        )
        return ("ok", response.SerializeToString())
    except InvalidProblemError as exc:
        return ("invalid", exc.field, exc.allowed, exc.got, exc.hint, exc.label)
    except Exception as exc:  # reported to the server, which logs it and answers INTERNAL
        return ("error", f"{type(exc).__name__}: {exc}")


def serve(conn: Connection) -> None:
    """Process main loop: receive ``(payload, time_limit, reports)``, send progress reports (if
    ``reports``) and the outcome; or a list of ``(payload, time_limit)`` (a chunk of batch
    items), send each one's outcome as it finishes, without progress reports; ``None`` stops.
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
            for payload, time_limit in task:
                conn.send(run_one(payload, time_limit))
            continue
        payload, time_limit, reports = task
        conn.send(run_one(payload, time_limit, RateLimited(conn.send) if reports else None))
