"""Structured pruning: which channels, neurons or heads each group keeps, within budgets.

Exact knapsack channel selection with a certificate (`select`), and the baselines the field
uses (Torch-Pruning's global threshold, Aflalo's greedy, uniform, HALP).
"""

from .._dispatch import solve
from ._api import METHODS, select
from ._types import GroupSelection, ItemGroup, SelectionProblem, SelectionResult

solve.register(SelectionProblem, select)

__all__ = [
    "METHODS",
    "GroupSelection",
    "ItemGroup",
    "SelectionProblem",
    "SelectionResult",
    "select",
]
