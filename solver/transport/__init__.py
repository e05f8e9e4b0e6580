"""Optimal-transport soft masks (DTP): exact budgets through the one dual variable, with POT's
solvers as the references, and transports to several bins through POT. POT itself is imported
only by the methods that call it."""

from .._dispatch import solve
from ._api import BIN_METHODS, METHODS, transport, transport_bins
from ._types import BinsProblem, BinsResult, TransportProblem, TransportResult

solve.register(TransportProblem, transport)
solve.register(BinsProblem, transport_bins)

__all__ = [
    "BIN_METHODS",
    "METHODS",
    "BinsProblem",
    "BinsResult",
    "TransportProblem",
    "TransportResult",
    "transport",
    "transport_bins",
]
