"""Baselines users compare against (placeholders)."""

from __future__ import annotations

from ._instance import Instance, Solution
from ._validate import Interval

RANDOM_OPTIONS: dict[str, Interval] = {"n_samples": Interval(1, 10**7, integer=True)}


def solve_uniform(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    raise NotImplementedError("uniform is not implemented yet")


def solve_erk(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    raise NotImplementedError("erk is not implemented yet")


def solve_global_magnitude(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    raise NotImplementedError("global_magnitude is not implemented yet")


def solve_lamp(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    raise NotImplementedError("lamp is not implemented yet")


def solve_random(
    inst: Instance, *, time_limit: float | None, seed: int, n_samples: int = 1000
) -> Solution:
    raise NotImplementedError("random is not implemented yet")
