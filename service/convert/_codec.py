"""The `Codec` protocol: everything the service knows about one problem family.

A family's codec converts its problem and result to and from their wire messages, puts a
problem message in canonical form (counting its numbers for the server's limits), counts its
parts (layers, groups) and draws its solution as a table. The rest of the service never names a
family: it looks the codec up by the request's ``problem`` oneof field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from google.protobuf.message import Message
from rich.table import Table

from pruneplan.solver import InvalidProblemError


class Codec(Protocol):
    """One problem family on the wire."""

    name: str
    """The family's field in ``SolveRequest.problem`` and ``SolveResponse.solution``."""
    problem_type: type[Any]
    """The solver's problem class (`pruneplan.solver.AllocationProblem`, ...)."""
    part: str
    """What the server's ``--max-parts`` limit counts (``"layers"``, ``"groups"``)."""

    def encode_problem(self, problem: Any, *, raw: bool | None) -> Message:
        """The problem message (arrays as ``f64le`` when ``raw``; ``None``: by size)."""
        ...

    def decode_problem(self, message: Any, path: str) -> Any:
        """The solver's problem; errors name fields under ``path``."""
        ...

    def canonicalize(self, message: Any) -> int:
        """Rewrite ``message`` in place in canonical form; the count of numbers it holds."""
        ...

    def parts(self, message: Any) -> int:
        """How many layers or groups ``message`` has."""
        ...

    def fingerprint(self, problem: Any) -> str:
        """The model identity the problem carries ("" if none)."""
        ...

    def solver_error(self, problem: Any, error: InvalidProblemError) -> InvalidProblemError:
        """``error``, raised by the solver on ``problem``, with its field and label as paths in
        the family's message (``error`` itself where the solver's paths are the message's)."""
        ...

    def encode_solution(self, result: Any, problem: Any) -> Message:
        """The solution message of ``result`` (without the certificate)."""
        ...

    def decode_result(self, solution: Any, header: Mapping[str, Any]) -> Any:
        """The solver's result from its solution message and ``header``: the `Certificate`
        fields, ``plan_id`` and ``fingerprint`` (a family keeps those its result has)."""
        ...

    def table(self, solution: Any) -> Table:
        """One row per layer or group, for people."""
        ...
