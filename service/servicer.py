"""The `PruningService` servicer: each method parses, calls the planner or store, converts back.

Requests arrive as bytes (`handlers` registers identity deserializers) and are parsed here, after
authentication: bytes that are not the request message are ``INVALID_ARGUMENT`` "request is not a
valid pruneplan.v1.SolveRequest", counted in the metrics like any call (grpcio's own deserializer
failure is ``INTERNAL``, uncounted, logged with a traceback, and leaks memory). Requests up to
`PARSE_ON_LOOP_BYTES` are parsed on the event loop, so a malformed one is answered at once even
while every solve thread is busy; bigger ones on the thread that solves them.

Errors are mapped to status codes by `errors.unary` / `errors.streaming` only.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

from . import errors
from .guard import Context
from .jobs import JobRunner
from .offload import Alive, Offload
from .planner import Planner
from .search import Searches
from .store import JOB_CANCELLED, JOB_DONE, JOB_QUEUED, JOB_RUNNING, JobRecord, ResultRecord

SERVICE = pb.DESCRIPTOR.services_by_name["PruningService"]
PARSE_ON_LOOP_BYTES = 1 << 20
"""Requests up to this size are parsed on the event loop (about a millisecond at most)."""

_JOB_STATES = {
    JOB_QUEUED: pb.JOB_STATE_QUEUED,
    JOB_RUNNING: pb.JOB_STATE_RUNNING,
    JOB_DONE: pb.JOB_STATE_DONE,
    JOB_CANCELLED: pb.JOB_STATE_CANCELLED,
}
_FOLLOW_POLL_S = 0.1
"""How often a following ListJobResults looks for results recorded by other servers."""
_FOLLOW_TICK_S = 0.01
"""How often it looks whether this server's runner recorded results (a counter, no I/O)."""
M = TypeVar("M", bound=Message)


def parse(message_type: type[M], data: bytes) -> M:
    """``data`` as ``message_type``, or `errors.InvalidRequest` naming the message."""
    try:
        return message_type.FromString(data)
    except Exception:  # DecodeError, and whatever else the parser raises on garbage
        name = message_type.DESCRIPTOR.full_name
        raise errors.InvalidRequest(f"request is not a valid {name}") from None


def _early(message_type: type[M], data: bytes) -> M | None:
    """Parsed now if small (`PARSE_ON_LOOP_BYTES`), else ``None`` (parse it on the thread)."""
    return parse(message_type, data) if len(data) <= PARSE_ON_LOOP_BYTES else None


def _deadline(context: Context) -> float | None:
    left = context.time_remaining()
    return None if left is None or left > 1e8 else time.monotonic() + left


def _job_id(request_id: str) -> str:
    if not request_id:
        return f"j{uuid.uuid4().hex}"
    return f"j{hashlib.sha256(request_id.encode()).hexdigest()[:32]}"


def job_response(record: JobRecord) -> pb.GetJobResponse:
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(record.created_at * 1e9))
    return pb.GetJobResponse(
        job_id=record.job_id,
        state=_JOB_STATES[record.state],
        total=record.total,
        done=record.done,
        failed=record.failed,
        created_at=created,
    )


class _Sent:
    """The indexes a result stream sent: all below ``low``, and those in ``above``."""

    def __init__(self) -> None:
        self.low = 0
        self.above: set[int] = set()

    def add(self, indexes: Iterable[int]) -> None:
        self.above.update(indexes)
        while self.low in self.above:  # results come roughly in index order: a short walk
            self.above.discard(self.low)
            self.low += 1


PAGE_BYTES = 1 << 20
"""A page of results (``ListJobResultsRequest.page_size``) ends before it would pass this many
bytes, one result at least: well under gRPC's default 4 MiB limit on received messages."""
MAX_PAGE_SIZE = 1_000
"""Results per page at most, whatever the request asks."""


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _bytes_field(number: int, data: bytes) -> bytes:
    """A length-delimited field (a message or bytes) in protobuf wire format."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _result(record: ResultRecord, plan: bytes | None) -> bytes:
    """One result as a serialized `pb.JobResult`, which is also the unpaged
    `pb.ListJobResultsResponse` (the same fields): the stored plan of ``record``, its bytes as
    they are (no parse, no copy into a message), or its error."""
    head = _varint(1 << 3) + _varint(record.index) if record.index else b""
    if record.plan_id and plan is not None:
        return head + _bytes_field(2, plan)
    error = pb.JobError(
        code=record.error_code or "INTERNAL",
        message=record.error_message or f"plan {record.plan_id!r} is missing from the store",
    )
    return head + _bytes_field(3, error.SerializeToString())


def _pages(results: list[bytes], page_size: int) -> list[bytes]:
    """``results`` (`_result`) as serialized `pb.ListJobResultsResponse` pages of at most
    ``page_size`` results and about `PAGE_BYTES`; one message each when ``page_size`` is 0."""
    if page_size <= 0:
        return results
    page_size = min(page_size, MAX_PAGE_SIZE)
    pages: list[bytes] = []
    page: list[bytes] = []
    size = 0
    for result in results:
        item = _bytes_field(4, result)
        if page and (len(page) >= page_size or size + len(item) > PAGE_BYTES):
            pages.append(b"".join(page))
            page, size = [], 0
        page.append(item)
        size += len(item)
    if page:
        pages.append(b"".join(page))
    return pages


class PruningServicer:
    """Thin: bytes -> request -> planner/store (off the loop) -> response."""

    def __init__(
        self,
        planner: Planner,
        jobs: JobRunner,
        offload: Offload,
        searches: Searches | None = None,
    ) -> None:
        self.planner = planner
        self.jobs = jobs
        self.offload = offload
        self.searches = searches if searches is not None else Searches(planner)

    @errors.unary
    async def Solve(self, data: bytes, context: Context) -> pb.SolveResponse:
        deadline, early = _deadline(context), _early(pb.SolveRequest, data)

        def job(alive: Alive) -> pb.SolveResponse:
            request = early if early is not None else parse(pb.SolveRequest, data)
            return self.planner.solve(request, deadline=deadline, alive=alive)

        return await self.offload.solve(job)

    @errors.streaming
    async def SolveStream(
        self, data: bytes, context: Context
    ) -> AsyncIterator[pb.SolveStreamResponse]:
        deadline, early = _deadline(context), _early(pb.SolveStreamRequest, data)

        def produce(alive: Alive) -> Iterator[pb.SolveStreamResponse]:
            request = early if early is not None else parse(pb.SolveStreamRequest, data)
            return self.planner.events(
                request.request, deadline=deadline, alive=alive, heartbeat=True
            )

        async for event in self.offload.stream(produce):
            yield event

    @errors.unary
    async def SubmitBatch(self, data: bytes, context: Context) -> pb.SubmitBatchResponse:
        return await self.offload.light(self._submit, data)

    def _submit(self, data: bytes) -> pb.SubmitBatchResponse:
        request = parse(pb.SubmitBatchRequest, data)
        limit = self.planner.limits.max_batch
        if not request.requests or len(request.requests) > limit:
            raise InvalidProblemError(
                "requests",
                f"between 1 and {limit} requests (server limit --max-batch)",
                f"{len(request.requests)} requests",
            )
        job_id = _job_id(request.request_id)
        existing = self.jobs.store.job(job_id)
        if existing is None:
            payloads = [r.SerializeToString(deterministic=True) for r in request.requests]
            self.jobs.create(job_id, payloads)
        return pb.SubmitBatchResponse(job_id=job_id, total=len(request.requests))

    @errors.unary
    async def GetJob(self, data: bytes, context: Context) -> pb.GetJobResponse:
        request = parse(pb.GetJobRequest, data)
        return job_response(await self.offload.light(self._job, request.job_id))

    @errors.streaming
    async def ListJobResults(self, data: bytes, context: Context) -> AsyncIterator[bytes]:
        """Serialized `pb.ListJobResultsResponse` messages (one result each, or pages)."""
        request = parse(pb.ListJobResultsRequest, data)
        sent = _Sent()
        while True:
            recorded = self.jobs.recorded
            ended, messages = await self.offload.light(
                self._new_results, request.job_id, sent, request.page_size
            )
            for message in messages:
                yield message
            if ended or not request.follow:
                return
            await self._recorded_since(recorded)  # holds no thread while it waits

    async def _recorded_since(self, count: int) -> None:
        """Return once this server recorded results after ``count``, or after
        `_FOLLOW_POLL_S` (results recorded by other servers on the same store)."""
        for _ in range(round(_FOLLOW_POLL_S / _FOLLOW_TICK_S)):
            await asyncio.sleep(_FOLLOW_TICK_S)
            if self.jobs.recorded != count:
                return

    def _new_results(self, job_id: str, sent: _Sent, page_size: int) -> tuple[bool, list[bytes]]:
        """Whether the job ended (done: every result sent now, or cancelled), and its results
        not sent yet (now marked sent) as serialized messages (`_pages`): one thread hop and
        three store reads, each of one row or of the new results only."""
        header = self.jobs.store.job_header(job_id)
        if header is None:
            raise errors.NotFound(f"job_id: no job {errors.cap(job_id)!r} in this server's store")
        total, cancelled = header
        new = [r for r in self.jobs.store.results(job_id, sent.low) if r.index not in sent.above]
        plans = self.jobs.store.stored_plans([r.plan_id for r in new if r.plan_id])
        sent.add(r.index for r in new)
        pages = _pages([_result(r, plans.get(r.plan_id)) for r in new], page_size)
        return cancelled or sent.low >= total, pages

    @errors.unary
    async def CancelJob(self, data: bytes, context: Context) -> pb.CancelJobResponse:
        request = parse(pb.CancelJobRequest, data)
        return await self.offload.light(self._cancel, request.job_id)

    def _cancel(self, job_id: str) -> pb.CancelJobResponse:
        self._job(job_id)
        cancelled = self.jobs.cancel(job_id)
        return pb.CancelJobResponse(cancelled=cancelled, state=_JOB_STATES[self._job(job_id).state])

    @errors.unary
    async def GetPlan(self, data: bytes, context: Context) -> pb.GetPlanResponse:
        request = parse(pb.GetPlanRequest, data)
        response = await self.offload.light(self.planner.plan, request.plan_id)
        if response is None:
            plan_id = errors.cap(request.plan_id)
            raise errors.NotFound(f"plan_id: no plan {plan_id!r} in this server's store")
        return pb.GetPlanResponse(response=response)

    # -- searches: the session's work (re-solves) on solve threads, lookups on light ones -------

    @errors.unary
    async def CreateSearch(self, data: bytes, context: Context) -> pb.CreateSearchResponse:
        early = _early(pb.CreateSearchRequest, data)

        def job(alive: Alive) -> pb.CreateSearchResponse:
            request = early if early is not None else parse(pb.CreateSearchRequest, data)
            return self.searches.create(request)

        return await self.offload.solve(job)

    @errors.unary
    async def Ask(self, data: bytes, context: Context) -> pb.AskResponse:
        return await self.offload.light(self.searches.ask, parse(pb.AskRequest, data))

    @errors.unary
    async def Tell(self, data: bytes, context: Context) -> pb.TellResponse:
        early = _early(pb.TellRequest, data)

        def job(alive: Alive) -> pb.TellResponse:
            request = early if early is not None else parse(pb.TellRequest, data)
            return self.searches.tell(request)

        return await self.offload.solve(job)

    @errors.unary
    async def GetSearch(self, data: bytes, context: Context) -> pb.GetSearchResponse:
        return await self.offload.light(self.searches.get, parse(pb.GetSearchRequest, data))

    @errors.unary
    async def CancelSearch(self, data: bytes, context: Context) -> pb.CancelSearchResponse:
        request = parse(pb.CancelSearchRequest, data)
        return await self.offload.light(self.searches.cancel, request)

    @errors.unary
    async def Ping(self, data: bytes, context: Context) -> pb.PingResponse:
        return pb.PingResponse(payload=parse(pb.PingRequest, data).payload)

    def _job(self, job_id: str) -> JobRecord:
        record = self.jobs.store.job(job_id)
        if record is None:
            raise errors.NotFound(f"job_id: no job {errors.cap(job_id)!r} in this server's store")
        return record


def _serialize(message: Message | bytes) -> bytes:
    """A response message's bytes (those of a method that yields them serialized, as they are)."""
    return message if isinstance(message, bytes) else message.SerializeToString()


def handlers(servicer: PruningServicer) -> grpc.GenericRpcHandler[Any, Any]:
    """Every method of the service, taking its request as bytes (no grpcio deserializer)."""
    methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in SERVICE.methods:
        behavior: Callable[..., Any] = getattr(servicer, method.name)
        if method.client_streaming:
            raise TypeError(f"{method.full_name}: client streaming is not served")
        factory: Any = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        methods[method.name] = factory(behavior, None, _serialize)
    return grpc.method_handlers_generic_handler(SERVICE.full_name, methods)
