"""Measured search on the real model: ask/tell candidates, measure them with the evaluator."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from pruneplan.solver import AllocationProblem, AllocationResult
from pruneplan.solver.search import (
    Candidate,
    Measurement,
    Record,
    SearchOptions,
    SearchSession,
    SearchState,
)

from ._context import frozen
from ._evaluator import Evaluator
from ._layers import Batch, find_layers, model_device, to_device
from ._metrics import Metric, split_targets

__all__ = ["SearchResult", "search"]

FINALISTS = 4
"""Plans compared on the held-out batches: the start and the best measured others."""


@dataclass(frozen=True, eq=False, kw_only=True)
class SearchResult(AllocationResult):
    """The searched plan (an ``AllocationResult``: ``apply`` takes it) and what it measured.

    Attributes
    ----------
    measured, holdout : float
        Joint distortion of the plan on the search batches and on the held-out batches
        (``nan`` without held-out batches).
    start_measured, start_holdout : float
        The same for the start plan (``exact``).
    evaluations : int
        Candidates measured by the session.
    forwards : float
        Batch forward passes run (the dense reference and the final comparison included).
    search_id : str
        The server's id of the session ("" in-process).
    """

    measured: float
    holdout: float
    start_measured: float
    start_holdout: float
    evaluations: int
    forwards: float
    search_id: str = ""


class _Session(Protocol):
    """What ``SearchSession`` and ``RemoteSearch`` share."""

    @property
    def state(self) -> SearchState: ...
    @property
    def history(self) -> tuple[Record, ...]: ...
    def ask(self, n: int = 1) -> list[Candidate]: ...
    def tell(self, results: Iterable[Measurement | tuple[int, float, int]]) -> None: ...
    def best(self) -> AllocationResult: ...
    def tell_curves(self, layers: Mapping[str, Sequence[float]]) -> None: ...


def search(
    model: nn.Module,
    problem: AllocationProblem,
    calib: Iterable[Batch],
    *,
    budget: Mapping[str, float] | None = None,
    evaluations: int = 300,
    metric: Metric = "kl",
    client: Any = None,
    progress: bool = True,
    holdout: float = 0.25,
    seed: int = 0,
    options: SearchOptions | None = None,
    reprofile: bool = True,
) -> SearchResult:
    r"""The plan of lowest measured joint distortion found by a budget-keeping search.

    .. math::
        \min_{s \in \mathcal{S}} D\big(f(x;\, M_{s_1}(W_1) \odot W_1, \dots,
        M_{s_n}(W_n) \odot W_n),\; f(x;\, W)\big)
        \quad \text{s.t.} \ \textstyle\sum_i c_{ir}(s_i) \le B_r \ \ \forall r

    where :math:`\mathcal{S}` is the problem's level grid, :math:`M_s` the magnitude mask
    keeping ``round(size * (1 - s))`` weights, :math:`D` the ``metric`` on calibration data
    :math:`x`, and :math:`c_{ir}, B_r` the problem's costs and budget. The additive proxy
    ``exact`` minimises (the sum of single-layer distortions) underestimates :math:`D` far
    from the dense model; this measures it. A search session (``SearchSession`` in-process,
    or ``client.create_search`` on a server: weights never leave the machine, only levels and
    numbers) starts from the exact plan and proposes budget-keeping level swaps and
    perturbed re-solves; candidates are measured here by successive halving over growing
    shares of the search batches.

    A share ``holdout`` of the batches is never used by the search. The start plan and the
    best measured candidates (``FINALISTS`` in all) are measured on it, and the lowest wins:
    searched plans measure 5-12% worse on unseen data than on the data they were picked on.

    With ``reprofile``, after every generation whose incumbent is a plan not profiled around
    yet, each layer's curve is measured around it (the other layers pruned to the incumbent's
    levels, as ``profile(around=...)`` and ``refine`` do) on the first stage's batches and told
    to the session (``tell_curves``): the source of its ``"curves"`` proposals. One such
    re-profile costs ``len(layers) * (len(levels) - 1)`` passes over those batches.

    Parameters
    ----------
    model : nn.Module
        The model ``problem`` was profiled on; left bit-identical.
    problem : AllocationProblem
        From ``problem_for``; its layers, levels, costs and budget.
    calib : iterable of Batch
        Calibration batches as for ``profile`` (pairs ``(inputs, targets)`` with
        ``loss_increase``); at least 2 with a held-out share. Samples are counted in batches:
        16-64 batches let the halving stages (1/16, 1/4, all of the search batches) differ.
    budget : mapping of str to float, optional
        Replaces ``problem``'s budget.
    evaluations : int
        Candidates the session may measure.
    metric : {"kl", "mse", "worst"}, LossIncrease or callable
        Lower is better, as in ``profile``. A task metric on labelled batches works through
        ``loss_increase``: ``loss_increase(lambda out, y: -(out.argmax(1) == y).double()
        .mean())`` searches for the least accuracy drop (clipped at 0). Past the accuracy
        cliff, distortion and task metric disagree: on the full CREPE at 85% sparsity a random
        plan of worse distortion scored 70% pitch accuracy. Choose the one you report.
    client : pruneplan.clients.Client, optional
        Run the session on this server (``client.create_search``); default in-process.
    progress : bool
        A progress bar (rich, on stderr) with the best measured distortion.
    holdout : float
        Share of the batches, in [0, 1), kept for the final pick (at least one batch if > 0).
    seed : int
        Seeds the split and the session.
    options : SearchOptions, optional
        The session's options; ``evaluations`` and ``seed`` above replace its own, and
        ``samples`` (None) become 1/16, 1/4 and all of the search batches.
    reprofile : bool
        Re-profile around each new incumbent and tell the curves (see above); without it, or
        without ``"curves"`` among ``options.modes``, the session proposes swaps and
        perturbed re-solves only.

    Returns
    -------
    SearchResult
        The plan (``method="search"``), its measured distortion on both parts and the start's.

    Examples
    --------
    >>> plan = search(model, problem_for(model, profiles, budget), calib)  # doctest: +SKIP
    >>> apply(model, plan)  # doctest: +SKIP
    """
    started = time.perf_counter()
    batches, targets = split_targets(metric, [to_device(b, model_device(model)) for b in calib])
    searched, held = _split(len(batches), holdout, seed)
    if budget is not None:
        problem = replace(problem, budget=dict(budget))
    opts = _options(options, evaluations, seed, len(searched))
    with frozen(model):
        found = _layers(model, problem)
        evaluator = Evaluator(model, found, batches, metric, targets)
        session: _Session = (
            SearchSession(problem, opts) if client is None else client.create_search(problem, opts)
        )
        curves = None
        if reprofile and "curves" in opts.modes:
            first = searched[: (opts.samples or (len(searched),))[0]]
            chosen = None if targets is None else [targets[i] for i in first]
            curves = _Curves(problem, Evaluator(model, found, [batches[i] for i in first],
                                                metric, chosen))  # fmt: skip
        _drive(session, evaluator, searched, opts, progress, curves)
        result = _pick(session, evaluator, searched, held)
    return replace(
        result,
        solve_time_s=time.perf_counter() - started,
        forwards=evaluator.forwards + (curves.evaluator.forwards if curves else 0.0),
        search_id=str(getattr(session, "search_id", "")),
    )


def _split(n: int, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """Search and held-out batch indices, by a seeded permutation."""
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout: must be in [0, 1); got {holdout}")
    n_held = 0 if holdout == 0.0 else max(1, round(holdout * n))
    if n - n_held < 1:
        raise ValueError(
            f"calib: holdout {holdout} of {n} batch(es) leaves none to search; pass at least "
            f"{n_held + 1} batches (split the calibration data into more, smaller batches)"
        )
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[n_held:].tolist()), sorted(order[:n_held].tolist())


def _options(options: SearchOptions | None, evaluations: int, seed: int, n: int) -> SearchOptions:
    opts = replace(options or SearchOptions(), evaluations=evaluations, seed=seed)
    if opts.samples is None:
        stages = len(opts.candidates)
        samples = tuple(max(1, n // 4 ** (stages - 1 - s)) for s in range(stages))
        opts = replace(opts, samples=samples)
    return opts


def _layers(model: nn.Module, problem: AllocationProblem) -> list[Any]:
    found = {layer.name: layer for layer in find_layers(model)}
    missing = [p.name for p in problem.layers if p.name not in found]
    if missing:
        raise ValueError(
            f"problem.layers: {missing} are not prunable layers of the model; expected names "
            f"among {sorted(found)}"
        )
    return [found[p.name] for p in problem.layers]


def _indices(candidate: Candidate, searched: Sequence[int]) -> list[int]:
    """The candidate's samples: the first ``samples`` of its sample set's permutation."""
    order = np.random.default_rng(candidate.sample_set).permutation(len(searched))
    return sorted(searched[i] for i in order[: candidate.samples])


@dataclass(eq=False)
class _Curves:
    """Re-profiles around the incumbent after each generation that ends on an unseen one."""

    problem: AllocationProblem
    evaluator: Evaluator
    seen: set[tuple[tuple[str, int], ...]] = field(default_factory=set)

    def update(self, session: _Session) -> None:
        """Tell curves measured around the incumbent if it is new and the session running."""
        if session.state is not SearchState.RUNNING:
            return
        incumbent = session.best()
        key = tuple(sorted(incumbent.level_index.items()))
        if key in self.seen:
            return
        self.seen.add(key)
        around = dict(incumbent.sparsity)
        curves = {}
        for p in self.problem.layers:
            levels = np.asarray(p.levels, dtype=np.float64).tolist()
            curves[p.name] = self.evaluator.curve_around(p.name, levels, around)
        session.tell_curves(curves)


def _drive(
    session: _Session,
    evaluator: Evaluator,
    searched: Sequence[int],
    opts: SearchOptions,
    progress: bool,
    curves: _Curves | None,
) -> None:
    """Ask, measure, tell until the session is done; the bar shows the best full measurement.
    After each generation's last stage, ``curves`` (if any) re-profiles a new incumbent."""
    last = len(opts.candidates) - 1
    with _bar(progress) as bar:
        task = bar.add_task("", total=opts.evaluations, best=math.nan, dense=math.nan)
        best, start, used = math.inf, math.nan, 0
        while session.state is SearchState.RUNNING:
            batch = session.ask(64)
            if not batch:
                break
            told = []
            for c in batch:
                measured = evaluator.measure(c.sparsity, _indices(c, searched))
                told.append((c.candidate_id, measured, c.samples))
                if c.samples == len(searched):
                    best = min(best, measured)
                    start = measured if c.mode == "start" and math.isnan(start) else start
            session.tell(told)
            if curves is not None and any(c.stage == last for c in batch):
                curves.update(session)
            used += len(told)
            bar.update(task, completed=used, best=best, dense=start)


def _bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("search"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("distortion {task.fields[best]:.4g} (start {task.fields[dense]:.4g})"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )


def _pick(
    session: _Session, evaluator: Evaluator, searched: Sequence[int], held: Sequence[int]
) -> SearchResult:
    """Of the start and the best fully measured candidates that beat it on the search batches,
    the lowest on the held-out batches (the lowest on the search batches without any).

    Only candidates below the start on the search batches are finalists, so the plan returned
    is never worse than the start there, nor (being picked against it) on the held-out ones.
    """
    best = session.best()
    history = session.history
    full = [r for r in history if r.samples == len(searched)]
    start = _start(history, best)
    scores: dict[tuple[int, ...], tuple[Candidate | None, float]] = {}
    for r in sorted(full, key=lambda r: r.measured):
        key = tuple(r.candidate.level_index[p] for p in r.candidate.level_index)
        if key not in scores or r.measured < scores[key][1]:
            scores[key] = (r.candidate, r.measured)
    start_key = tuple(start.values())
    if start_key not in scores:
        scores[start_key] = (None, evaluator.measure(_sparsity(best, start), searched))
    ranked = sorted(scores.items(), key=lambda kv: kv[1][1])
    below = [kv for kv in ranked if kv[0] != start_key and kv[1][1] < scores[start_key][1]]
    finalists = below[: FINALISTS - 1]
    finalists.insert(0, (start_key, scores[start_key]))
    rows = []
    for key, (candidate, measured) in finalists:
        sparsity = dict(candidate.sparsity) if candidate else _sparsity(best, start)
        on_held = evaluator.measure(sparsity, held) if held else math.nan
        rows.append((on_held if held else measured, measured, key, candidate, on_held))
    winner = min(rows, key=lambda row: (row[0], row[1]))
    start_row = rows[0]
    return _result(best, winner[3], winner[1], winner[4], start_row[1], start_row[4], session)


def _start(history: Sequence[Record], best: AllocationResult) -> dict[str, int]:
    """The start plan's level indices: its record's, or the incumbent's if nothing was told."""
    for r in history:
        if r.candidate.mode == "start":
            return dict(r.candidate.level_index)
    return dict(best.level_index)


def _sparsity(best: AllocationResult, level_index: Mapping[str, int]) -> dict[str, float]:
    if dict(best.level_index) == dict(level_index):
        return dict(best.sparsity)
    raise RuntimeError("search: the start plan was never measured nor is it the incumbent")


def _result(
    best: AllocationResult,
    winner: Candidate | None,
    measured: float,
    on_held: float,
    start_measured: float,
    start_held: float,
    session: _Session,
) -> SearchResult:
    base = best
    if winner is not None and dict(winner.level_index) != dict(best.level_index):
        base = replace(
            best,
            level_index=dict(winner.level_index),
            sparsity=dict(winner.sparsity),
            usage=dict(winner.usage),
            plan_id="",
        )
    message = (
        f"Measured search: distortion {measured:.6g} on the search batches, {on_held:.6g} held "
        f"out (start: {start_measured:.6g}, {start_held:.6g}); "
        f"{getattr(session, 'evaluations_used', 0)} evaluations."
    )
    header = {f.name: getattr(base, f.name) for f in fields(AllocationResult)}
    header.update(objective=measured, message=message)
    return SearchResult(
        **header,
        measured=measured,
        holdout=on_held,
        start_measured=start_measured,
        start_holdout=start_held,
        evaluations=int(getattr(session, "evaluations_used", 0)),
        forwards=0.0,
    )
