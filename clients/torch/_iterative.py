"""Iterative pruning: rounds of profile -> solve -> apply -> the user's training, rank 0 solving."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from pruneplan.solver import AllocationProblem, AllocationResult, LayerProfile, allocate

from ._costs import dense_cost
from ._layers import Batch, fingerprint
from ._masks import PruneReport, apply
from ._profile import profile

__all__ = ["Solve", "broadcast_plan", "iterative", "problem_for", "schedule_density"]

Solve = Callable[[AllocationProblem], AllocationResult]
"""Turns a problem into a plan: in-process ``allocate`` or ``Client(...).solve``."""


def problem_for(
    model: nn.Module, profiles: Sequence[LayerProfile], budget: Mapping[str, float]
) -> AllocationProblem:
    """An ``AllocationProblem`` carrying the model's fingerprint, so ``apply`` can check it.

    ``budget`` is absolute per resource; see ``relative_budget`` for fractions of the dense
    cost.
    """
    return AllocationProblem(list(profiles), dict(budget), fingerprint=fingerprint(model))


def schedule_density(
    schedule: str, round_index: int, rounds: int, final_sparsity: float | None, rate: float = 0.2
) -> float:
    r"""Fraction of the dense resource kept after round ``round_index`` (1-based).

    ``"geometric"`` (Xu et al.): prune ``rate`` of the remaining each round,
    :math:`d_t = (1 - \text{rate})^t`, never below ``1 - final_sparsity``.
    ``"cubic"`` (Zhu & Gupta 2017): :math:`s_t = s_f (1 - (1 - t/T)^3)`, :math:`d_t = 1 - s_t`.

    Examples
    --------
    >>> round(schedule_density("geometric", 2, 5, None), 4), schedule_density("cubic", 5, 5, 0.9)
    (0.64, 0.09999999999999998)
    """
    if schedule == "geometric":
        density = (1.0 - rate) ** round_index
        return density if final_sparsity is None else max(density, 1.0 - final_sparsity)
    if schedule == "cubic":
        if final_sparsity is None:
            raise ValueError("final_sparsity: the cubic schedule needs it; got None")
        return 1.0 - final_sparsity * (1.0 - (1.0 - round_index / rounds) ** 3)
    raise ValueError(f"schedule: must be 'geometric' or 'cubic'; got {schedule!r}")


def _distributed() -> tuple[bool, int]:
    ready = torch.distributed.is_available() and torch.distributed.is_initialized()
    return ready and torch.distributed.get_world_size() > 1, (
        torch.distributed.get_rank() if ready else 0
    )


def broadcast_plan(make_plan: Callable[[], AllocationResult]) -> AllocationResult:
    """Run ``make_plan`` on rank 0 only and give every rank its result.

    Without an initialised ``torch.distributed`` group (or with one rank) it just calls
    ``make_plan``. Otherwise the plan travels by ``broadcast_object_list`` from rank 0, so
    every rank applies identical masks and only rank 0 talks to the service.
    """
    many, rank = _distributed()
    if not many:
        return make_plan()
    box: list[Any] = [make_plan() if rank == 0 else None]
    torch.distributed.broadcast_object_list(box, src=0)
    result = box[0]
    if not isinstance(result, AllocationResult):
        raise RuntimeError(f"broadcast_plan: rank {rank} received {type(result).__name__}")
    return result


def _in_process(method: str) -> Solve:
    return lambda problem: allocate(problem, method=method)


def _bounded(profiles: list[LayerProfile], floor: Mapping[str, float]) -> list[LayerProfile]:
    """Profiles whose ``min_sparsity`` is last round's level (masks only grow)."""
    return [replace(p, min_sparsity=max(p.min_sparsity, floor.get(p.name, 0.0))) for p in profiles]


def iterative(
    model: nn.Module,
    calib: Iterable[Batch],
    *,
    train_fn: Callable[[nn.Module, int], object],
    rounds: int,
    final_sparsity: float | None = None,
    schedule: str = "geometric",
    rate: float = 0.2,
    resource: str = "params",
    budget_fn: Callable[[int, Sequence[LayerProfile]], Mapping[str, float]] | None = None,
    method: str = "exact",
    solve: Solve | None = None,
    profile_options: Mapping[str, Any] | None = None,
) -> list[PruneReport]:
    """Rounds of profile -> solve -> apply -> ``train_fn``, composing with the user's loop.

    Round ``t`` profiles the current (masked) model, asks for a plan whose budget keeps
    ``schedule_density(schedule, t, rounds, final_sparsity, rate)`` of the dense
    ``resource`` (or ``budget_fn(t, profiles)``, absolute), with each layer's previous level as
    its ``min_sparsity``, applies it (masks only grow) and calls ``train_fn(model, t)``.

    Under an initialised ``torch.distributed`` group only rank 0 profiles and solves; the plan
    is broadcast and every rank applies the same masks. All ranks must call ``iterative``.

    Parameters
    ----------
    model : nn.Module
    calib : iterable of Batch
        Calibration batches (materialised once).
    train_fn : callable
        ``train_fn(model, round_index)``: the user's fine-tuning; masks stay applied through
        ``weight_orig`` / ``weight_mask``, so the optimizer keeps working.
    rounds : int
    final_sparsity : float, optional
        Fraction of ``resource`` removed at the end (the geometric schedule stops there).
    schedule : {"geometric", "cubic"}
    rate : float
        Geometric schedule: fraction of the remaining pruned per round (0.2 as Xu et al.).
    resource : str
        The budgeted resource ("params", "flops", ...).
    budget_fn : callable, optional
        ``budget_fn(round_index, profiles) -> budget`` overriding the schedule.
    method : str
        Solver method when ``solve`` is not given (in-process ``allocate``).
    solve : callable, optional
        ``solve(problem) -> AllocationResult``, e.g. ``Client(target).solve``.
    profile_options : mapping, optional
        Keyword arguments for ``profile`` (levels, metric, layers, cache, ...).

    Returns
    -------
    list of PruneReport
        One per round, achieved sparsity and FLOPs.
    """
    batches = list(calib)
    solver = solve if solve is not None else _in_process(method)
    options = dict(profile_options or {})
    floor: dict[str, float] = {}
    dense: list[float] = []  # the dense total of ``resource``, measured in round 1 on rank 0
    reports = []
    for t in range(1, rounds + 1):

        def make_plan(t: int = t, floor: Mapping[str, float] = floor) -> AllocationResult:
            profiles = _bounded(profile(model, batches, **options), floor)
            if budget_fn is not None:
                budget = dict(budget_fn(t, profiles))
            else:
                if not dense:
                    dense.append(dense_cost(profiles, resource))
                density = schedule_density(schedule, t, rounds, final_sparsity, rate)
                budget = {resource: density * dense[0]}
            return solver(problem_for(model, profiles, budget))

        result = broadcast_plan(make_plan)
        reports.append(apply(model, result, example=batches[0]))
        floor = {name: float(s) for name, s in result.sparsity.items()}
        train_fn(model, t)
    return reports
