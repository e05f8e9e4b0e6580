"""The ``ray`` engine: chunks as Ray tasks, a bounded number in flight (``pip install
pruneplan[ray]``).

Against ``ray.init(address=...)``: ``"auto"`` joins the cluster this machine belongs to (``ray
start --head`` on one machine, ``ray start --address HEAD:6379`` on the others), ``None`` starts
a local one. When Ray is already initialised (a notebook, a test session) it is used as it is.
Every node needs pruneplan installed in the same environment as the driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ._work import Chunker, Outcome, Payload, Tag, timed_chunk

CHUNK_S = 0.1
"""Seconds of solving per Ray task: a Ray task costs ~1 ms to schedule, more than a small
solve."""
MAX_CHUNK_TASKS = 512


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the ray engine needs Ray: pip install 'pruneplan[ray]'") from exc
    return ray


class RayEngine:
    """Solve tasks as Ray tasks of about `CHUNK_S` each (``chunk_tasks``: that many tasks each
    instead), in completion order.

    At most ``2 * CPUs of the cluster`` tasks are in flight (`ray.wait`), so the input is read
    as the cluster drains it and the object store holds only the chunks in flight.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        chunk_tasks: int | None = None,
    ) -> None:
        self.address = address
        self.workers = workers
        self.chunk_tasks = chunk_tasks

    def _connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": self.address, "include_dashboard": False}
            if self.address is None and self.workers:
                kwargs["num_cpus"] = self.workers
            ray.init(**kwargs)
        return ray

    def run(self, tasks: Iterable[tuple[Tag, Payload]]) -> Iterator[tuple[Tag, Outcome]]:
        ray = self._connect()
        remote = ray.remote(num_cpus=1)(timed_chunk)
        cpus = self.workers or int(ray.cluster_resources().get("CPU", 1))
        limit = max(2, 2 * cpus)
        chunker = Chunker(CHUNK_S, MAX_CHUNK_TASKS, self.chunk_tasks)
        pending: list[Any] = []

        def finished() -> Iterator[tuple[Tag, Outcome]]:
            nonlocal pending
            ready, pending = ray.wait(pending, num_returns=1)
            results, seconds = ray.get(ready[0])
            chunker.observe(len(results), seconds)
            yield from results

        try:
            for chunk in chunker.chunks(tasks):
                while len(pending) >= limit:
                    yield from finished()
                pending.append(remote.remote(chunk))
            while pending:
                yield from finished()
        finally:
            for ref in pending:
                ray.cancel(ref)
