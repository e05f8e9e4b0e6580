"""Baselines users compare against: uniform, ERK, global magnitude, LAMP and random search.

Each baseline is a rule with one scalar: a common sparsity, a density scale, a magnitude or
LAMP threshold. The rule is applied as its paper states it, each layer's target is snapped to
the layer's level grid, and the scalar is searched by bisection over the values at which the
snapped plan changes. The plan returned is the least pruned one the rule allows within every
budgeted resource; groups take one level index (the sparsest that a member's rule asks for),
and ``[min_sparsity, max_sparsity]`` clips every level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._checks import Interval
from .._errors import InvalidProblemError
from .._result import Status, deadline
from .._tolerance import BUDGET_RTOL, SNAP_TOL
from ._instance import F64, I64, Instance, Solution
from ._validate import layer_label

RANDOM_OPTIONS: dict[str, Interval] = {"n_samples": Interval(1, 10**7, integer=True)}

Mask = NDArray[np.bool_]

_RANDOM_STEPS = 2**32
"""Positions of the density-scale search of one random sample (32 bisection steps)."""


@dataclass(frozen=True, eq=False)
class _Grid:
    """The options of every item, flattened: option ``k`` of item ``j`` is ``start[j] + k``."""

    owner: I64
    """shape (L,): item of each layer."""
    first: I64
    """shape (J,): level index of each item's option 0."""
    count: I64
    """shape (J,): number of options of each item."""
    start: I64
    """shape (J,): offset of each item's options in the flat arrays."""
    sparsity: F64
    """shape (O,): level of every option (the members of a group share their levels)."""
    loss: F64
    """shape (O,): loss of every option."""
    costs: F64
    """shape (R, O): cost of every option per budgeted resource."""
    budget: F64
    """shape (R,)."""


def _grid(inst: Instance) -> _Grid:
    cols = inst.columns
    first = np.array([item.first for item in inst.items], dtype=np.int64)
    heads = [inst.layers[item.members[0]].levels for item in inst.items]
    return _Grid(
        owner=inst.item_of_layer(),
        first=first,
        count=cols.count,
        start=cols.start,
        sparsity=np.concatenate(
            [lv[f : f + c] for lv, f, c in zip(heads, first, cols.count, strict=True)]
        ),
        loss=cols.loss,
        costs=cols.costs,
        budget=inst.budget,
    )


def _padded(rows: Sequence[F64]) -> F64:
    """Stack rows of different lengths into shape (L, max length), padded with ``+inf``."""
    out = np.full((len(rows), max(row.size for row in rows)), np.inf)
    for i, row in enumerate(rows):
        out[i, : row.size] = row
    return out


def _round_up(levels: F64, target: F64) -> I64:
    """Per row, the index of the smallest level >= ``target`` (the row length if none)."""
    index: I64 = np.sum(levels < target[:, None] - SNAP_TOL, axis=1).astype(np.int64)
    return index


def _round_down(keys: F64, threshold: float) -> I64:
    """Per row, the index of the largest key <= ``threshold`` (-1 if none)."""
    index: I64 = np.sum(keys <= threshold, axis=1).astype(np.int64) - 1
    return index


def _choice(grid: _Grid, level_index: I64) -> I64:
    """Option per item from a wished level per layer: the group's sparsest, then the bounds."""
    top = np.full(grid.first.size, -1, dtype=np.int64)
    np.maximum.at(top, grid.owner, level_index)
    choice: I64 = np.clip(top - grid.first, 0, grid.count - 1)
    return choice


def _usage(grid: _Grid, choice: I64) -> F64:
    """Total cost per resource of choices of shape (..., J): shape (R, ...)."""
    usage: F64 = grid.costs[:, grid.start + choice].sum(axis=-1)
    return usage


def _fits(grid: _Grid, choice: I64) -> Mask:
    usage = _usage(grid, choice)
    limit = grid.budget.reshape((-1,) + (1,) * (usage.ndim - 1)) * (1.0 + BUDGET_RTOL)
    ok: Mask = np.all(usage <= limit, axis=0)
    return ok


def _bisect(fits: Callable[[I64], Mask], last: int, n: int) -> tuple[I64, Mask]:
    """Smallest position in ``[0, last]`` at which ``fits`` holds, for ``n`` searches at once.

    Positions run from the least to the most pruned plan, so ``fits`` is monotone when costs
    fall with sparsity; the position returned always fits where ``fits(last)`` does (second
    output), whatever the costs.
    """
    lo = np.full(n, -1, dtype=np.int64)
    hi = np.full(n, last, dtype=np.int64)
    ok_last = fits(hi)
    while np.any(hi - lo > 1):
        mid = (lo + hi) // 2
        ok = fits(mid)
        hi, lo = np.where(ok, mid, hi), np.where(ok, lo, mid)
    return hi, ok_last


def _too_much(grid: _Grid, choice: I64, resources: Sequence[str]) -> str:
    usage = _usage(grid, choice)
    over = np.flatnonzero(usage > grid.budget * (1.0 + BUDGET_RTOL)).tolist()
    return ", ".join(f"{resources[r]} {usage[r]:.6g} > {grid.budget[r]:.6g}" for r in over)


def snap_and_bisect(
    inst: Instance,
    name: str,
    scalar: str,
    candidates: F64,
    wish: Callable[[float], I64],
) -> Solution:
    r"""Apply a one-scalar rule on the level grid with the least pruning that fits the budget.

    .. math::
        t^\star = \min \{ t \in T : \textstyle\sum_j c^r_j(k_j(t)) \le B^r \;\; \forall r \}

    where :math:`T` is ``candidates`` (ordered from the least to the most pruned plan),
    :math:`k_j(t)` the option of item :math:`j` under the rule at :math:`t` (``wish`` gives a
    level per layer; a group takes its members' largest, the bounds clip it),
    :math:`c^r_j` its cost in resource :math:`r` and :math:`B^r` the budget.

    Parameters
    ----------
    inst : Instance
    name, scalar : str
        The baseline and its scalar, for the message.
    candidates : ndarray, shape (T,)
        Every value at which the snapped plan can change.
    wish : callable
        ``wish(t)`` -> ndarray of int, shape (L,): the level index each layer's rule asks for.

    Returns
    -------
    Solution
        ``FEASIBLE`` with the plan at :math:`t^\star`, or ``INFEASIBLE`` when even the most
        pruned plan of the rule exceeds a budget.

    Notes
    -----
    :math:`O(\log T)` evaluations of :math:`O(L K)` each.
    """
    grid = _grid(inst)

    def plan(position: int) -> I64:
        return _choice(grid, wish(float(candidates[position])))

    best, ok = _bisect(lambda pos: _fits(grid, plan(int(pos[0])))[None], candidates.size - 1, 1)
    if not ok[0]:
        over = _too_much(grid, plan(candidates.size - 1), inst.resources)
        return Solution(
            Status.INFEASIBLE,
            None,
            message=f"{name}: the rule's most pruned plan exceeds the budget ({over}); "
            "methods not bound to the rule may still fit.",
        )
    value = float(candidates[best[0]])
    return Solution(
        Status.FEASIBLE,
        plan(int(best[0])),
        message=f"{name}: {scalar} = {value:.6g}, the least pruning of the rule within budget.",
    )


def _require(inst: Instance, field: str, method: str, why: str) -> None:
    for i, layer in enumerate(inst.layers):
        if getattr(layer, field) is None:
            raise InvalidProblemError(
                f"layers[{i}].{field}",
                f"given for method {method!r} ({why})",
                "None",
                label=f"{layer_label(i, layer.name)}.{field}",
            )


def solve_uniform(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    r"""The same sparsity for every layer: the smallest common level that fits every budget.

    .. math::
        s_i = \min \{ \ell \in \mathcal{L}_i : \ell \ge s \}, \qquad
        s = \min \{ s \in \textstyle\bigcup_i \mathcal{L}_i : \text{the plan fits} \}

    where :math:`\mathcal{L}_i` is the set of levels of layer :math:`i` within
    ``[min_sparsity, max_sparsity]`` (its largest one if none reaches :math:`s`) and
    :math:`s` the common target.

    Parameters
    ----------
    inst : Instance
    time_limit, seed
        Unused (the rule is deterministic and fast).

    Returns
    -------
    Solution

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, allocate
    >>> layers = [LayerProfile(n, [0.0, 0.5, 0.75, 0.9], [0.0, 0.1, 0.3, 0.9], 100) for n in "ab"]
    >>> dict(allocate(AllocationProblem(layers, {"params": 60}), method="uniform").sparsity)
    {'a': 0.75, 'b': 0.75}
    """
    del time_limit, seed
    levels = _padded([layer.levels for layer in inst.layers])
    candidates = np.unique(levels[np.isfinite(levels)])
    n = len(inst.layers)
    return snap_and_bisect(
        inst, "uniform", "common sparsity", candidates, lambda s: _round_up(levels, np.full(n, s))
    )


def solve_erk(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    r"""Erdős–Rényi-Kernel densities (Evci et al., 2020), snapped up to the level grid.

    .. math::
        d_i(\epsilon) = \min\!\Big(1,\; \epsilon\, \frac{\sum_a n^a_i}{\prod_a n^a_i}\Big),
        \qquad s_i = \min \{ \ell \in \mathcal{L}_i : \ell \ge 1 - d_i(\epsilon) \}

    where :math:`n^a_i` are the dimensions of layer :math:`i`'s weight (``shape``),
    :math:`\epsilon` the density scale (the largest that fits every budget) and
    :math:`\mathcal{L}_i` the layer's allowed levels.

    Parameters
    ----------
    inst : Instance
        Every layer needs ``shape``.
    time_limit, seed
        Unused.

    Returns
    -------
    Solution

    Raises
    ------
    InvalidProblemError
        If a layer has no ``shape``.

    Notes
    -----
    RigL fixes the layers whose density would exceed 1 dense and re-solves :math:`\epsilon`
    for the rest until none does; the result is exactly :math:`\min(1, \epsilon r_i)` with
    the final :math:`\epsilon`, which is what the search over :math:`\epsilon` evaluates.
    Candidates are the :math:`\epsilon = (1 - \ell_{ik}) / r_i` at which a layer reaches a
    level; :math:`O(\log(LK))` evaluations of :math:`O(LK)`.

    References
    ----------
    .. [1] U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen, "Rigging the Lottery: Making
       All Tickets Winners", ICML 2020 (ERK: appendix and ``sparse_utils.get_sparsities``).

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, allocate
    >>> grid, loss = [0.0, 0.25, 0.5, 0.75], [0.0, 0.1, 0.2, 0.4]
    >>> layers = [LayerProfile("fc1", grid, loss, 100, shape=(10, 10)),
    ...           LayerProfile("fc2", grid, loss, 4, shape=(2, 2))]
    >>> dict(allocate(AllocationProblem(layers, {"params": 54}), method="erk").sparsity)
    {'fc1': 0.5, 'fc2': 0.0}
    """
    del time_limit, seed
    _require(inst, "shape", "erk", "ERK density is proportional to sum(shape) / prod(shape)")
    raw = np.array([sum(lay.shape or ()) / math.prod(lay.shape or ()) for lay in inst.layers])
    levels = _padded([layer.levels for layer in inst.layers])
    breaks = (1.0 - levels) / raw[:, None]
    candidates = np.unique(breaks[np.isfinite(breaks)])[::-1]
    return snap_and_bisect(
        inst, "erk", "density scale eps", candidates, lambda e: _round_up(levels, 1.0 - e * raw)
    )


def solve_global_magnitude(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    r"""One magnitude threshold for all layers (global magnitude pruning).

    .. math::
        k_i(\tau) = \max \{ k : m_{ik} \le \tau \}

    where :math:`m_{ik}` is the magnitude at which level :math:`k` of layer :math:`i` cuts
    (``magnitudes``) and :math:`\tau` the global threshold, the smallest that fits every
    budget. A layer with no cut below :math:`\tau` keeps its least pruned allowed level.

    Parameters
    ----------
    inst : Instance
        Every layer needs ``magnitudes``.
    time_limit, seed
        Unused.

    Returns
    -------
    Solution

    Raises
    ------
    InvalidProblemError
        If a layer has no ``magnitudes``.

    Notes
    -----
    Pruning every weight with :math:`|w| \le \tau` gives each layer a sparsity between two
    levels; the layer takes the lower one and :math:`\tau` rises until the plan fits.
    Candidates are the cut magnitudes; :math:`O(\log(LK))` evaluations of :math:`O(LK)`.

    References
    ----------
    .. [1] D. Blalock, J. J. Gonzalez Ortiz, J. Frankle, J. Guttag, "What is the State of
       Neural Network Pruning?", MLSys 2020 (global magnitude pruning).

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, allocate
    >>> grid, loss = [0.0, 0.5, 0.75], [0.0, 0.1, 0.2]
    >>> layers = [LayerProfile("a", grid, loss, 100, magnitudes=[0.0, 0.1, 0.3]),
    ...           LayerProfile("b", grid, loss, 100, magnitudes=[0.0, 0.05, 0.4])]
    >>> result = allocate(AllocationProblem(layers, {"params": 80}), method="global_magnitude")
    >>> dict(result.sparsity)
    {'a': 0.75, 'b': 0.5}
    """
    del time_limit, seed
    _require(inst, "magnitudes", "global_magnitude", "the weight magnitude at which levels cut")
    keys = [layer.magnitudes for layer in inst.layers if layer.magnitudes is not None]
    return _threshold_rule(inst, "global_magnitude", "threshold", keys)


def _threshold_rule(inst: Instance, name: str, scalar: str, keys: Sequence[F64]) -> Solution:
    """One global threshold on a non-decreasing key per level: each layer takes the last
    level whose key is at most the threshold (see `snap_and_bisect`)."""
    padded = _padded(keys)
    candidates = np.unique(padded[np.isfinite(padded)])
    return snap_and_bisect(inst, name, scalar, candidates, lambda t: _round_down(padded, t))


def lamp_scores(levels: F64, magnitudes: F64, size: int) -> F64:
    r"""LAMP score of the weight at which each level cuts, from the cut magnitudes alone.

    .. math::
        s_k = \frac{m_k^2}{m_k^2 + \sum_{j \ge k} Q_j}, \qquad
        Q_j = \sum_{u=1}^{c_j} \Big(m_j + (m_{j+1} - m_j) \frac{u}{c_j}\Big)^2

    where :math:`m_k` is the magnitude at which level :math:`k` cuts,
    :math:`c_j = n (\ell_{j+1} - \ell_j)` the number of weights between cuts :math:`j` and
    :math:`j+1` (:math:`\ell_K = 1`), :math:`n` = ``size``, :math:`Q_j` their sum of squares
    and :math:`m_K = m_{K-1} + c_{K-1} (m_{K-1} - m_{K-2}) / c_{K-2}` the largest weight.

    Parameters
    ----------
    levels, magnitudes : ndarray, shape (K,)
        Levels (ascending) and the magnitude at which each cuts (non-decreasing).
    size : int
        Number of weights of the layer.

    Returns
    -------
    ndarray, shape (K,)
        Non-decreasing scores in [0, 1] (0 where nothing survives but zeros).

    Notes
    -----
    The paper scores weight :math:`u` (ascending magnitude) by
    :math:`W_u^2 / \sum_{v \ge u} W_v^2`; only the cut magnitudes are known here, so the
    weights between two cuts are taken linear in rank, and those above the last cut continue
    the last slope (the same magnitude if there is one level). With one level per weight
    (:math:`\ell_k = k/n`, :math:`m_0 = 0`) the scores equal the paper's exactly.

    References
    ----------
    .. [1] J. Lee, S. Park, S. Mo, S. Ahn, J. Shin, "Layer-adaptive sparsity for the
       magnitude-based pruning", ICLR 2021.

    Examples
    --------
    >>> import numpy as np
    >>> lamp_scores(np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 3.0]), 4).tolist()
    [0.0, 0.07142857142857142, 1.0]
    """
    c = size * np.diff(np.append(levels, 1.0))
    a = magnitudes
    slope = (a[-1] - a[-2]) / c[-2] if a.size > 1 else 0.0
    d = np.append(a[1:], a[-1] + slope * c[-1]) - a
    safe = np.where(c > 0, c, 1.0)
    bins = c * a**2 + a * d * (c + 1) + d**2 * (c + 1) * (2 * c + 1) / (6 * safe)
    above = np.cumsum(np.where(c > 0, bins, 0.0)[::-1])[::-1]
    total = a**2 + above
    scores: F64 = np.divide(a**2, total, out=np.zeros_like(total), where=total > 0)
    return scores


def solve_lamp(inst: Instance, *, time_limit: float | None, seed: int) -> Solution:
    r"""Layer-adaptive magnitude pruning (LAMP): one global threshold on LAMP scores.

    .. math::
        k_i(\tau) = \max \{ k : s_{ik} \le \tau \}

    where :math:`s_{ik}` is the LAMP score of the weight at which level :math:`k` of layer
    :math:`i` cuts (see `lamp_scores`) and :math:`\tau` the global threshold, the smallest
    that fits every budget.

    Parameters
    ----------
    inst : Instance
        Every layer needs ``magnitudes``.
    time_limit, seed
        Unused.

    Returns
    -------
    Solution

    Raises
    ------
    InvalidProblemError
        If a layer has no ``magnitudes``.

    Notes
    -----
    Within a layer LAMP scores rise with magnitude, so a global score threshold prunes each
    layer by magnitude up to a level; :math:`O(\log(LK))` evaluations of :math:`O(LK)`.

    References
    ----------
    .. [1] J. Lee, S. Park, S. Mo, S. Ahn, J. Shin, "Layer-adaptive sparsity for the
       magnitude-based pruning", ICLR 2021.

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, allocate
    >>> grid, loss = [0.0, 0.5, 0.75], [0.0, 0.1, 0.2]
    >>> layers = [LayerProfile("a", grid, loss, 100, magnitudes=[0.0, 0.1, 0.3]),
    ...           LayerProfile("b", grid, loss, 100, magnitudes=[0.0, 0.05, 0.4])]
    >>> dict(allocate(AllocationProblem(layers, {"params": 80}), method="lamp").sparsity)
    {'a': 0.5, 'b': 0.75}
    """
    del time_limit, seed
    _require(inst, "magnitudes", "lamp", "LAMP scores come from the cut magnitudes")
    keys = [
        lamp_scores(layer.levels, layer.magnitudes, layer.size)
        for layer in inst.layers
        if layer.magnitudes is not None
    ]
    return _threshold_rule(inst, "lamp", "LAMP threshold", keys)


def _random_plans(grid: _Grid, raw: F64) -> tuple[I64, Mask]:
    """For each row of random densities, the largest density scale that fits, snapped up."""
    band = 3.0 * np.arange(grid.first.size)
    flat = grid.sparsity + np.repeat(band, grid.count)

    def plan(position: I64) -> I64:
        eps = np.tan(0.5 * np.pi * (1.0 - position / _RANDOM_STEPS))
        target = np.clip(1.0 - eps[:, None] * raw, -1.0, 1.5) + band - SNAP_TOL
        index: I64 = np.clip(np.searchsorted(flat, target) - grid.start, 0, grid.count - 1)
        return index

    best, ok = _bisect(lambda pos: _fits(grid, plan(pos)), _RANDOM_STEPS, raw.shape[0])
    return plan(best), ok


def solve_random(
    inst: Instance, *, time_limit: float | None, seed: int, n_samples: int = 1000
) -> Solution:
    r"""Random search: the best of ``n_samples`` random allocations that fit the budget.

    .. math::
        d_{sj} = \min(1, \epsilon_s u_{sj}), \quad u_{sj} \sim \mathcal{U}[0, 1), \qquad
        \hat{s} = \arg\min_s \textstyle\sum_j \ell_j(k_{sj})

    where :math:`u_{sj}` is the random relative density of item :math:`j` in sample
    :math:`s`, :math:`\epsilon_s` the largest density scale with which the sample fits every
    budget, :math:`k_{sj}` the smallest allowed level >= :math:`1 - d_{sj}` and
    :math:`\ell_j` the item's loss.

    Parameters
    ----------
    inst : Instance
    time_limit : float, optional
        Seconds; checked between chunks of samples.
    seed : int
        Seed of the ``numpy.random.Generator``.
    n_samples : int
        Number of random allocations.

    Returns
    -------
    Solution
        ``FEASIBLE`` (``TIME_LIMIT`` if stopped early) with the best sample.

    Notes
    -----
    Every sample is scaled to the budget like ERK with random layer ratios, so each is
    feasible and spends the budget as fully as its profile allows. Samples are evaluated in
    vectorised chunks: :math:`O(N J \log(JK))` per bisection step, 32 steps.

    References
    ----------
    .. [1] R. Farahani, "Random Search as a Baseline for Sparse Neural Network Architecture
       Search", arXiv:2403.08265, 2024.

    Examples
    --------
    >>> from pruneplan.solver import AllocationProblem, LayerProfile, allocate
    >>> layers = [LayerProfile("a", [0.0, 0.5, 0.9], [0.0, 0.1, 2.0], 100),
    ...           LayerProfile("b", [0.0, 0.5, 0.9], [0.0, 0.4, 0.5], 100)]
    >>> result = allocate(AllocationProblem(layers, {"params": 80}), method="random", seed=1)
    >>> result.status.name, result.usage["params"] <= 80
    ('FEASIBLE', True)
    """
    grid = _grid(inst)
    rng = np.random.default_rng(seed)
    stop = deadline(time_limit)
    chunk = max(1, min(n_samples, 4096, 2**20 // max(1, grid.first.size * grid.budget.size)))
    best: I64 | None = None
    best_loss, done, feasible = math.inf, 0, 0
    while done < n_samples and (best is None or time.perf_counter() < stop):
        raw = rng.random((min(chunk, n_samples - done), grid.first.size))
        plans, ok = _random_plans(grid, raw)
        loss = np.where(ok, grid.loss[grid.start + plans].sum(axis=1), math.inf)
        if loss.min() < best_loss:
            best, best_loss = plans[int(np.argmin(loss))], float(loss.min())
        done, feasible = done + raw.shape[0], feasible + int(ok.sum())
    if best is None:
        return Solution(
            Status.INFEASIBLE, None, message=f"random: none of {done} samples fits the budget."
        )
    status = Status.FEASIBLE if done == n_samples else Status.TIME_LIMIT
    message = f"random: best of {feasible} feasible random allocations (seed {seed})."
    if status is Status.TIME_LIMIT:
        message += f" Stopped at time_limit before {n_samples}; raise it for all samples."
    return Solution(status, best, message=message)
