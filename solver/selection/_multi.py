r"""Several resources: Lagrangian multipliers by sifting, and a state search over the core.

.. math::
    \max_{x \in \{0,1\}^N} \sum_i v_i x_i \quad \text{s.t.} \quad C x \le B

where :math:`C` is the (R, N) cost matrix and :math:`B` the budgets. The multipliers
:math:`\lambda` minimise
:math:`L(\lambda) = \lambda^\top B + \sum_i \max(0, v_i - \lambda^\top c_i)` (the LP dual, side
constraints relaxed). They come from the LP on a band of items around the break: a small LP on
a sample gives a first :math:`\lambda`, items with reduced cost
:math:`r_i = v_i - \lambda^\top c_i` above the band are fixed in, those below fixed out, and
the band's LP gives the next :math:`\lambda`; once the fixed items keep the sign of their
reduced cost the band's LP optimum is the full LP's (complementary slackness). If the band does
not settle in a few widenings, HiGHS solves the full LP. Any :math:`\lambda \ge 0` gives a
valid bound.

The core (the free items after reduced-cost fixing) is searched breadth first: items in order
of :math:`|r_i|`, each state the value :math:`V` and usage :math:`U` of the decisions so far
(items after step :math:`t` out, or following the sign of their reduced cost: both are
selections, checked against the incumbent), a state dropped when a Lagrangian bound
:math:`V + \mu^\top (B - U) + \sum_{j > t} \max(0, v_j - \mu^\top c_j)` at any multiplier
:math:`\mu` of a small grid around :math:`\lambda` is no better than the incumbent. Past a
number of live states only those of the highest bound go on (a beam: a heuristic from there
on); the search is exact when it ends without that cut.

References
----------
G. B. Dantzig and P. Wolfe, "Decomposition principle for linear programs", Operations Research 8
(1960) (sifting / column generation on a restricted set of columns).
D. Pisinger, "A minimal algorithm for the 0-1 knapsack problem", Operations Research 45 (1997).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ._instance import B1, F64, I64, Instance

__all__ = ["SearchResult", "sifting_multipliers", "state_search"]

SAMPLE = 5000
"""Items in the sample LP that gives the first multipliers."""
BAND_ROUNDS = 3
"""Band widenings before the full LP (HiGHS, `_milp.lp_duals`) is solved instead."""
MAX_STATES = 1 << 12
"""Live states above which the state search goes on as a beam (and is no longer exact)."""
MAX_STORED = 1 << 23
"""Stored back-pointers (all steps together) above which the state search gives up."""
GRID = (1e-4, 1e-3, 1e-2)
"""Relative steps of the multiplier grid of the state search's bound."""


def _lp(values: F64, costs: F64, budget: F64) -> F64 | None:
    """Duals (>= 0) of the budget rows of the LP relaxation, ``None`` if it has none."""
    from scipy.optimize import linprog

    if values.size == 0:
        return None
    res = linprog(-values, A_ub=costs, b_ub=budget, bounds=(0.0, 1.0), method="highs")
    if res.status != 0:
        return None
    return np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)


def sifting_multipliers(inst: Instance, seed: int = 0) -> F64:
    """Multipliers of the budgets minimising :math:`L(\\lambda)` (see the module docstring)."""
    sel = np.flatnonzero(inst.per_item)
    values, costs = inst.values[sel], inst.costs[:, sel]
    budget = inst.budget - sum(
        (t[:, inst.allowed[g]].min(axis=1) for g, t in inst.tables.items()),
        np.zeros(inst.budget.size),
    )
    zero = np.zeros(inst.budget.size)
    if values.size <= 2 * SAMPLE:
        lam = _lp(values, costs, budget)
        return zero if lam is None else lam
    rng = np.random.default_rng(seed)
    sample = rng.choice(values.size, SAMPLE, replace=False)
    lam = _lp(values[sample], costs[:, sample], budget * (SAMPLE / values.size))
    lam = zero if lam is None else lam
    size = 2 * SAMPLE
    for _ in range(BAND_ROUNDS):
        if size >= values.size // 2:
            break
        width = float(np.partition(np.abs(values - lam @ costs), size)[size])
        size *= 2
        reduced = values - lam @ costs
        ones, zeros = reduced > width, reduced < -width
        band = ~ones & ~zeros
        new = _lp(values[band], costs[:, band], budget - costs[:, ones].sum(axis=1))
        if new is None:
            continue
        lam = new
        reduced = values - lam @ costs
        if not (np.any(ones & (reduced < 0)) or np.any(zeros & (reduced > 0))):
            return lam
    from ._milp import lp_duals

    return lp_duals(inst)


@dataclass
class SearchResult:
    """The best selection of the core found (``None``: none better than the incumbent), its
    value and whether the search ran to its end (then no better one exists)."""

    mask: B1 | None
    value: float
    complete: bool


def _grid(lam: F64) -> F64:
    """Multipliers around ``lam``: ``lam`` and steps along each axis, both ways."""
    scale = max(float(lam.max()), 1e-12)
    out = [lam]
    for r in range(lam.size):
        for step in GRID:
            for sign in (1.0, -1.0):
                mu = lam.copy()
                mu[r] += sign * step * scale
                out.append(mu)
    return np.maximum(np.array(out), 0.0)


def _suffix(values: F64, costs: F64, mus: F64) -> F64:
    """shape (K, m + 1): per multiplier, :math:`\\sum_{j \\ge t} \\max(0, v_j - \\mu^\\top c_j)`."""
    gain = np.maximum(values[None, :] - mus @ costs, 0.0)
    out = np.zeros((mus.shape[0], values.size + 1))
    out[:, :-1] = np.cumsum(gain[:, ::-1], axis=1)[:, ::-1]
    return out


def _walk(
    core: I64, parents: list[np.ndarray], taken: list[B1], step: int, index: int
) -> list[int]:
    """Core items taken in live state ``index`` after ``step`` (``step`` -1: none)."""
    out = []
    for s in range(step, -1, -1):
        if taken[s][index]:
            out.append(int(core[s]))
        index = int(parents[s][index])
    return out


def state_search(
    inst: Instance, lam: F64, base: B1, core: I64, z: float, eps: float, stop: float,
    width: int = MAX_STATES,
) -> SearchResult:  # fmt: skip
    """Best selection ``base`` plus a subset of ``core`` (in that order) worth more than ``z``.

    ``base`` (fixed in, disjoint from ``core``) is kept in every state; side constraints are
    not checked (the caller makes sure no count the core can make is refused). States whose
    bound is within ``eps`` of the best value are dropped. Past ``width`` live states only
    the ``width`` of the highest bound go on (a beam; the result is then not complete).
    """
    vc, cc, budget = inst.values[core], inst.costs[:, core], inst.budget
    mus = _grid(lam)
    suffix = _suffix(vc, cc, mus)
    # the selection a state stands for when the items after it follow their reduced cost
    default = (vc - lam @ cc) > 0
    rest_value = np.append(np.cumsum((vc * default)[::-1])[::-1], 0.0)
    rest_usage = np.zeros((budget.size, core.size + 1))
    rest_usage[:, :-1] = np.cumsum((cc * default)[:, ::-1], axis=1)[:, ::-1]
    value = np.array([float(inst.values[base].sum())])
    usage = (inst.costs @ base.astype(np.float64))[None, :]
    parents: list[np.ndarray] = []
    taken: list[B1] = []
    best, stored, complete = z, 0, True
    live = np.zeros(1, dtype=np.int64)
    where: tuple[int, int, bool, bool] | None = None
    for t in range(core.size):
        if time.perf_counter() > stop:
            return SearchResult(_mask(base, core, parents, taken, where, default), best, False)
        n = value.size
        value = np.concatenate([value, value + vc[t]])
        usage = np.concatenate([usage, usage + cc[:, t]])
        for tail in (False, True):
            extra_value = rest_value[t + 1] if tail else 0.0
            extra_usage = rest_usage[:, t + 1] if tail else 0.0
            fit = np.flatnonzero(np.all(usage + extra_usage <= budget, axis=1))
            if fit.size:
                i = int(fit[np.argmax(value[fit])])
                if value[i] + extra_value > best:
                    best = float(value[i] + extra_value)
                    where = (t, i % max(n, 1), i >= n, tail)
        bound = (value[:, None] + (budget - usage) @ mus.T + suffix[:, t + 1][None, :]).min(axis=1)
        live = np.flatnonzero(bound > best + eps)
        if live.size > width:  # a beam from here on: the states of the highest bound
            live = np.sort(live[np.argpartition(-bound[live], width)[:width]])
            complete = False
        parents.append((live % max(n, 1)).astype(np.int32))
        taken.append(live >= n)
        value, usage = value[live], usage[live]
        stored += live.size
        if live.size == 0 or stored > MAX_STORED:
            break
    complete = complete and (live.size == 0 or t == core.size - 1)
    return SearchResult(_mask(base, core, parents, taken, where, default), best, complete)


def _mask(
    base: B1,
    core: I64,
    parents: list[np.ndarray],
    taken: list[B1],
    where: tuple[int, int, bool, bool] | None,
    default: B1,
) -> B1 | None:
    """The selection of the best state: its step, its parent among the live states before,
    whether it takes the step's item, whether the items after follow ``default``."""
    if where is None:
        return None
    step, parent, took, tail = where
    items = _walk(core, parents, taken, step - 1, parent)
    if took:
        items.append(int(core[step]))
    mask = base.copy()
    mask[np.array(items, dtype=np.int64)] = True
    if tail:
        mask[core[step + 1 :][default[step + 1 :]]] = True
    return mask
