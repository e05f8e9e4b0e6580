"""The search session (stub: the interface of /tmp/search_interface.md; implementation follows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from numpy.typing import ArrayLike

from .._types import AllocationProblem, AllocationResult, LayerProfile
from ._types import Candidate, Measurement, Record, SearchOptions, SearchState


class SearchSession:
    """Ask/tell measured search over allocations (stub)."""

    def __init__(
        self,
        problem: AllocationProblem,
        options: SearchOptions | None = None,
        start: AllocationResult | None = None,
    ) -> None:
        raise NotImplementedError

    def ask(self, n: int = 1) -> list[Candidate]:
        raise NotImplementedError

    def tell(self, results: Iterable[Measurement | tuple[int, float, int]]) -> None:
        raise NotImplementedError

    def tell_curves(self, layers: Sequence[LayerProfile] | Mapping[str, ArrayLike]) -> None:
        raise NotImplementedError

    def best(self) -> AllocationResult:
        raise NotImplementedError

    def cancel(self) -> bool:
        raise NotImplementedError

    @property
    def state(self) -> SearchState:
        raise NotImplementedError

    @property
    def history(self) -> tuple[Record, ...]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, problem: AllocationProblem, data: Mapping[str, Any]) -> SearchSession:
        raise NotImplementedError
