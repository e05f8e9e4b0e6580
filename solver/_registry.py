"""Methods by name, for every family: the registry entry and the lookup with its error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ._checks import Interval
from ._errors import InvalidProblemError

__all__ = ["Method", "lookup"]


@dataclass(frozen=True)
class Method:
    """A registered method: its solve function and its option table."""

    solve: Callable[..., Any]
    options: Mapping[str, Interval] = field(default_factory=dict)
    bounded: bool = True
    """Whether ``solve`` proves its own lower bound; if not, the family adds one."""


M = TypeVar("M")


def lookup(methods: Mapping[str, M], method: object, auto: str) -> tuple[str, M]:
    """``(name, entry)`` of ``method`` (``"auto"`` is ``auto``); unknown names list the valid."""
    name = auto if method == "auto" else method
    if not isinstance(name, str) or name not in methods:
        valid = ", ".join(["auto", *methods])
        raise InvalidProblemError("method", f"one of {valid}", repr(method))
    return name, methods[name]
