"""Public types of the measured search session: options, candidates, measurements, history."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "MODES",
    "RESOLVE_METHODS",
    "Candidate",
    "Measurement",
    "Record",
    "SearchClosedError",
    "SearchOptions",
    "SearchState",
]

MODES = ("swap", "resolve", "curves")
"""Every proposal mode by name."""

RESOLVE_METHODS = ("exact", "dp", "lagrangian", "milp")
"""The allocation methods a re-solve may use."""


class SearchState(enum.Enum):
    """Where a search session stands."""

    RUNNING = "running"
    """`ask` may return candidates (or none while told results are awaited)."""
    DONE = "done"
    """The evaluation budget is spent, or no new candidate could be proposed."""
    CANCELLED = "cancelled"
    """`cancel` was called; no more asks or tells."""


class SearchClosedError(RuntimeError):
    """`ask` or `tell` on a cancelled session."""


@dataclass(frozen=True, kw_only=True)
class SearchOptions:
    """How a search session proposes and selects candidates.

    Attributes
    ----------
    evaluations : int
        Total measurements (one per told candidate, whatever its sample count). A generation
        starts only if its whole cost, ``sum(candidates) + 1`` (the incumbent is re-measured in
        the last stage), fits in what is left.
    modes : tuple of str
        Proposal sources of the first stage, drawn round-robin: ``"swap"`` (1 to ``max_swaps``
        level swaps that keep every budget), ``"resolve"`` (the curves perturbed with the
        measured residuals, re-solved exactly), ``"curves"`` (re-profiled curves given with
        `SearchSession.tell_curves`; skipped until some are told).
    candidates : tuple of int
        Candidates per stage of successive halving, non-increasing, the last >= 1.
    samples : tuple of int, optional
        Sample count (the caller's unit: frames, batches, ...) of each stage, one per stage,
        non-decreasing; default ``4**s`` for stage ``s`` (1, 4, 16 for three stages). When the
        last one is the whole search calibration set, every final comparison is made on the
        same samples.
    max_swaps : int
        Most level swaps per ``"swap"`` mutation (each mutation draws 1 to ``max_swaps``).
        A swap moves its unit one level; every swap proposal of the generation that was
        already seen or found no move lets the next ones move it up to one level further (up
        to 16), so a small neighbourhood does not end the search.
    perturbation : float
        Relative standard deviation of the random multiplicative noise on each layer's curve
        in ``"resolve"``.
    resolve_method : str
        The `pruneplan.solver.allocate` method of ``"resolve"`` and ``"curves"``: ``"exact"``
        (certified; tens of milliseconds with several resources), ``"dp"``, ``"lagrangian"``
        or ``"milp"``. Every one returns plans within the budget.
    seed : int
        Seed of every random choice of the session.
    """

    evaluations: int = 300
    modes: tuple[str, ...] = MODES
    candidates: tuple[int, ...] = (16, 4, 1)
    samples: tuple[int, ...] | None = None
    max_swaps: int = 3
    perturbation: float = 0.1
    resolve_method: str = "exact"
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One allocation to measure; it meets every budget.

    Attributes
    ----------
    candidate_id : int
        Unique within the session, increasing.
    level_index, sparsity : mapping of str to int / float
        The plan, per layer name in the problem's order.
    usage : mapping of str to float
        Total per budgeted resource (each within ``budget * (1 + 1e-9)``).
    predicted : float
        The additive proxy: the sum of the problem's layer losses at the plan.
    samples : int
        Number of samples to measure it on.
    sample_set : int
        Which samples: candidates with the same ``sample_set`` and ``samples`` must be measured
        on the very same samples (every candidate of a stage shares them), e.g. the first
        ``samples`` of ``numpy.random.default_rng(sample_set).permutation(n)``.
    generation, stage : int
        Where it was asked; the incumbent is re-measured in the last stage.
    mode : str
        How the plan was proposed: ``"start"``, ``"swap"``, ``"resolve"`` or ``"curves"``.
    """

    candidate_id: int
    level_index: Mapping[str, int]
    sparsity: Mapping[str, float]
    usage: Mapping[str, float]
    predicted: float
    samples: int
    sample_set: int
    generation: int
    stage: int
    mode: str


@dataclass(frozen=True)
class Measurement:
    """The measured value of one candidate (lower is better) and its sample count."""

    candidate_id: int
    measured: float
    samples: int


@dataclass(frozen=True, kw_only=True)
class Record:
    """One told measurement, in the order they were told.

    ``incumbent`` is set when this measurement made or kept its plan the incumbent (the last
    stage of a generation).
    """

    candidate: Candidate
    measured: float
    samples: int
    incumbent: bool = field(default=False)
