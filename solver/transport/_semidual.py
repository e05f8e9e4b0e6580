r"""The two-bin problem through its one dual variable per group (the ``semi_dual`` method).

With the kept bin's potential fixed at 0 and the pruned bin's at :math:`\tau`, the plan of the
regularised problem is a per-element function of :math:`s_i - \tau` and the budget is a
monotone equation in :math:`\tau` alone:

.. math::
    \sum_i a_i\, m_i(\tau) = B, \qquad
    m_i(\tau) = \sigma\!\left(\frac{s_i - \tau}{\lambda}\right) \;\text{(entropy)}, \quad
    m_i(\tau) = \operatorname{clip}\!\left(\frac12 + \frac{s_i - \tau}{2\lambda a_i}, 0, 1\right)
    \;\text{(l2)}

Both are evaluated in scaled units :math:`u_i = s_i / 2\lambda`, :math:`t = \tau / 2\lambda`,
where the sigmoid is :math:`(1 + \tanh(u_i - t))/2`. The root is found by a safeguarded Newton
iteration, vectorised over the elements and over independent roots (one per group): for the
entropy the step is taken in :math:`e^{2t}` (or :math:`e^{-2t}`), in which the kept mass is
convex, so it never overshoots; for l2 the kept mass is piecewise linear and the step solves
the current piece exactly, so the iteration ends on the exact root. ``reg = 0`` is the sorted
threshold with one fractional element (POT's ``emd_1d``), see `exact`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from .._tolerance import TRANSPORT_FULL_RTOL, TRANSPORT_ROOT_RTOL
from ._validate import F64, Instance

__all__ = ["Exact", "Solved", "exact", "solve_semidual"]

MAX_ITER = 200
"""Root-finding evaluations before giving up (each is one pass over the elements)."""
JUMP = 8.0
"""First step, in scaled units, where Newton has no slope (every element saturated)."""
CHUNK = 1 << 16
"""Elements per block of the single-root evaluation (a block's scratch stays in cache)."""
SAMPLE = 1 << 15
"""Elements of the subsample that locates the band of scores the exact plan sorts."""

Evaluate = Callable[[F64], tuple[F64, F64]]


@dataclass(frozen=True, eq=False)
class Solved:
    """The soft solve: per element the mask, per group the threshold (score units)."""

    mask: F64
    threshold: F64
    iterations: int
    converged: bool
    exact: Exact | None = None
    """The exact (``reg = 0``) plan, where the method computed it."""


def _ramp(kind: str, s: F64, scale: float, t: F64 | float, a: F64 | None, out: F64) -> F64:
    """``out`` = tanh(s * scale - t) (entropy) or the l2 mask, in place."""
    np.multiply(s, scale, out=out)
    out -= t
    if kind == "entropy":
        return np.tanh(out, out=out)
    if a is not None:
        out /= a
    out += 0.5
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass(eq=False)
class _Single:
    """One root over all elements, evaluated in cache-sized chunks: one memory pass a step."""

    s: F64
    scale: float  # 1 / (2 reg): the kernel works on u = s * scale
    a: F64 | None
    kind: str
    target: F64

    def __post_init__(self) -> None:
        self.scratch = np.empty(min(CHUNK, self.s.size))
        self.total = float(self.s.size) if self.a is None else float(self.a.sum())

    def _chunks(self) -> range:
        return range(0, self.s.size, CHUNK)

    def __call__(self, t: F64) -> tuple[F64, F64]:
        first = second = 0.0
        for lo in self._chunks():
            hi = min(lo + CHUNK, self.s.size)
            a = None if self.a is None else self.a[lo:hi]
            buf = _ramp(self.kind, self.s[lo:hi], self.scale, t[0], a, self.scratch[: hi - lo])
            first += float(buf.sum() if a is None else np.einsum("i,i->", a, buf))
            if self.kind == "entropy":  # einsum: no temporaries, no BLAS threads
                second += float(
                    np.einsum("i,i->", buf, buf) if a is None else np.einsum("i,i,i->", a, buf, buf)
                )
            else:
                second += float(np.count_nonzero((buf > 0) & (buf < 1)))
        if self.kind == "entropy":
            return (self.total + first) / 2 - self.target, np.array([(self.total - second) / 4])
        return first - self.target, np.array([second])

    def mask(self, t: float) -> F64:
        out = np.empty_like(self.s)
        for lo in self._chunks():
            hi = min(lo + CHUNK, self.s.size)
            a = None if self.a is None else self.a[lo:hi]
            _mask(self.kind, _ramp(self.kind, self.s[lo:hi], self.scale, t, a, out[lo:hi]))
        return out


@dataclass(eq=False)
class _Kernel:
    """Residual kept mass and its slope at one threshold per group (groups = runs of elements)."""

    s: F64
    scale: float
    a: F64 | None
    sizes: NDArray[np.int64]
    kind: str
    target: F64
    buf: F64

    def _sum(self, values: F64) -> F64:
        return np.add.reduceat(values, np.concatenate([[0], np.cumsum(self.sizes)[:-1]]))

    def __call__(self, t: F64) -> tuple[F64, F64]:
        buf = _ramp(self.kind, self.s, self.scale, np.repeat(t, self.sizes), self.a, self.buf)
        mass = self.sizes * 1.0 if self.a is None else self._sum(self.a)
        weighted = buf if self.a is None else self.a * buf
        if self.kind == "entropy":
            return (mass + self._sum(weighted)) / 2 - self.target, (
                mass - self._sum(weighted * buf)
            ) / 4
        active = ((buf > 0) & (buf < 1)).astype(np.float64)
        return self._sum(weighted) - self.target, self._sum(active)


def _mask(kind: str, buf: F64) -> F64:
    """The mask from a kernel's buffer after its last evaluation (in place)."""
    if kind == "entropy":
        buf += 1.0
        buf *= 0.5
    return buf


def _newton(kind: str, t: F64, residual: F64, slope: F64) -> F64:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "entropy":
            return t + np.sign(residual) * np.log1p(np.abs(residual) / slope) / 2
        return t + residual / slope


def find_roots(evaluate: Evaluate, kind: str, t0: F64, tol: F64) -> tuple[F64, int, bool]:
    """Thresholds where ``evaluate`` (residual, slope) is 0, each kept in its own bracket.

    The residual decreases in ``t``. The last evaluation is at the returned thresholds;
    ``converged`` says whether every residual is within ``tol`` (or 1000 ``tol`` where the
    bracket has shrunk to rounding).
    """
    t = t0.astype(np.float64, copy=True)
    lo, hi = np.full_like(t, -math.inf), np.full_like(t, math.inf)
    jump = np.full_like(t, JUMP)
    eps = 4 * np.finfo(np.float64).eps
    for it in range(1, MAX_ITER + 1):
        residual, slope = evaluate(t)
        with np.errstate(invalid="ignore"):  # +-inf thresholds: groups kept whole or pruned
            done = np.abs(residual) <= tol
            lo = np.where(residual > 0, t, lo)
            hi = np.where(residual < 0, t, hi)
            step = _newton(kind, t, residual, slope)
            inside = (step > lo) & (step < hi) & (slope > 0)
            both = np.isfinite(lo) & np.isfinite(hi)
            fallback = np.where(both, lo / 2 + hi / 2, t + np.sign(residual) * jump)
            jump = np.where(inside, jump, 2 * jump)
            new = np.where(done, t, np.where(inside, step, fallback))
            tiny = eps * np.maximum(np.abs(t), 1.0)
            stalled = (np.abs(new - t) <= tiny) | (both & (hi - lo <= tiny))
        if np.all(done | stalled):
            return t, it, bool(np.all(done | (np.abs(residual) <= 1e3 * tol)))
        t = new
    return t, MAX_ITER, False


def _sample(inst: Instance, seed: int = 0) -> tuple[F64, F64]:
    """A fixed random subsample (with replacement) of the scores and their masses."""
    idx = np.random.default_rng(seed).integers(0, inst.size, SAMPLE)
    a = np.ones(SAMPLE) if inst.weights is None else inst.weights[idx]
    return inst.scores[idx], a


def _extremes(target: F64, mass: F64, t0: F64) -> tuple[F64, F64]:
    """Targets of (almost) the whole group or nothing start at -inf / +inf: masks of 1 / 0."""
    full = target >= mass * (1 - TRANSPORT_FULL_RTOL)
    empty = target <= mass * TRANSPORT_FULL_RTOL
    target = np.where(full, mass, np.where(empty, 0.0, target))
    return target, np.where(full, -math.inf, np.where(empty, math.inf, t0))


def _per_group(inst: Instance, target: F64, t0: F64, buf: F64) -> tuple[F64, int, bool]:
    sizes = np.diff(inst.offsets)
    target, t0 = _extremes(target, inst.mass, t0)
    scale = 1 / (2 * inst.reg)
    kernel = _Kernel(inst.scores, scale, inst.weights, sizes, inst.reg_type, target, buf)
    tol = TRANSPORT_ROOT_RTOL * np.maximum(target, 1e-300)
    return find_roots(kernel, inst.reg_type, t0, tol)


def _bounded(inst: Instance, start: F64, buf: F64) -> tuple[F64, int, bool]:
    """A total budget with group bounds: one shared root of the clipped sum, then per group."""
    sizes = np.diff(inst.offsets)
    scale = 1 / (2 * inst.reg)
    zeros = np.zeros(sizes.size)
    kernel = _Kernel(inst.scores, scale, inst.weights, sizes, inst.reg_type, zeros, buf)
    kept = np.zeros(sizes.size)

    def outer(t: F64) -> tuple[F64, F64]:
        kept[:], slope = kernel(np.full(sizes.size, t[0]))
        free = (kept > inst.lo) & (kept < inst.hi)
        clipped = np.clip(kept, inst.lo, inst.hi)
        return np.array([clipped.sum() - inst.budget]), np.array([slope[free].sum()])

    t0 = np.array([np.median(start)])
    tol = np.array([TRANSPORT_ROOT_RTOL * inst.budget])
    t, it_outer, _ = find_roots(outer, inst.reg_type, t0, tol)
    target = np.clip(kept, inst.lo, inst.hi)
    t_groups, it, converged = _per_group(inst, target, np.full(sizes.size, t[0]), buf)
    return t_groups, it_outer + it, converged


def solve_semidual(inst: Instance, boundary: F64) -> Solved:
    """Masks of the regularised problem (``reg > 0``), one threshold per group.

    ``boundary`` (per group) is the exact plan's threshold score, where the iteration starts:
    a few Newton steps from the root for any ``reg`` on smooth score distributions.
    """
    kind = inst.reg_type
    start = boundary / (2 * inst.reg)
    buf = np.empty_like(inst.scores) if inst.per_group or inst.bounded else inst.scores[:0]
    if inst.per_group:
        t, it, converged = _per_group(inst, inst.lo, start, buf)
    elif inst.bounded:
        t, it, converged = _bounded(inst, start, buf)
    else:
        total = np.array([inst.mass.sum()])
        target, t0 = _extremes(np.array([inst.budget]), total, start[:1])
        single = _Single(inst.scores, 1 / (2 * inst.reg), inst.weights, kind, target)
        t, it, converged = find_roots(single, kind, t0, TRANSPORT_ROOT_RTOL * target)
        threshold = np.full(len(inst.names), 2 * inst.reg * t[0] if np.isfinite(t[0]) else math.nan)
        return Solved(single.mask(float(t[0])), threshold, it, converged)
    threshold = np.where(np.isfinite(t), 2 * inst.reg * t, math.nan)
    return Solved(_mask(kind, buf), threshold, it, converged)


def _above(s: F64, a: F64 | None, level: float) -> float:
    """Mass of the elements scoring above ``level``."""
    return float(np.count_nonzero(s > level)) if a is None else float(a[s > level].sum())


def _band(inst: Instance) -> tuple[float, float]:
    """Scores ``(lo, hi)`` with the budget's boundary in ``(lo, hi]``, from a subsample first."""
    s, a = _sample(inst)
    order = np.argsort(-s, kind="stable")
    cum = np.cumsum(a[order])
    share = inst.budget / float(inst.mass.sum())
    q = int(np.searchsorted(cum, share * cum[-1]))
    d = 8 + math.ceil(5 * math.sqrt(SAMPLE * share * (1 - share)))  # 5 sd of the sample rank
    top, bottom = s[order[max(q - d, 0)]], s[order[min(q + d, SAMPLE - 1)]]
    width = max(float(top - bottom), 1e-12 * (abs(float(top)) + 1.0))
    hi, lo = float(top), float(bottom)
    while _above(inst.scores, inst.weights, hi) > inst.budget:
        hi, width = hi + width, 2 * width
    while _above(inst.scores, inst.weights, lo) < inst.budget:
        lo, width = lo - width, 2 * width
    return lo, hi


@dataclass(frozen=True, eq=False)
class Exact:
    """The exact (``reg = 0``) plan: elements kept whole, the few kept in part, thresholds."""

    whole: NDArray[np.bool_]
    part: NDArray[np.intp]
    share: F64
    """Kept share of the mass of each element in ``part``, in (0, 1)."""
    boundary: F64
    """Per group, the threshold score (where the soft iteration starts)."""

    def mask(self) -> F64:
        mask = self.whole.astype(np.float64)
        mask[self.part] = self.share
        return mask

    def kept_score(self, inst: Instance) -> float:
        """:math:`\\sum_i s_i a_i m_i` of the exact plan."""
        s, a = inst.scores, inst.weights
        full = float(np.add.reduce(s if a is None else s * a, where=self.whole))
        mass = np.ones(self.part.size) if a is None else a[self.part]
        return full + float(np.sum(s[self.part] * mass * self.share))


def _exact_from(inst: Instance, x: F64, boundary: F64) -> Exact:
    a = inst.masses()
    whole = x >= a * (1 - TRANSPORT_FULL_RTOL)
    part = np.flatnonzero((x > 0) & ~whole)
    return Exact(whole, part, x[part] / a[part], boundary)


def _greedy_band(inst: Instance) -> Exact:
    """The exact plan of a total budget without bounds, sorting only a band of scores."""
    s, a = inst.scores, inst.weights
    lo, hi = _band(inst)
    whole = s > hi
    idx = np.flatnonzero((s > lo) & ~whole)
    order = idx[np.argsort(-s[idx], kind="stable")]
    w = np.ones(order.size) if a is None else a[order]
    before = _above(s, a, hi) + np.cumsum(w) - w
    x = np.clip(inst.budget - before, 0.0, w)
    full = x >= w * (1 - TRANSPORT_FULL_RTOL)
    whole[order[full]] = True
    partial = (x > 0) & ~full
    j = min(int(np.searchsorted(before + w, inst.budget)), order.size - 1)
    boundary = np.full(len(inst.names), s[order[j]] if order.size else hi)
    return Exact(whole, order[partial], x[partial] / w[partial], boundary)


def _boundary(inst: Instance, x: F64) -> F64:
    """Per group, midway between the lowest kept score and the highest not kept whole."""
    s, starts = inst.scores, inst.offsets[:-1]
    kept = np.minimum.reduceat(np.where(x > 0, s, math.inf), starts)
    left = np.maximum.reduceat(np.where(x < inst.masses(), s, -math.inf), starts)
    with np.errstate(invalid="ignore"):
        mid = (kept + left) / 2
    return np.where(np.isfinite(mid), mid, np.where(np.isfinite(kept), kept, left))


def _greedy(inst: Instance) -> F64:
    """The exact plan by one stable sort: group minimums first, then the best by score."""
    s, a = inst.scores, inst.masses()
    group = np.repeat(np.arange(len(inst.names)), np.diff(inst.offsets))
    order = np.argsort(-s, kind="stable")
    g, w = group[order], a[order]
    by_group = np.argsort(g, kind="stable")
    gw = w[by_group]
    before_sorted = np.cumsum(gw) - gw
    starts = np.searchsorted(g[by_group], np.arange(len(inst.names)))
    before_sorted -= before_sorted[starts][g[by_group]]
    before = np.empty_like(before_sorted)
    before[by_group] = before_sorted
    hi = np.where(inst.hi >= inst.mass, math.inf, inst.hi)
    low = np.clip(inst.lo[g] - before, 0.0, w)
    extra = np.clip(hi[g] - before, 0.0, w) - low
    room = inst.budget - float(low.sum())
    x = np.empty_like(w)
    x[order] = low + np.clip(room - (np.cumsum(extra) - extra), 0.0, extra)
    return x


def exact(inst: Instance) -> Exact:
    r"""The exact (``reg = 0``) plan, and the threshold per group.

    Greedy by score (ties by index): every group's ``min_keep`` from its best elements, then
    the best remaining elements under each ``max_keep`` until the budget is spent, with one
    fractional element per binding bound and one for the budget. Without group bounds and on
    large problems only a band of scores around the threshold (located on a subsample) is
    sorted: :math:`O(n)` passes plus a sort of :math:`O(n/\sqrt{m})` elements.
    """
    if not inst.per_group and not inst.bounded and inst.size > 4 * SAMPLE:
        return _greedy_band(inst)
    x = _greedy(inst)
    if not inst.per_group and not inst.bounded:  # one threshold for all groups
        g = _boundary(Instance(("all",), inst.scores, inst.weights, inst.offsets[[0, -1]],
                               inst.mass[:1], inst.lo[:1], inst.hi[:1], inst.budget, False,
                               inst.reg, inst.reg_type), x)  # fmt: skip
        return _exact_from(inst, x, np.full(len(inst.names), g[0]))
    return _exact_from(inst, x, _boundary(inst, x))
