"""The `PruningService` servicer: each method converts, calls the planner or store, converts back.

Errors are mapped to status codes by `errors.unary` / `errors.streaming` only.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator

import grpc
from google.protobuf import timestamp_pb2

from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb
from pruneplan.v1 import pruning_service_pb2_grpc as pb_grpc

from . import errors
from .jobs import JobRunner
from .planner import Planner
from .store import JOB_CANCELLED, JOB_DONE, JOB_QUEUED, JOB_RUNNING, JobRecord, ResultRecord

_JOB_STATES = {
    JOB_QUEUED: pb.JOB_STATE_QUEUED,
    JOB_RUNNING: pb.JOB_STATE_RUNNING,
    JOB_DONE: pb.JOB_STATE_DONE,
    JOB_CANCELLED: pb.JOB_STATE_CANCELLED,
}
_FOLLOW_POLL_S = 0.1


def _deadline(context: grpc.ServicerContext) -> float | None:
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


class PruningServicer(pb_grpc.PruningServiceServicer):
    """Thin: request -> planner/store -> response."""

    def __init__(self, planner: Planner, jobs: JobRunner) -> None:
        self.planner = planner
        self.jobs = jobs

    @errors.unary
    def Solve(self, request: pb.SolveRequest, context: grpc.ServicerContext) -> pb.SolveResponse:
        return self.planner.solve(request, deadline=_deadline(context), alive=context.is_active)

    @errors.streaming
    def SolveStream(
        self, request: pb.SolveStreamRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.SolveStreamResponse]:
        yield from self.planner.events(
            request.request,
            deadline=_deadline(context),
            alive=context.is_active,
            heartbeat=True,
        )

    @errors.unary
    def SubmitBatch(
        self, request: pb.SubmitBatchRequest, context: grpc.ServicerContext
    ) -> pb.SubmitBatchResponse:
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
    def GetJob(self, request: pb.GetJobRequest, context: grpc.ServicerContext) -> pb.GetJobResponse:
        return job_response(self._job(request.job_id))

    @errors.streaming
    def ListJobResults(
        self, request: pb.ListJobResultsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ListJobResultsResponse]:
        sent: set[int] = set()
        while True:
            finished = self._job(request.job_id).state in (JOB_DONE, JOB_CANCELLED)
            for record in self.jobs.store.results(request.job_id):
                if record.index not in sent:
                    sent.add(record.index)
                    yield self._result(record)
            if finished or not request.follow or not context.is_active():
                return
            time.sleep(_FOLLOW_POLL_S)

    def _result(self, record: ResultRecord) -> pb.ListJobResultsResponse:
        if record.plan_id:
            response = self.planner.plan(record.plan_id)
            if response is not None:
                return pb.ListJobResultsResponse(index=record.index, response=response)
        error = pb.JobError(
            code=record.error_code or "INTERNAL",
            message=record.error_message or f"plan {record.plan_id!r} is missing from the store",
        )
        return pb.ListJobResultsResponse(index=record.index, error=error)

    @errors.unary
    def CancelJob(
        self, request: pb.CancelJobRequest, context: grpc.ServicerContext
    ) -> pb.CancelJobResponse:
        self._job(request.job_id)
        cancelled = self.jobs.cancel(request.job_id)
        state = _JOB_STATES[self._job(request.job_id).state]
        return pb.CancelJobResponse(cancelled=cancelled, state=state)

    @errors.unary
    def GetPlan(
        self, request: pb.GetPlanRequest, context: grpc.ServicerContext
    ) -> pb.GetPlanResponse:
        response = self.planner.plan(request.plan_id)
        if response is None:
            raise errors.NotFound(f"plan_id: no plan {request.plan_id!r} in this server's store")
        return pb.GetPlanResponse(response=response)

    def Ping(self, request: pb.PingRequest, context: grpc.ServicerContext) -> pb.PingResponse:
        return pb.PingResponse(payload=request.payload)

    def _job(self, job_id: str) -> JobRecord:
        record = self.jobs.store.job(job_id)
        if record is None:
            raise errors.NotFound(f"job_id: no job {job_id!r} in this server's store")
        return record
