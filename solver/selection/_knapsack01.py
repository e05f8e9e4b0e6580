r"""Exact 0/1 knapsack over items in groups: Dantzig bound, variable fixing, a core search.

.. math::
    \max_{x \in \{0,1\}^N} \sum_i v_i x_i \quad \text{s.t.} \quad
    \sum_i c^r_i x_i \le B^r \;\; \forall r, \qquad \sum_{i \in g} x_i \in K_g \;\; \forall g

where :math:`v_i` is an item's value, :math:`c^r_i` its cost in resource :math:`r`,
:math:`B^r` the budget and :math:`K_g` the allowed kept counts of group :math:`g`.

For multipliers :math:`\lambda \ge 0` the Lagrangian bound
:math:`L(\lambda) = \lambda^\top B + \sum_i \max(0, r_i)`, :math:`r_i = v_i - \lambda^\top c_i`,
bounds every feasible value (side constraints relaxed). Any solution that sets item :math:`i`
against the sign of :math:`r_i` is worth at most :math:`L - |r_i|`, so with an incumbent of
value :math:`z` every item with :math:`|r_i| > L - z` is fixed (Dembo and Hammer). What remains
is the *core*, the items closest to the break item. With one resource and no side constraint
touching the core it is solved by Pisinger's state search, vectorised: items join in order of
:math:`|r_i|`, each state (cost, value) is the incumbent solution with some core items flipped,
dominated states and states with :math:`v + \lambda (B - c) \le z` are dropped. With several
resources (multipliers by sifting) and no side constraint touching the core it is searched by
`_multi.state_search` (exact when the core is small and the search ends within its state
limit; else its best selection shrinks the core, once more). Otherwise, or when that search
gives up, the core goes to HiGHS with every side constraint (`_milp.solve_reduced`).

References
----------
D. Pisinger, "A minimal algorithm for the 0-1 knapsack problem", Operations Research 45 (1997).
R. Dembo and P. Hammer, "A reduction algorithm for knapsack problems", Methods of Operations
Research 36 (1980).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .._result import Status
from .._tolerance import GAP_FLOOR
from ._instance import B1, F64, I64, Instance, Solution
from ._multi import MAX_STATES, sifting_multipliers, state_search

__all__ = ["dantzig", "greedy_fill", "incumbent", "lagrangian", "multipliers", "solve_exact01"]

STATE_TOL = 1e-11
"""Relative slack (of the removed value) with which the core search drops a state."""
BUDGET_SLACK = 1e-12
"""Relative slack of the core search's budget test (float sums in another order)."""


SEARCH_ROUNDS = 2
"""State searches over ever smaller cores (several resources) before HiGHS takes the core."""
SEARCH_SHARE = 0.25
"""Share of the time left that those searches may take (under a time limit)."""
SEARCH_HEAD = 400
"""Core items (smallest ``|r|`` first) the state search decides; the rest keep their sign (the
search is then a heuristic: its best selection only shrinks the core)."""
CUT_SLACK = 1e-9
"""Relative margin above the break score of the items the incumbent takes whole."""
SELECT_SMALL = 4096
"""Below this many candidates the break search sorts instead of partitioning."""


def dantzig(values: F64, costs: F64, budget: float, seed: int = 0) -> float:
    """Break multiplier of the LP relaxation of one 0/1 knapsack (0 if every item fits).

    The efficiency ``v / c`` of the break item: the items more efficient than it fit whole,
    adding it does not. Found in expected linear time by weighted quickselect (Balas and
    Zemel): a pivot from a sample splits the candidates, the side holding the break is kept.
    """
    cand = (values > 0) & (costs > 0)
    eff, cost = values[cand] / costs[cand], costs[cand]
    rng = np.random.default_rng(seed)
    room = budget
    while eff.size > SELECT_SMALL:
        pivot = float(np.median(rng.choice(eff, 101)))
        above = eff > pivot
        taken = float(cost[above].sum())
        if taken > room:
            eff, cost = eff[above], cost[above]
        else:
            room -= taken
            eff, cost = eff[~above], cost[~above]
    order = np.argsort(-eff, kind="stable")
    brk = int(np.searchsorted(np.cumsum(cost[order]), room, side="right"))
    return float(eff[order[brk]]) if brk < order.size else 0.0


def _prefix(inst: Instance, g: int) -> F64:
    a, b = inst.starts[g], inst.starts[g + 1]
    values = inst.values[a:b][inst.order[g]]
    return np.concatenate([[0.0], np.cumsum(values)])


def lagrangian(inst: Instance, lam: F64) -> float:
    """:math:`L(\\lambda)`, an upper bound on the kept value of every feasible selection."""
    reduced = inst.values - lam @ inst.costs
    bound = float(lam @ inst.budget) + float(np.maximum(reduced, 0.0)[inst.per_item].sum())
    for g, table in inst.tables.items():
        allowed = inst.allowed[g]
        bound += float(np.max(_prefix(inst, g)[allowed] - lam @ table[:, allowed]))
    return bound


def multipliers(inst: Instance) -> F64:
    """Multipliers for the bound: the Dantzig break with one resource, the LP duals by sifting
    with several (`_multi.sifting_multipliers`), HiGHS's LP duals with count tables."""
    if len(inst.resources) == 1:
        sel = np.flatnonzero(inst.per_item)
        base = sum(float(t[0, inst.allowed[g]].min()) for g, t in inst.tables.items())
        return np.array([dantzig(inst.values[sel], inst.costs[0, sel], inst.budget[0] - base)])
    if not inst.tables:
        return sifting_multipliers(inst)
    from ._milp import lp_duals

    return lp_duals(inst)


def greedy_fill(inst: Instance, mask: B1, candidates: I64, residual: F64) -> F64:
    """Add ``candidates`` in order, each one that still fits every budget; the new residual.

    Sequential first-fit, done by whole prefixes: an item that does not fit now never will
    (the residual only shrinks), so each round keeps the candidates that fit, takes the longest
    prefix of them that fits and skips the item after it.
    """
    rest = candidates
    for _ in range(64):
        rest = rest[np.all(inst.costs[:, rest] <= residual[:, None], axis=0)]
        if rest.size == 0:
            break
        cum = np.cumsum(inst.costs[:, rest], axis=1)
        t = min(
            int(np.searchsorted(cum[r], residual[r], side="right")) for r in range(cum.shape[0])
        )
        mask[rest[:t]] = True
        if t:
            residual = residual - cum[:, t - 1]
        rest = rest[t + 1 :]
    return residual


def _target(allowed: I64, k: int) -> int:
    below = allowed[allowed <= k]
    return int(below[-1]) if below.size else int(allowed[0])


def repair(inst: Instance, mask: B1, score: F64) -> None:
    """Move every group's kept count to an allowed one, in place.

    Down to the largest allowed count below (dropping the lowest ``score``), else up to the
    smallest (adding the highest); a counted group keeps its top items by value.
    """
    counts = inst.counts(mask)
    ok = inst.interval & (counts >= inst.kmin) & (counts <= inst.kmax)
    for g in np.flatnonzero(~ok | inst.counted).tolist():
        a, b = int(inst.starts[g]), int(inst.starts[g + 1])
        k, allowed = int(counts[g]), inst.allowed[g]
        target = k if np.any(allowed == k) else _target(allowed, k)
        if g in inst.tables:
            mask[a:b] = inst.top_mask(g, target)
            continue
        local, s = mask[a:b], score[a:b]
        if target < k:
            kept = np.flatnonzero(local)
            local[kept[np.argsort(s[kept], kind="stable")[: k - target]]] = False
        elif target > k:
            out = np.flatnonzero(~local)
            local[out[np.argsort(-s[out], kind="stable")[: target - k]]] = True


def _counted_choice(inst: Instance, lam: F64, mask: B1) -> None:
    for g, table in inst.tables.items():
        allowed = inst.allowed[g]
        k = int(allowed[np.argmax(_prefix(inst, g)[allowed] - lam @ table[:, allowed])])
        mask[inst.starts[g] : inst.starts[g + 1]] = inst.top_mask(g, k)


def _fill(inst: Instance, mask: B1, cand: I64, score: F64, cut: float) -> None:
    """First-fit of ``cand`` by descending ``score``: those above ``cut`` whole if they fit,
    then the rest that can still fit, sorted (only those need sorting)."""
    residual = inst.budget - inst.usage(mask)
    first = cand[score[cand] > cut]
    cost = inst.costs[:, first].sum(axis=1)
    if np.all(cost <= residual):
        mask[first] = True
        residual = residual - cost
        cand = cand[score[cand] <= cut]
    cand = cand[np.all(inst.costs[:, cand] <= residual[:, None], axis=0)]
    greedy_fill(inst, mask, cand[np.argsort(-score[cand], kind="stable")], residual)


def incumbent(inst: Instance, lam: F64) -> B1 | None:
    """A selection meeting every budget and side constraint, or ``None`` if none was found.

    Items by descending value per weighted cost (weights ``lam``, else ``1 / B``), first-fit;
    counts repaired to allowed ones; first-fit again into groups with room; repaired again.
    """
    weights = lam if np.any(lam > 0) else 1.0 / inst.budget
    reduced = inst.values - lam @ inst.costs
    weighted = weights @ inst.costs
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(weighted > 0, inst.values / weighted, np.inf)
    # with weights lam the break sits at score 1 (LP duals: just above, the basic items at 1)
    cut = (1.0 + CUT_SLACK) if np.any(lam > 0) else 0.0
    mask = np.zeros(inst.n_items, dtype=bool)
    _counted_choice(inst, lam, mask)
    cand = np.flatnonzero(inst.per_item & (inst.values > 0))
    _fill(inst, mask, cand, score, cut)
    repair(inst, mask, reduced)
    room = (inst.interval & (inst.counts(mask) < inst.kmax))[inst.group_of]
    if inst.fits(mask, 0.0):
        _fill(inst, mask, cand[room[cand] & ~mask[cand]], score, math.inf)
        repair(inst, mask, reduced)
    if not inst.side_ok(mask) or not inst.fits(mask, BUDGET_SLACK):
        return None
    return mask


@dataclass
class _Search:
    """The state lists of the core search and how to walk a state back to its flips."""

    cost: F64
    value: F64
    parents: list[I64]
    flips: list[B1]
    best: tuple[int, int] | None = None

    def step(self, dc: float, dv: float) -> tuple[F64, F64]:
        cost = np.concatenate([self.cost, self.cost + dc])
        value = np.concatenate([self.value, self.value + dv])
        return cost, value

    def flipped(self) -> list[int]:
        """Core positions flipped in the best state."""
        if self.best is None:
            return []
        step, index = self.best
        out = []
        for s in range(step, -1, -1):
            if self.flips[s][index]:
                out.append(s)
            index = int(self.parents[s][index])
        return out


def core_search(
    c0: float, v0: float, dc: F64, dv: F64, gain: F64, loss: F64, budget: float, z: float,
    eps: float, stop: float, flip_cost: F64, bound: float,
) -> tuple[_Search, float, bool]:  # fmt: skip
    """Pisinger's state search over the core; returns the search, the best value, completion.

    State ``s`` after step ``j`` is the start solution with some of core items ``0..j`` flipped
    (flip ``j`` changes cost by ``dc[j]`` and value by ``dv[j]``). After step ``j`` the items
    still to come add at most ``gain[j]`` value per unit of cost (the best efficiency among
    those outside) and shed at least ``loss[j]`` per unit (the worst among those inside), so a
    state can reach at most ``v + gain[j] (B - c)`` below the budget and
    ``v - loss[j] (c - B)`` above it (Pisinger's bound); states whose bound is within ``eps``
    of ``z`` and states beaten on both cost and value are dropped. Flipping item ``j`` costs
    ``flip_cost[j] = |r_j|`` (ascending) off the Lagrangian ``bound``: once that exceeds
    ``bound - z`` no later flip can pay and the search ends.
    """
    cap = budget * (1.0 + BUDGET_SLACK)
    search = _Search(np.array([c0]), np.array([v0]), [], [])
    if c0 <= cap and v0 > z:
        z, search.best = v0, (-1, 0)
    n = search.cost.size
    for j in range(dc.size):
        if flip_cost[j] > bound - z + eps:
            break
        if j % 256 == 255 and time.perf_counter() > stop:
            return search, z, False
        cost, value = search.step(float(dc[j]), float(dv[j]))
        room = cap - cost
        with np.errstate(invalid="ignore"):
            reach = value + np.where(room >= 0, gain[j] * room, loss[j] * room)
        live = np.flatnonzero(reach > z + eps)
        order = live[np.argsort(cost[live], kind="stable")]
        value_o = value[order]
        keep = np.ones(order.size, dtype=bool)
        keep[1:] = value_o[1:] > np.maximum.accumulate(value_o)[:-1]
        order = order[keep]
        n = search.cost.size
        search.cost, search.value = cost[order], value[order]
        search.parents.append(order % max(n, 1))
        search.flips.append(order >= n)
        fit = np.flatnonzero(search.cost <= cap)
        if fit.size:
            i = int(fit[np.argmax(search.value[fit])])
            if search.value[i] > z:
                z, search.best = float(search.value[i]), (j, i)
        if search.cost.size == 0:
            break
    return search, z, True


def _dp_applies(inst: Instance, fixed_in: B1, core: B1) -> bool:
    """One resource, no count table, and every count the core can make allowed in its group."""
    return len(inst.resources) == 1 and _sides_free(inst, fixed_in, core)


def _sides_free(inst: Instance, fixed_in: B1, core: B1) -> bool:
    """No count table, and every count the core can make allowed in its group."""
    if inst.tables:
        return False
    f, u = inst.counts(fixed_in), inst.counts(core)
    ok = inst.interval & (f >= inst.kmin) & (f + u <= inst.kmax)
    return bool(np.all(ok[u > 0]))


def _fixed_counts_allowed(inst: Instance, fixed_in: B1, core: B1) -> bool:
    f, u = inst.counts(fixed_in), inst.counts(core)
    return all(bool(np.any(inst.allowed[g] == f[g])) for g in np.flatnonzero(u == 0).tolist())


def _optimal(inst: Instance, mask: B1, slack: float, message: str = "") -> Solution:
    objective = inst.objective(mask)
    return Solution(Status.OPTIMAL, mask, objective - slack, message)


def _rates(values: F64, costs: F64, inside: B1) -> tuple[F64, F64]:
    """Per step, the best efficiency of the outside items still to come, the worst inside."""
    with np.errstate(divide="ignore", invalid="ignore"):
        eff = np.where(costs > 0, values / costs, np.where(values > 0, np.inf, 0.0))
    out = np.where(inside, 0.0, np.maximum(eff, 0.0))
    ins = np.where(inside, eff, np.inf)
    gain = np.append(np.maximum.accumulate(out[::-1])[::-1][1:], 0.0)
    loss = np.append(np.minimum.accumulate(ins[::-1])[::-1][1:], np.inf)
    return gain, loss


def _dp(
    inst: Instance, mask: B1, lam: F64, z: float, fixed_in: B1, core: B1, stop: float, bound: float
) -> Solution:
    reduced = inst.values - lam @ inst.costs
    idx = np.flatnonzero(core)
    idx = idx[np.argsort(np.abs(reduced[idx]), kind="stable")]
    start = fixed_in | (core & (reduced > 0))
    default = start[idx]
    sign = np.where(default, -1.0, 1.0)
    c0, v0 = float(inst.costs[0] @ start), float(inst.values[start].sum())
    eps = STATE_TOL * max(abs(inst.total_value - z), GAP_FLOOR)
    gain, loss = _rates(inst.values[idx], inst.costs[0, idx], default)
    search, _, done = core_search(
        c0, v0, sign * inst.costs[0, idx], sign * inst.values[idx], gain, loss,
        float(inst.budget[0]), z, eps, stop, np.abs(reduced[idx]), bound,
    )  # fmt: skip
    if search.best is not None:
        mask = start.copy()
        flips = idx[search.flipped()]
        mask[flips] = ~mask[flips]
    if not done:
        lower = inst.total_value - bound
        return Solution(Status.TIME_LIMIT, mask, lower, "Core search stopped at time_limit.")
    return _optimal(inst, mask, eps, f"core of {idx.size} items")


def solve_exact01(inst: Instance, time_limit: float | None = None, seed: int = 0) -> Solution:
    """Certified optimum of the per-item problem (see the module docstring)."""
    del seed
    stop = math.inf if time_limit is None else time.perf_counter() + time_limit
    lam = multipliers(inst)
    bound = lagrangian(inst, lam)
    mask = incumbent(inst, lam)
    from ._milp import solve_reduced

    if mask is None:
        return solve_reduced(inst, None, None, None, stop)
    z = inst.total_value - inst.objective(mask)
    scale = float(np.abs(inst.values).sum() + np.abs(lam @ inst.budget)) + 1.0
    reduced = inst.values - lam @ inst.costs
    threshold = bound - z + 1e-12 * scale
    fixed_in = inst.per_item & (reduced > threshold)
    core = inst.per_item & (np.abs(reduced) <= threshold)
    if not inst.tables and not core.any():
        return _optimal(inst, mask, 0.0, "Lagrangian bound met")
    if not inst.tables and not _fixed_counts_allowed(inst, fixed_in, core):
        return _optimal(inst, mask, 0.0, "no better selection within the fixed items")
    if _dp_applies(inst, fixed_in, core):
        return _dp(inst, mask, lam, z, fixed_in, core, stop, bound)
    if _sides_free(inst, fixed_in, core):
        found = _states(inst, lam, mask, fixed_in, core, stop, bound)
        if isinstance(found, Solution):
            return found
        mask, z = found
        threshold = bound - z + 1e-12 * scale
        fixed_in = inst.per_item & (reduced > threshold)
    fixed_out = inst.per_item & (reduced < -threshold)
    sol = solve_reduced(inst, fixed_in, fixed_out, mask, stop)
    lower = max(sol.lower_bound, inst.total_value - bound)  # HiGHS may stop with a weak bound
    return Solution(sol.status, sol.mask, lower, sol.message)


def _states(
    inst: Instance, lam: F64, mask: B1, fixed_in: B1, core: B1, stop: float, bound: float
) -> Solution | tuple[B1, float]:
    """`_multi.state_search` over the core, again (beam 4 times wider) over the smaller core
    of each better selection it finds, for at most `SEARCH_SHARE` of the time left: the
    certified optimum, or the best selection found and its kept value."""
    z = inst.total_value - inst.objective(mask)
    reduced = inst.values - lam @ inst.costs
    now = time.perf_counter()
    soft = stop if math.isinf(stop) else now + SEARCH_SHARE * (stop - now)
    width = MAX_STATES
    for _ in range(SEARCH_ROUNDS):
        idx = np.flatnonzero(core)
        idx = idx[np.argsort(np.abs(reduced[idx]), kind="stable")]
        head, tail = idx[:SEARCH_HEAD], idx[SEARCH_HEAD:]
        base = fixed_in.copy()
        base[tail[reduced[tail] > 0]] = True  # beyond the head: as the reduced cost says
        eps = STATE_TOL * max(abs(inst.total_value - z), GAP_FLOOR)
        found = state_search(inst, lam, base, head, z, eps, soft, width)
        if found.complete and tail.size == 0:
            best = mask if found.mask is None else found.mask
            return _optimal(inst, best, eps, f"state search over a core of {idx.size} items")
        if found.mask is not None:
            mask = found.mask
            z = inst.total_value - inst.objective(mask)
            threshold = bound - z + 1e-12 * (float(np.abs(inst.values).sum()) + 1.0)
            fixed_in = inst.per_item & (reduced > threshold)
            core = inst.per_item & (np.abs(reduced) <= threshold)
        if time.perf_counter() > stop:
            lower = inst.total_value - bound
            return Solution(Status.TIME_LIMIT, mask, lower, "State search stopped at time_limit.")
        if found.mask is None or time.perf_counter() > soft:
            break
        width *= 4
    return mask, z
