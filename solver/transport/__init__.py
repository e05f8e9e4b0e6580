"""Optimal-transport soft masks (DTP): exact budgets through the one dual variable, with POT's
solvers as the references. POT itself is imported only by the methods that call it."""

from ._api import METHODS, transport
from ._types import TransportProblem, TransportResult

__all__ = ["METHODS", "TransportProblem", "TransportResult", "transport"]
