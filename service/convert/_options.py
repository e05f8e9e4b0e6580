"""The solve arguments of a `SolveRequest`: method, time limit, seed and the method's options."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pruneplan.solver import InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb


@dataclass(frozen=True)
class SolveArgs:
    """The keyword arguments of `pruneplan.solver.solve`, as a `SolveRequest` carries them."""

    method: str = "auto"
    time_limit: float | None = None
    seed: int = 0
    options: Mapping[str, int | float] = field(default_factory=dict)

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``solve(problem, **args.kwargs())``."""
        return {
            "method": self.method,
            "time_limit": self.time_limit,
            "seed": self.seed,
            **self.options,
        }


def _option_value(value: float) -> int | float:
    return int(value) if math.isfinite(value) and value.is_integer() else value


def write_args(request: pb.SolveRequest, args: SolveArgs) -> None:
    """Set the solve arguments on ``request``."""
    request.method = args.method
    request.seed = int(args.seed)
    if args.time_limit is not None:
        request.time_limit = float(args.time_limit)
    for name, value in sorted(args.options.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise InvalidProblemError(f"options.{name}", "a number", repr(value))
        request.options[name] = float(value)


RESERVED = {
    "method": "method",
    "time_limit": "time_limit",
    "seed": "seed",
    "progress": "",
    "problem": "",
}
"""Parameters of every family's entry point, by the request field that sets them (if any): an
``options`` key with one of these names would collide with the real argument (``time_limit``
would escape the call's deadline), so it is refused here; any other key the method does not
declare is refused by the solver's option table."""


def _check_keys(options: Mapping[str, float]) -> None:
    for key in sorted(options):
        if key in RESERVED:
            hint = f"{key!r} is a parameter of the solver itself, not a method option"
            hint += f"; set the request's {RESERVED[key]} instead." if RESERVED[key] else "."
            raise InvalidProblemError(
                f"options.{key}", "an option the method declares", repr(key), hint
            )


def read_args(request: pb.SolveRequest) -> SolveArgs:
    """The solve arguments of ``request`` (``""`` method means ``"auto"``).

    Raises `InvalidProblemError` for an ``options`` key that names a parameter of the solver.
    """
    _check_keys(request.options)
    return SolveArgs(
        method=request.method or "auto",
        time_limit=request.time_limit if request.HasField("time_limit") else None,
        seed=int(request.seed),
        options={k: _option_value(v) for k, v in sorted(request.options.items())},
    )
