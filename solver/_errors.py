"""The one exception every solver family raises on bad input."""

from __future__ import annotations

__all__ = ["InvalidProblemError"]


class InvalidProblemError(ValueError):
    """A problem or an option that cannot be solved as given.

    The message follows one formula: the field, what is allowed, what was received.
    ``field`` holds the path of the offending field (``"layers[3].loss"``, ``"budget.flops"``,
    ``"options.buckets"``) so that callers such as the gRPC service can point at it.
    """

    def __init__(self, field: str, allowed: str, got: str, hint: str = "") -> None:
        self.field = field
        self.allowed = allowed
        self.got = got
        self.hint = hint
        message = f"{field}: must be {allowed}; got {got}."
        if hint:
            message += f" {hint}"
        super().__init__(message)
