r"""The measured search session: ask for candidates, tell their measured values.

Each generation proposes ``candidates[0]`` new plans around the incumbent and selects by
successive halving: stage :math:`s` measures its candidates on ``samples[s]`` samples (all on
the same ones), the best ``candidates[s+1]`` go on; the last stage measures the incumbent again
beside its finalists, and a finalist replaces the incumbent only if it measured strictly lower on
those same samples. So the incumbent is never worse than the start plan on the samples it was
compared on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import (
    AllocationProblem,
    AllocationResult,
    InvalidProblemError,
    LayerProfile,
    Status,
    allocate,
)
from . import _propose, _validate
from ._space import Space
from ._types import Candidate, Measurement, Record, SearchClosedError, SearchOptions, SearchState

__all__ = ["SearchSession"]

I64 = NDArray[np.int64]
FORMAT = 1
"""Version of the `SearchSession.to_dict` layout."""
_ATTEMPTS_PER_CANDIDATE = 4
"""Proposal attempts per wanted candidate before a generation makes do with fewer."""


def _start_plan(space: Space, start: AllocationResult) -> I64:
    if not isinstance(start, AllocationResult):
        raise InvalidProblemError("start", "None or an AllocationResult", type(start).__name__)
    plan = space.from_layers(start.level_index, "start.level_index")
    if not space.fits(plan):
        raise InvalidProblemError("start", "a plan that meets every budget", "a plan over it")
    return plan


class SearchSession:
    """Ask/tell measured search over the allocations of one problem.

    Parameters
    ----------
    problem : AllocationProblem
        The allocation problem; its curves are the proxy the proposals start from.
    options : SearchOptions, optional
        Evaluation budget, proposal modes, halving stages, seed.
    start : AllocationResult, optional
        The plan to start from (default: ``allocate(problem)``, the exact plan).

    Raises
    ------
    InvalidProblemError
        A bad problem or option (the field named), or ``budget`` when no plan meets it.

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile
    >>> from pruneplan.solver.search import SearchOptions, SearchSession
    >>> layers = [LayerProfile(n, [0.0, 0.5, 0.9], [0.0, 0.1, 2.0], 100) for n in "abcd"]
    >>> search = SearchSession(AllocationProblem(layers, {"params": 200}),
    ...                        SearchOptions(evaluations=12, candidates=(4, 2), samples=(1, 4)))
    >>> while batch := search.ask(16):
    ...     search.tell([(c.candidate_id, c.predicted, c.samples) for c in batch])
    >>> search.state.name, search.evaluations_used, search.best().usage["params"] <= 200
    ('DONE', 7, True)
    """

    def __init__(
        self,
        problem: AllocationProblem,
        options: SearchOptions | None = None,
        start: AllocationResult | None = None,
    ) -> None:
        opts = _validate.options(options)
        if start is None:
            start = allocate(problem)  # validates the problem before the space trusts it
            if start.status is Status.INFEASIBLE or not start.level_index:
                raise InvalidProblemError("budget", "a budget some allocation meets", start.message)
        else:
            allocate(problem, method="uniform")  # validates the problem, cheaply
        self._setup(problem, opts)
        self._incumbent_plan = _start_plan(self._space, start)
        self._incumbent = self._candidate(self._incumbent_plan, "start", 0, 0, 0, 0, 0)
        self._open_generation()

    def _setup(self, problem: AllocationProblem, options: SearchOptions) -> None:
        self._problem = problem
        self._options = options
        self._samples = tuple(options.samples or ())
        self._space = Space.of(problem)
        self._rng = np.random.default_rng(options.seed)
        self._next_id = 1
        self._generation = 0
        self._stage = 0
        self._state = SearchState.RUNNING
        self._current: list[Candidate] = []
        self._plans: dict[int, I64] = {}
        self._asked = 0
        self._told: dict[int, Record] = {}
        self._history: list[Record] = []
        self._told_plans: list[I64] = []
        self._seen: set[bytes] = set()
        self._curves: dict[str, list[float]] | None = None
        self._incumbent_measured: float | None = None
        self._incumbent_samples = 0
        self._used = 0
        self._elapsed = 0.0

    # -- public interface ---------------------------------------------------------------------

    @property
    def problem(self) -> AllocationProblem:
        return self._problem

    @property
    def options(self) -> SearchOptions:
        return self._options

    @property
    def state(self) -> SearchState:
        return self._state

    @property
    def history(self) -> tuple[Record, ...]:
        """Every told measurement, in tell order."""
        return tuple(self._history)

    @property
    def evaluations_used(self) -> int:
        return self._used

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def pending(self) -> tuple[Candidate, ...]:
        """Asked candidates whose measurement is not told yet."""
        asked = self._current[: self._asked]
        return tuple(c for c in asked if c.candidate_id not in self._told)

    @property
    def incumbent(self) -> Candidate:
        """The best plan so far (first the start plan, mode ``"start"``)."""
        return self._incumbent

    def ask(self, n: int = 1) -> list[Candidate]:
        """Up to ``n`` candidates of the current stage not asked before.

        Empty while the stage waits for the measurements of asked candidates, and once the
        search is done. Every candidate meets every budget.

        Raises
        ------
        SearchClosedError
            If the session was cancelled.
        """
        count = _validate.integer(n, "n", lo=1)
        if self._state is SearchState.CANCELLED:
            raise SearchClosedError("the search was cancelled")
        batch = self._current[self._asked : self._asked + count]
        self._asked += len(batch)
        return batch

    def tell(self, results: Iterable[Measurement | Sequence[Any]]) -> None:
        """Record measurements ``(candidate_id, measured, samples)`` of asked candidates.

        Any order and batching; all of a call or none are recorded. When the stage is
        complete the session moves on (the next stage, or the next generation).

        Raises
        ------
        InvalidProblemError
            ``results[i].candidate_id`` unknown, not asked or told already;
            ``results[i].measured`` not finite; ``results[i].samples`` not the candidate's.
        SearchClosedError
            If the session was cancelled.
        """
        if self._state is SearchState.CANCELLED:
            raise SearchClosedError("the search was cancelled")
        records = self._check_tells(list(results))
        began = time.perf_counter()
        for record in records:
            self._told[record.candidate.candidate_id] = record
            self._history.append(record)
            self._told_plans.append(self._plans[record.candidate.candidate_id])
            self._used += 1
        if self._current and len(self._told) == len(self._current):
            self._advance()
        self._elapsed += time.perf_counter() - began

    def tell_curves(self, layers: Sequence[LayerProfile] | Mapping[str, ArrayLike]) -> None:
        """Re-profiled loss curves around the incumbent, the source of the ``"curves"`` mode.

        Same layers and levels as the problem (only ``loss`` is used; layers left out keep
        the problem's curve). The latest call wins; used from the next generation on.
        """
        if isinstance(layers, Mapping):
            given: Mapping[str, ArrayLike] = layers
        else:
            given = {layer.name: layer.loss for layer in layers}
        sizes = {layer.name: int(np.asarray(layer.levels).size) for layer in self._problem.layers}
        self._curves = _validate.curves(given, sizes)

    def best(self) -> AllocationResult:
        """The incumbent as a plan (``method="search"``, status ``FEASIBLE``).

        ``objective`` is its latest measured value (its predicted loss before any), with no
        lower bound; ``usage`` and ``limit`` are per budgeted resource.
        """
        c = self._incumbent
        measured = self._incumbent_measured
        detail = (
            "not measured yet"
            if measured is None
            else f"measured {measured:.6g} on {self._incumbent_samples} samples"
        )
        return AllocationResult(
            status=Status.FEASIBLE,
            level_index=dict(c.level_index),
            sparsity=dict(c.sparsity),
            objective=c.predicted if measured is None else measured,
            lower_bound=-math.inf,
            gap=math.inf,
            usage=dict(c.usage),
            limit=dict(zip(self._space.resources, self._space.budget.tolist(), strict=True)),
            method="search",
            solve_time_s=self._elapsed,
            message=(
                f"Measured search: plan from {c.mode!r}, {detail}; predicted {c.predicted:.6g}; "
                f"{self._used} evaluations in {self._generation} generations."
            ),
            fingerprint=self._problem.fingerprint,
        )

    def cancel(self) -> bool:
        """Stop the search; ``True`` if it was running."""
        was = self._state is SearchState.RUNNING
        if was:
            self._state = SearchState.CANCELLED
        return was

    # -- candidates and stages ----------------------------------------------------------------

    def _candidate(
        self,
        plan: I64,
        mode: str,
        samples: int,
        sample_set: int,
        generation: int,
        stage: int,
        cid: int,
    ) -> Candidate:
        levels = self._space.layer_levels(plan)
        usage = self._space.usage(plan)
        return Candidate(
            candidate_id=cid,
            level_index=dict(zip(self._space.names, levels, strict=True)),
            sparsity={
                name: float(grid[k])
                for name, grid, k in zip(self._space.names, self._space.levels, levels, strict=True)
            },
            usage=dict(zip(self._space.resources, usage.tolist(), strict=True)),
            predicted=self._space.predicted(plan),
            samples=samples,
            sample_set=sample_set,
            generation=generation,
            stage=stage,
            mode=mode,
        )

    def _open_stage(self, entries: Sequence[tuple[I64, str]]) -> None:
        """Candidates for ``entries`` (plan, mode) in the current stage; the incumbent joins
        the last stage."""
        opts = self._options
        last = self._stage == len(opts.candidates) - 1
        if last:
            entries = [*entries, (self._incumbent_plan, self._incumbent.mode)]
        samples = self._samples[self._stage]
        sample_set = self._generation * len(opts.candidates) + self._stage
        self._current, self._plans, self._told, self._asked = [], {}, {}, 0
        for plan, mode in entries:
            cid = self._next_id
            self._next_id += 1
            self._current.append(
                self._candidate(plan, mode, samples, sample_set, self._generation, self._stage, cid)
            )
            self._plans[cid] = plan
        if last:
            self._incumbent = self._current[-1]

    def _open_generation(self) -> None:
        opts = self._options
        self._stage = 0
        self._current, self._plans, self._told, self._asked = [], {}, {}, 0
        if self._used + _validate.generation_cost(opts) > opts.evaluations:
            self._state = SearchState.DONE
            return
        proposals = self._propose(opts.candidates[0])
        if not proposals:
            self._state = SearchState.DONE
            return
        self._open_stage(proposals)

    def _ranked(self) -> list[Record]:
        records = [self._told[c.candidate_id] for c in self._current]
        return sorted(
            records, key=lambda r: (r.measured, r.candidate.predicted, r.candidate.candidate_id)
        )

    def _advance(self) -> None:
        opts = self._options
        if self._stage < len(opts.candidates) - 1:
            keep = self._ranked()[: opts.candidates[self._stage + 1]]
            self._stage += 1
            entries = [(self._plans[r.candidate.candidate_id], r.candidate.mode) for r in keep]
            self._open_stage(entries)
            return
        self._conclude()
        self._generation += 1
        self._open_generation()

    def _conclude(self) -> None:
        """The last stage is told: the incumbent stays unless a finalist measured lower."""
        incumbent = self._incumbent
        kept = self._told[incumbent.candidate_id]
        finalists = [
            r for r in self._ranked() if r.candidate.candidate_id != incumbent.candidate_id
        ]
        winner = kept
        if finalists and finalists[0].measured < kept.measured:
            winner = finalists[0]
        cid = winner.candidate.candidate_id
        self._incumbent = winner.candidate
        self._incumbent_plan = self._plans[cid]
        self._incumbent_measured = winner.measured
        self._incumbent_samples = winner.samples
        for i in range(len(self._history) - 1, -1, -1):
            if self._history[i].candidate.candidate_id == cid:
                self._history[i] = Record(
                    candidate=winner.candidate,
                    measured=winner.measured,
                    samples=winner.samples,
                    incumbent=True,
                )
                break

    # -- proposals ----------------------------------------------------------------------------

    def _propose(self, count: int) -> list[tuple[I64, str]]:
        """Up to ``count`` new plans around the incumbent, from the modes in turn."""
        modes = [m for m in self._options.modes if m != "curves" or self._curves is not None]
        weights = None
        if "resolve" in modes:
            values = [r.measured for r in self._history]
            weights = _propose.residual_weights(self._space, self._told_plans, values)
        out: list[tuple[I64, str]] = []
        fresh = {m: 0 for m in modes}  # failed attempts per mode: widens the perturbation
        self._seen.add(self._incumbent_plan.tobytes())
        for attempt in range(_ATTEMPTS_PER_CANDIDATE * count):
            if len(out) == count:
                break
            mode = modes[attempt % len(modes)]
            plan = self._proposal(mode, weights, fresh[mode])
            if plan is None or plan.tobytes() in self._seen:
                fresh[mode] += 1
                continue
            self._seen.add(plan.tobytes())
            out.append((plan, mode))
        return out

    def _proposal(self, mode: str, weights: NDArray[np.float64] | None, misses: int) -> I64 | None:
        parent = self._incumbent_plan
        if mode == "swap":
            # A neighbourhood already seen widens: each miss of this generation lets the
            # swaps reach one level further (up to 16).
            count = int(self._rng.integers(1, self._options.max_swaps + 1))
            return _propose.swaps(self._space, parent, count, self._rng, 1 + min(misses, 15))
        sigma = self._options.perturbation * min(2.0**misses, 16.0)
        noise = np.exp(sigma * self._rng.standard_normal(len(self._space.units)))
        if mode == "resolve":
            assert weights is not None
            curves = None
            factors = weights * noise
        else:
            curves, factors = self._curves, noise
        method = self._options.resolve_method
        return _propose.resolve(self._problem, self._space, factors, curves, method)

    # -- validation of tells ------------------------------------------------------------------

    def _check_tells(self, results: list[Measurement | Sequence[Any]]) -> list[Record]:
        waiting = {c.candidate_id: c for c in self.pending}
        records: list[Record] = []
        seen: set[int] = set()
        for i, item in enumerate(results):
            where = f"results[{i}]"
            if isinstance(item, Measurement):
                cid, value, samples = item.candidate_id, item.measured, item.samples
            elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 3:
                cid, value, samples = item
            else:
                raise InvalidProblemError(
                    where, "a Measurement or (candidate_id, measured, samples)", repr(item)[:60]
                )
            cid = _validate.integer(cid, f"{where}.candidate_id")
            if cid not in waiting or cid in seen:
                ids = ", ".join(str(c) for c in waiting if c not in seen)
                raise InvalidProblemError(
                    f"{where}.candidate_id",
                    f"the id of an asked candidate not told yet ({ids or 'none pending'})",
                    str(cid),
                )
            seen.add(cid)
            candidate = waiting[cid]
            value = _validate.measured(value, f"{where}.measured")
            samples = _validate.integer(samples, f"{where}.samples", lo=1)
            if samples != candidate.samples:
                raise InvalidProblemError(
                    f"{where}.samples",
                    f"the candidate's sample count ({candidate.samples})",
                    str(samples),
                )
            records.append(Record(candidate=candidate, measured=value, samples=samples))
        return records

    # -- persistence --------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-able data (the problem is not included)."""
        return {
            "format": FORMAT,
            "options": {f.name: getattr(self._options, f.name) for f in fields(self._options)},
            "rng": self._rng.bit_generator.state,
            "next_id": self._next_id,
            "generation": self._generation,
            "stage": self._stage,
            "state": self._state.value,
            "current": [_dump(c) for c in self._current],
            "asked": self._asked,
            "told": [
                _dump_record(self._told[c.candidate_id])
                for c in self._current
                if c.candidate_id in self._told
            ],
            "history": [_dump_record(r) for r in self._history],
            "incumbent": _dump(self._incumbent),
            "incumbent_measured": self._incumbent_measured,
            "incumbent_samples": self._incumbent_samples,
            "seen": sorted(p.hex() for p in self._seen),
            "curves": self._curves,
            "used": self._used,
            "elapsed": self._elapsed,
        }

    @classmethod
    def from_dict(cls, problem: AllocationProblem, data: Mapping[str, Any]) -> SearchSession:
        """Rebuild a session from `to_dict`; it continues exactly as the original would."""
        if data.get("format") != FORMAT:
            raise InvalidProblemError("format", f"{FORMAT}", repr(data.get("format")))
        raw = dict(data["options"])
        raw["modes"], raw["candidates"] = tuple(raw["modes"]), tuple(raw["candidates"])
        raw["samples"] = tuple(raw["samples"])
        self = cls.__new__(cls)
        self._setup(problem, _validate.options(SearchOptions(**raw)))
        self._rng.bit_generator.state = data["rng"]
        self._next_id, self._generation = int(data["next_id"]), int(data["generation"])
        self._stage, self._state = int(data["stage"]), SearchState(data["state"])
        self._current = [self._load(c) for c in data["current"]]
        self._plans = {c.candidate_id: self._unit_plan(c) for c in self._current}
        self._asked = int(data["asked"])
        self._history = [self._load_record(r) for r in data["history"]]
        self._told_plans = [self._unit_plan(r.candidate) for r in self._history]
        by_id = {c.candidate_id: c for c in self._current}
        told = [self._load_record(r, by_id) for r in data["told"]]
        self._told = {r.candidate.candidate_id: r for r in told}
        self._incumbent = self._load(data["incumbent"])
        self._incumbent_plan = self._unit_plan(self._incumbent)
        if self._current and self._stage == len(self._options.candidates) - 1:
            self._incumbent = self._current[-1]
        self._incumbent_measured = data["incumbent_measured"]
        self._incumbent_samples = int(data["incumbent_samples"])
        self._seen = {bytes.fromhex(p) for p in data["seen"]}
        self._curves = data["curves"]
        self._used, self._elapsed = int(data["used"]), float(data["elapsed"])
        return self

    def _unit_plan(self, c: Candidate) -> I64:
        return self._space.from_layers(c.level_index, "level_index")

    def _load(self, d: Mapping[str, Any]) -> Candidate:
        plan = self._space.from_layers(list(d["plan"]), "plan")
        numbers = (int(d[k]) for k in ("samples", "sample_set", "generation", "stage", "id"))
        return self._candidate(plan, str(d["mode"]), *numbers)

    def _load_record(
        self, d: Mapping[str, Any], by_id: Mapping[int, Candidate] | None = None
    ) -> Record:
        cid = int(d["candidate"]["id"])
        c = by_id[cid] if by_id and cid in by_id else self._load(d["candidate"])
        return Record(
            candidate=c,
            measured=float(d["measured"]),
            samples=int(d["samples"]),
            incumbent=bool(d["incumbent"]),
        )


def _dump(c: Candidate) -> dict[str, Any]:
    return {
        "id": c.candidate_id,
        "plan": list(c.level_index.values()),
        "mode": c.mode,
        "samples": c.samples,
        "sample_set": c.sample_set,
        "generation": c.generation,
        "stage": c.stage,
    }


def _dump_record(r: Record) -> dict[str, Any]:
    return {
        "candidate": _dump(r.candidate),
        "measured": r.measured,
        "samples": r.samples,
        "incumbent": r.incumbent,
    }
