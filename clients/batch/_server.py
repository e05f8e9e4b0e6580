"""The ``server`` engine: a running pruneplan server solves the batch (``SubmitBatch`` in chunks
under its batch limit, results streamed back with ``ListJobResults``).

Each chunk's idempotency key is a hash of its requests, so rerunning an interrupted batch with
the same chunks picks up the jobs the server already holds (and their finished results).
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pruneplan.clients.client import Client, JobError
from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

from ._work import BatchError, Chunker, Outcome, Payload, Tag, encode_outcome, parse_error
from ._work import parse_payload as _parse

CHUNK_TASKS = 1_000
"""Requests per job at most: under the server's default ``--max-batch`` (10,000); halved for
good on refusal."""
FIRST_TASKS = 64
"""Requests in the first job; each next one twice as many, up to `CHUNK_TASKS`: the server
starts solving after a few lines are parsed, not a thousand."""
JOBS_IN_FLIGHT = 2
"""Jobs submitted ahead of the one being streamed, so the server never waits for the client."""


@dataclass
class _Job:
    job_id: str
    tags: list[Tag]
    as_json: list[bool]


def job_error(error: JobError) -> BatchError:
    """A server's `JobError` as a `BatchError` (the field from the ``"field: must be"`` form)."""
    field = ""
    if error.code == "INVALID_ARGUMENT" and ": must be " in error.message:
        field = error.message.split(": must be ", 1)[0]
    return BatchError(error.code, field, error.message)


def _batch_id(requests: list[pb.SolveRequest]) -> str:
    digest = hashlib.sha256()
    for request in requests:
        data = request.SerializeToString(deterministic=True)
        digest.update(len(data).to_bytes(8, "little") + data)
    return f"batch-{digest.hexdigest()[:32]}"


class ServerEngine:
    """Solve tasks on the server at ``target`` (``Client`` keyword arguments in ``client``)."""

    def __init__(self, target: str, chunk_tasks: int = CHUNK_TASKS, **client: Any) -> None:
        self.target = target
        self.client_kwargs = client
        self.chunk_tasks = chunk_tasks
        """The largest job; made smaller for good when the server refuses a job's size."""
        self._chunker = Chunker(0.0, chunk_tasks, fixed=chunk_tasks, max_bytes=64 << 20)

    def run(self, tasks: Iterable[tuple[Tag, Payload]]) -> Iterator[tuple[Tag, Outcome]]:
        with Client(self.target, **self.client_kwargs) as client:
            jobs: deque[_Job] = deque()
            self._chunker.size = min(FIRST_TASKS, self.chunk_tasks)
            for chunk in self._chunker.chunks(tasks):
                self._chunker.size = min(2 * self._chunker.size, self.chunk_tasks)
                good: list[tuple[Tag, pb.SolveRequest, bool]] = []
                for tag, payload in chunk:
                    try:
                        good.append((tag, _parse(payload), isinstance(payload, str)))
                    except Exception as exc:
                        yield tag, parse_error(exc)
                jobs.extend(self._submit(client, good))
                while len(jobs) > JOBS_IN_FLIGHT:
                    yield from self._drain(client, jobs.popleft())
            while jobs:
                yield from self._drain(client, jobs.popleft())

    def _submit(
        self, client: Client, items: list[tuple[Tag, pb.SolveRequest, bool]]
    ) -> Iterator[_Job]:
        """Submit ``items`` as one job, or in halves while the server refuses the size."""
        if not items:
            return
        requests = [request for _, request, _ in items]
        try:
            job_id = client.submit_requests(requests, batch_id=_batch_id(requests))
        except InvalidProblemError as exc:
            if exc.field != "requests" or len(items) == 1:
                raise
            half = len(items) // 2
            self.chunk_tasks = min(self.chunk_tasks, max(1, half))  # the next jobs too
            self._chunker.size = min(self._chunker.size, self.chunk_tasks)
            yield from self._submit(client, items[:half])
            yield from self._submit(client, items[half:])
            return
        yield _Job(job_id, [tag for tag, _, _ in items], [as_json for _, _, as_json in items])

    @staticmethod
    def _drain(client: Client, job: _Job) -> Iterator[tuple[Tag, Outcome]]:
        received = 0
        for index, outcome in client.stream_results(job.job_id):
            received += 1
            tag = job.tags[index]
            if isinstance(outcome, JobError):
                yield tag, job_error(outcome)
            else:
                yield tag, encode_outcome(outcome, job.as_json[index])
        if received < len(job.tags):  # cancelled on the server: those stay unanswered
            raise RuntimeError(
                f"job {job.job_id} ended with {received} of {len(job.tags)} results "
                "(cancelled on the server?); run the batch again to resume"
            )
