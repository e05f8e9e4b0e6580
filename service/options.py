"""Check a request's ``method`` and ``method_options`` keys against the solver's method table.

The solver's entry point takes ``method``, ``time_limit``, ``seed`` and ``progress`` beside the
method's own options, so a ``method_options`` key with one of those names would override the real
argument (``time_limit`` would escape the call's deadline) or collide with it (``TypeError``,
then ``INTERNAL``). Only the keys the method declares in ``pruneplan.solver.METHODS[name].options``
pass; the values are the solver's to check.
"""

from __future__ import annotations

from collections.abc import Iterable

from pruneplan.solver import METHODS, InvalidProblemError
from pruneplan.v1 import pruning_service_pb2 as pb

__all__ = ["AUTO", "RESERVED", "check_options", "declared_options"]

AUTO = "exact"
"""The method ``"auto"`` resolves to in `pruneplan.solver.allocate` (a copy: the solver keeps it
private)."""

RESERVED = {
    "method": "options.method",
    "time_limit": "options.time_limit_s",
    "seed": "options.seed",
    "progress": "",
    "problem": "",
}
"""Parameters of the solver's entry point, by the request field that sets them (if any)."""


def declared_options(method: str) -> list[str]:
    """The option names ``method`` declares (``"auto"`` and ``""`` are `AUTO`), sorted.

    Raises `InvalidProblemError` on ``options.method`` for an unknown method.
    """
    name = AUTO if method in ("", "auto") else method
    if name not in METHODS:
        valid = ", ".join(["auto", *METHODS])
        raise InvalidProblemError("options.method", f"one of {valid}", _echo(method))
    return sorted(METHODS[name].options)


def check_options(options: pb.SolveOptions, path: str = "options") -> None:
    """Refuse ``method_options`` keys the method does not declare, naming the key.

    Raises
    ------
    InvalidProblemError
        On ``{path}.method_options.{key}`` for the first offending key (in sorted order), listing
        the method's valid option names; on ``{path}.method`` for an unknown method.
    """
    valid = declared_options(options.method)
    for key in sorted(options.method_options):
        if key not in valid:
            _refuse(options.method or "auto", key, valid, path)


def _refuse(method: str, key: str, valid: Iterable[str], path: str) -> None:
    names = ", ".join(valid)
    allowed = (
        f"an option that method {method!r} declares ({names})"
        if names
        else f"absent: method {method!r} takes no method_options"
    )
    hint = ""
    if key in RESERVED:
        hint = f"{key!r} is a parameter of the solver itself, not a method option"
        hint += f"; set {RESERVED[key]} instead." if RESERVED[key] else "."
    raise InvalidProblemError(f"{path}.method_options.{_cut(key)}", allowed, _echo(key), hint)


ECHO_LIMIT = 200
"""Longest caller string echoed into an error (longer ones are cut, with their length)."""


def _cut(text: str) -> str:
    """``text``, or its first `ECHO_LIMIT` characters with ``...`` and the length."""
    if len(text) <= ECHO_LIMIT:
        return text
    return f"{text[:ECHO_LIMIT]}... ({len(text)} characters)"


def _echo(text: str) -> str:
    if len(text) <= ECHO_LIMIT:
        return repr(text)
    return f"{text[:ECHO_LIMIT]!r}... ({len(text)} characters)"
