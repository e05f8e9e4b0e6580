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

from ._work import Outcome, Payload, Tag, chunks, solve_chunk

CHUNK_TASKS = 64
"""Tasks per Ray task: a Ray task costs ~1 ms to schedule, more than a small solve."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ImportError("the ray engine needs Ray: pip install 'pruneplan[ray]'") from exc
    return ray


class RayEngine:
    """Solve tasks as Ray tasks of ``chunk_tasks`` each, in completion order.

    At most ``2 * CPUs of the cluster`` tasks are in flight (`ray.wait`), so the input is read
    as the cluster drains it and the object store holds only the chunks in flight.
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        chunk_tasks: int = CHUNK_TASKS,
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
        remote = ray.remote(num_cpus=1)(solve_chunk)
        cpus = self.workers or int(ray.cluster_resources().get("CPU", 1))
        limit = max(2, 2 * cpus)
        pending: list[Any] = []
        try:
            for chunk in chunks(tasks, self.chunk_tasks):
                while len(pending) >= limit:
                    ready, pending = ray.wait(pending, num_returns=1)
                    yield from ray.get(ready[0])
                pending.append(remote.remote(chunk))
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield from ray.get(ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref)
