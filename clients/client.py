"""`Client`: the solver's Python objects in and out, the pruneplan service in between.

Light by design: grpc, protobuf, numpy and the solver's types only (no HiGHS, POT, grpc_health
or grpc_status), so it works with a client-only install.

>>> with Client("127.0.0.1:50051") as client:                    # doctest: +SKIP
...     result = client.solve(problem, method="exact")
...     result.plan_id, result.sparsity
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from pruneplan.service import convert
from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc

__all__ = ["Client", "JobError", "JobStatus", "SolveProgress"]

Result = Any
"""A family's result (`pruneplan.solver.AllocationResult`, ...), whichever the problem was."""

MAX_MESSAGE_BYTES = 256 << 20
_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# Retries with exponential backoff on UNAVAILABLE, done by gRPC itself (service config).
SERVICE_CONFIG = {
    "methodConfig": [
        {
            "name": [{"service": "pruneplan.v1.PruningService"}],
            "retryPolicy": {
                "maxAttempts": 5,
                "initialBackoff": "0.1s",
                "maxBackoff": "5s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ]
}

PemSource = str | os.PathLike[str] | bytes


@dataclass(frozen=True)
class SolveProgress:
    """A progress event of `Client.solve_stream` (the server's view; the solver's own reports
    are `pruneplan.solver.Progress`)."""

    phase: str
    fraction: float
    best_objective: float
    best_bound: float
    elapsed_s: float


@dataclass(frozen=True)
class JobStatus:
    """State and counts of a batch (``done`` counts finished requests, errors included)."""

    job_id: str
    state: str
    total: int
    done: int
    failed: int


@dataclass(frozen=True)
class JobError:
    """Why one request of a batch has no plan."""

    index: int
    code: str
    message: str


def _pem(source: PemSource | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def _invalid_problem(error: grpc.RpcError) -> InvalidProblemError | None:
    """Rebuild the server's `InvalidProblemError` from the status details, if present."""
    trailers: Any = error.trailing_metadata() or ()
    for key, value in trailers:
        if key != _STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info) and info.reason == "INVALID_PROBLEM":
                m = info.metadata
                return InvalidProblemError(m["field"], m["allowed"], m["got"], m.get("hint", ""))
    return None


class Client:
    """A connection to a pruneplan server.

    Parameters
    ----------
    target : str
        ``"host:port"``.
    token : str, optional
        Bearer token (the server's ``--token-file``).
    tls_ca : path or PEM bytes, optional
        CA that signed the server's certificate; enables TLS.
    tls_cert, tls_key : path or PEM bytes, optional
        Client certificate and key, for servers that require mTLS.
    timeout : float
        Default deadline of each call in seconds (the server turns it into the solver's limit).
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls_ca: PemSource | None = None,
        tls_cert: PemSource | None = None,
        tls_key: PemSource | None = None,
        timeout: float = 30.0,
    ) -> None:
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ]
        if tls_ca is None and tls_cert is None:
            self._channel = grpc.insecure_channel(target, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(tls_ca),
                private_key=_pem(tls_key),
                certificate_chain=_pem(tls_cert),
            )
            self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = pb_grpc.PruningServiceStub(self._channel)  # type: ignore[no-untyped-call]
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self.timeout = timeout

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, method: Any, request: Any, timeout: float | None = None) -> Any:
        try:
            return method(request, timeout=timeout or self.timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise _invalid_problem(error) or error from None

    def _stream(self, method: Any, request: Any, timeout: float | None) -> Iterator[Any]:
        try:
            yield from method(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise _invalid_problem(error) or error from None

    def _deadline(self, time_limit: float | None) -> float:
        return self.timeout if time_limit is None else max(self.timeout, time_limit + 5.0)

    @staticmethod
    def _request(
        problem: object,
        method: str,
        time_limit: float | None,
        seed: int,
        options: dict[str, Any],
    ) -> pb.SolveRequest:
        args = convert.SolveArgs(method, time_limit, seed, options)
        # Every array as raw f64le: half the encoding time of packed values here, and the
        # server's canonical form needs no rewriting (its plan cache key costs 4x less).
        return convert.build_request(problem, args, request_id=uuid.uuid4().hex, raw=True)

    # -- solving -------------------------------------------------------------------------------

    def solve(
        self,
        problem: object,
        method: str = "auto",
        time_limit: float | None = None,
        seed: int = 0,
        **options: Any,
    ) -> Result:
        """``pruneplan.solver.solve(problem, ...)`` on the server, for a problem of any family;
        the result (the family's result type) carries the ``plan_id``.

        Raises `InvalidProblemError` (with the request's field path) for invalid input and
        ``grpc.RpcError`` for other failures.
        """
        request = self._request(problem, method, time_limit, seed, options)
        response = self._call(self._stub.Solve, request, self._deadline(time_limit))
        return convert.response_to_result(response)

    def solve_stream(
        self,
        problem: object,
        method: str = "auto",
        time_limit: float | None = None,
        seed: int = 0,
        **options: Any,
    ) -> Iterator[SolveProgress | Result]:
        """Like `solve`, yielding `SolveProgress` events and then the result."""
        request = pb.SolveStreamRequest(
            request=self._request(problem, method, time_limit, seed, options)
        )
        for event in self._stream(self._stub.SolveStream, request, self._deadline(time_limit)):
            if event.HasField("result"):
                yield convert.response_to_result(event.result)
            else:
                p = event.progress
                yield SolveProgress(
                    p.phase, p.fraction, p.best_objective, p.best_bound, p.elapsed_s
                )

    def solve_request(
        self, request: pb.SolveRequest, timeout: float | None = None
    ) -> pb.SolveResponse:
        """The raw call: a `SolveRequest` message in, the `SolveResponse` message out."""
        limit = request.time_limit if request.HasField("time_limit") else None
        response: pb.SolveResponse = self._call(
            self._stub.Solve, request, timeout or self._deadline(limit)
        )
        return response

    def plan(self, plan_id: str) -> Result:
        """An earlier plan by id."""
        response = self._call(self._stub.GetPlan, pb.GetPlanRequest(plan_id=plan_id))
        return convert.response_to_result(response.response)

    def ping(self, payload: bytes = b"") -> bytes:
        """Echo ``payload`` (a round trip without solving)."""
        return bytes(self._call(self._stub.Ping, pb.PingRequest(payload=payload)).payload)

    # -- batches -------------------------------------------------------------------------------

    def submit_batch(
        self,
        problems: Iterable[object],
        method: str = "auto",
        time_limit: float | None = None,
        seed: int = 0,
        **options: Any,
    ) -> str:
        """Persist a batch (problems of any families) on the server and return its job id at once
        (safe to retry)."""
        requests = [self._request(p, method, time_limit, seed, options) for p in problems]
        batch = pb.SubmitBatchRequest(request_id=uuid.uuid4().hex, requests=requests)
        return str(self._call(self._stub.SubmitBatch, batch).job_id)

    def submit_requests(self, requests: Iterable[pb.SolveRequest], batch_id: str = "") -> str:
        """The raw `submit_batch`: `SolveRequest` messages in, the job id out. ``batch_id`` is
        the idempotency key (the same key returns the same job; ``""``: a fresh one)."""
        batch = pb.SubmitBatchRequest(request_id=batch_id or uuid.uuid4().hex, requests=requests)
        return str(self._call(self._stub.SubmitBatch, batch).job_id)

    def stream_results(
        self, job_id: str, *, follow: bool = True, timeout: float | None = None
    ) -> Iterator[tuple[int, pb.SolveResponse | JobError]]:
        """The raw `results`: ``(index, SolveResponse or JobError)`` as they finish, until the
        job is done (``follow``) or for those finished so far; no deadline by default."""
        request = pb.ListJobResultsRequest(job_id=job_id, follow=follow)
        for item in self._stream(self._stub.ListJobResults, request, timeout):
            if item.HasField("response"):
                yield item.index, item.response
            else:
                yield item.index, JobError(item.index, item.error.code, item.error.message)

    def job(self, job_id: str) -> JobStatus:
        """State (``"queued"``, ``"running"``, ``"done"``, ``"cancelled"``) and counts."""
        r = self._call(self._stub.GetJob, pb.GetJobRequest(job_id=job_id))
        state = pb.JobState.Name(r.state).removeprefix("JOB_STATE_").lower()
        return JobStatus(r.job_id, state, r.total, r.done, r.failed)

    def results(
        self, job_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> list[Result | JobError]:
        """The results in request order, waiting for the job to finish (at most ``timeout``).

        With ``wait=False``, only the results finished so far (still in request order; a
        `JobError` carries its ``index``).
        """
        request = pb.ListJobResultsRequest(job_id=job_id, follow=wait)
        out: dict[int, Result | JobError] = {}
        for item in self._stream(self._stub.ListJobResults, request, timeout or self.timeout):
            if item.HasField("response"):
                out[item.index] = convert.response_to_result(item.response)
            else:
                out[item.index] = JobError(item.index, item.error.code, item.error.message)
        return [out[index] for index in sorted(out)]  # streamed as they finish

    def cancel(self, job_id: str) -> bool:
        """Cancel a batch; ``False`` if it had finished."""
        return bool(self._call(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id)).cancelled)

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
