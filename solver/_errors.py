"""The one exception every solver family raises on bad input."""

from __future__ import annotations

__all__ = ["InvalidProblemError"]


class InvalidProblemError(ValueError):
    """A problem or an option that cannot be solved as given.

    The message follows one formula: the field, what is allowed, what was received.
    ``field`` holds the path of the offending field (``"layers[3].loss"``, ``"budget.flops"``,
    ``"options.buckets"``) so that callers such as the gRPC service can point at it; ``label``
    is how the message shows it, the path with names a reader needs
    (``'layers[3] ("blocks.3.w").loss'``), and defaults to ``field``.
    """

    def __init__(
        self, field: str, allowed: str, got: str, hint: str = "", *, label: str = ""
    ) -> None:
        self.field = field
        self.allowed = allowed
        self.got = got
        self.hint = hint
        self.label = label or field
        message = f"{self.label}: must be {allowed}; got {got}."
        if hint:
            message += f" {hint}"
        super().__init__(message)

    def relabel(self, label: str) -> InvalidProblemError:
        """The same error shown as ``label`` (``field`` unchanged)."""
        return InvalidProblemError(self.field, self.allowed, self.got, self.hint, label=label)

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle by the fields (the message alone cannot rebuild the error)."""
        return (_rebuild, (self.field, self.allowed, self.got, self.hint, self.label))


def _rebuild(field: str, allowed: str, got: str, hint: str, label: str) -> InvalidProblemError:
    return InvalidProblemError(field, allowed, got, hint, label=label)
