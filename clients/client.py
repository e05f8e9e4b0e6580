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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from pruneplan.service import convert
from pruneplan.service.convert import search as sconv
from pruneplan.solver import AllocationProblem, AllocationResult, InvalidProblemError, LayerProfile
from pruneplan.solver.search import Candidate, Measurement, Record, SearchOptions, SearchState
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc

__all__ = [
    "Client",
    "JobError",
    "JobStatus",
    "RemoteSearch",
    "SearchSnapshot",
    "SolveProgress",
]

Told = Measurement | Sequence[Any]
"""A measurement: a `Measurement` or ``(candidate_id, measured, samples)``."""

Result = Any
"""A family's result (`pruneplan.solver.AllocationResult`, ...), whichever the problem was."""

MAX_MESSAGE_BYTES = 256 << 20
RESULTS_PAGE = 256
"""Results per ``ListJobResults`` message the client asks for (the server sends fewer when
they are large)."""
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


@dataclass(frozen=True, kw_only=True)
class SearchSnapshot:
    """A search session as the server holds it (`Client.get_search`).

    ``best`` is the incumbent as a plan with its ``plan_id`` (`Client.plan` and ``apply`` take
    it like any plan); ``history`` every told measurement in tell order.
    """

    search_id: str
    state: SearchState
    best: AllocationResult
    history: tuple[Record, ...]
    evaluations_used: int
    generation: int


@dataclass(eq=False)
class RemoteSearch:
    """A search session on a server, with the ask/tell/best interface of
    `pruneplan.solver.search.SearchSession`.

    ``state`` and ``evaluations_used`` are as of the last call (ask, tell, refresh); ``best()``
    and ``history`` ask the server.
    """

    client: Client
    search_id: str
    problem: AllocationProblem
    state: SearchState = SearchState.RUNNING
    evaluations_used: int = 0
    _snapshot: SearchSnapshot | None = field(default=None, repr=False)

    def ask(self, n: int = 1) -> list[Candidate]:
        """Up to ``n`` candidates of the current stage (none while tells are awaited)."""
        candidates, self.state = self.client._ask(self.search_id, n, self.problem)
        return candidates

    def tell(self, results: Iterable[Told]) -> None:
        """Measured values of asked candidates."""
        self.state, self.evaluations_used = self.client._tell(self.search_id, results, None)

    def tell_curves(self, layers: Sequence[LayerProfile] | Mapping[str, Any]) -> None:
        """Re-profiled curves around the incumbent (the ``"curves"`` proposal source)."""
        curves = layers if isinstance(layers, Mapping) else {x.name: x.loss for x in layers}
        self.state, self.evaluations_used = self.client._tell(self.search_id, [], curves)

    def refresh(self) -> SearchSnapshot:
        """The server's view now (state, best plan, history)."""
        snapshot = self.client.get_search(self.search_id)
        self.state, self.evaluations_used = snapshot.state, snapshot.evaluations_used
        return snapshot

    def best(self) -> AllocationResult:
        """The incumbent as a plan with its ``plan_id``."""
        return self.refresh().best

    @property
    def history(self) -> tuple[Record, ...]:
        return self.refresh().history

    def cancel(self) -> bool:
        """Stop the search; ``True`` if it was running."""
        cancelled = self.client.cancel_search(self.search_id)
        self.state = SearchState.CANCELLED if cancelled else self.refresh().state
        return cancelled


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
                return InvalidProblemError(
                    m["field"], m["allowed"], m["got"], m.get("hint", ""), label=m.get("label", "")
                )
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
        self._problems: dict[str, AllocationProblem] = {}

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
        job is done (``follow``) or for those finished so far; no deadline by default.

        Asks for pages of `RESULTS_PAGE` results: one stream message per result would cost
        more than decoding it, for small plans.
        """
        request = pb.ListJobResultsRequest(job_id=job_id, follow=follow, page_size=RESULTS_PAGE)
        for message in self._stream(self._stub.ListJobResults, request, timeout):
            for item in message.results or (message,):  # a server without pages: one each
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
        out: dict[int, Result | JobError] = {}
        for index, item in self.stream_results(
            job_id, follow=wait, timeout=timeout or self.timeout
        ):
            out[index] = item if isinstance(item, JobError) else convert.response_to_result(item)
        return [out[index] for index in sorted(out)]  # streamed as they finish

    def cancel(self, job_id: str) -> bool:
        """Cancel a batch; ``False`` if it had finished."""
        return bool(self._call(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id)).cancelled)

    # -- measured search ---------------------------------------------------------------------

    def create_search(
        self,
        problem: AllocationProblem,
        options: SearchOptions | None = None,
        *,
        request_id: str = "",
    ) -> RemoteSearch:
        """Start a measured search on the server from the exact plan of ``problem``.

        The same ``request_id`` gives the same search (a fresh one is drawn when empty, so a
        retried call does not start two). Raises `InvalidProblemError` with the request's
        field path (``problem.layers[3].loss``, ``options.evaluations``).
        """
        request = pb.CreateSearchRequest(
            request_id=request_id or uuid.uuid4().hex,
            problem=convert.build_request(problem, convert.SolveArgs(), raw=True).allocation,
            options=sconv.options_to_proto(options),
        )
        response = self._call(self._stub.CreateSearch, request)
        self._problems[response.search_id] = problem
        state = sconv.state_from_proto(response.state)
        return RemoteSearch(self, response.search_id, problem, state)

    def search(self, search_id: str) -> RemoteSearch:
        """Re-attach to a search (created by any client, before any server restart)."""
        snapshot = self.get_search(search_id)
        remote = RemoteSearch(self, search_id, self._problem_of(search_id))
        remote.state, remote.evaluations_used = snapshot.state, snapshot.evaluations_used
        return remote

    def ask(self, search_id: str, n: int = 1) -> list[Candidate]:
        """Up to ``n`` candidates of the search's current stage to measure."""
        return self._ask(search_id, n, self._problem_of(search_id))[0]

    def tell(
        self,
        search_id: str,
        results: Iterable[Told],
        curves: Mapping[str, Any] | None = None,
    ) -> SearchState:
        """Measured values ``(candidate_id, measured, samples)`` of asked candidates, and
        optionally re-profiled curves by layer name; the search's state after them."""
        return self._tell(search_id, results, curves)[0]

    def get_search(self, search_id: str) -> SearchSnapshot:
        """The search's state, best plan so far and history."""
        request = pb.GetSearchRequest(
            search_id=search_id, include_problem=search_id not in self._problems
        )
        r = self._call(self._stub.GetSearch, request)
        if r.HasField("problem"):
            decoded = convert.CODECS["allocation"].decode_problem(r.problem, "problem")
            self._problems[search_id] = decoded
        problem = self._problems[search_id]
        return SearchSnapshot(
            search_id=r.search_id,
            state=sconv.state_from_proto(r.state),
            best=convert.response_to_result(r.best),
            history=tuple(sconv.record_from_proto(h, problem) for h in r.history),
            evaluations_used=r.evaluations_used,
            generation=r.generation,
        )

    def cancel_search(self, search_id: str) -> bool:
        """Stop a search; ``False`` if it had finished or was cancelled."""
        request = pb.CancelSearchRequest(search_id=search_id)
        return bool(self._call(self._stub.CancelSearch, request).cancelled)

    def _problem_of(self, search_id: str) -> AllocationProblem:
        if search_id not in self._problems:
            self.get_search(search_id)
        return self._problems[search_id]

    def _ask(
        self, search_id: str, n: int, problem: AllocationProblem
    ) -> tuple[list[Candidate], SearchState]:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < 2**32:
            raise InvalidProblemError("n", "an integer in [1, 4294967295]", repr(n))
        r = self._call(self._stub.Ask, pb.AskRequest(search_id=search_id, n=n))
        candidates = [sconv.candidate_from_proto(c, problem) for c in r.candidates]
        return candidates, sconv.state_from_proto(r.state)

    def _tell(
        self, search_id: str, results: Iterable[Told], curves: Mapping[str, Any] | None
    ) -> tuple[SearchState, int]:
        request = pb.TellRequest(
            search_id=search_id,
            results=[sconv.measurement_to_proto(item) for item in results],
            curves=sconv.curves_to_proto(curves or {}),
        )
        r = self._call(self._stub.Tell, request)
        return sconv.state_from_proto(r.state), int(r.evaluations_used)

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
