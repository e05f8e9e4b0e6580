r"""A differentiable soft mask at an exact budget (DTP): the server's ``semi_dual`` in torch.

The mask solves the two-bin transport of `pruneplan.solver.transport` for learnable scores
:math:`s` (the same convention: pruning element :math:`i` costs :math:`s_i`),

.. math::
    m_i = \sigma\!\left(\frac{s_i - \tau}{\lambda}\right) \;\text{(entropy)}, \qquad
    m_i = \operatorname{clip}\!\left(\frac12 + \frac{s_i - \tau}{2\lambda a_i}, 0, 1\right)
    \;\text{(l2)}, \qquad \sum_i a_i m_i = B,

where :math:`a_i` is the element's mass, :math:`B` the budget and :math:`\lambda` the
regulariser. The forward pass finds :math:`\tau` by the solver's safeguarded Newton iteration
(float64 inside, on the scores' device, warm-started from the previous call). The backward
pass differentiates the budget equation (implicit function theorem on the one dual variable):
with :math:`d_i = \partial m_i / \partial s_i` at fixed :math:`\tau`,

.. math::
    \frac{\partial L}{\partial s_j} = d_j \left(g_j - a_j
    \frac{\sum_i g_i d_i}{\sum_i a_i d_i}\right), \qquad g = \frac{\partial L}{\partial m},

exact at the solved :math:`\tau`, one pass, no unrolled iterations.

References
----------
Y. Li, J. C. van Gemert, T. Hoefler, B. Moons, E. Eleftheriou, B.-E. Verhoef,
"Differentiable Transportation Pruning", ICCV 2023.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import prune

__all__ = ["BregmanSchedule", "GeometricSchedule", "TransportMask", "transport_mask"]

REG_TYPES = ("entropy", "l2")
MAX_ITER = 200
"""Newton steps before the forward pass gives up (each is one pass over the elements)."""
ROOT_RTOL = 1e-12
"""Relative residual of the kept mass at which the forward pass stops (the solver's)."""
JUMP = 8.0
"""First step, in units of 2 reg, where Newton has no slope."""


def _kernel(
    u: Tensor, a: Tensor | None, t: float, kind: str, buf: Tensor
) -> tuple[Tensor, float, float]:
    """``(buf, kept, slope)`` at scaled threshold ``t``: tanh or the mask, its mass, slope."""
    z = torch.sub(u, t, out=buf)
    if kind == "entropy":
        z = torch.tanh(z, out=buf)
        s1 = z.sum() if a is None else torch.dot(a, z)
        s2 = torch.dot(z, z) if a is None else torch.dot(a * z, z)
        mass = float(u.numel()) if a is None else float(a.sum())
        pair = torch.stack([s1, s2]).tolist()  # one device sync per step
        return z, (mass + pair[0]) / 2, (mass - pair[1]) / 4
    z = (z if a is None else z.div_(a)).add_(0.5).clamp_(0.0, 1.0)
    kept = z.sum() if a is None else torch.dot(a, z)
    active = ((z > 0) & (z < 1)).sum()
    pair = torch.stack([kept, active.to(kept.dtype)]).tolist()
    return z, pair[0], pair[1]


def _newton(kind: str, t: float, residual: float, slope: float) -> float:
    if slope <= 0:
        return math.nan
    if kind == "entropy":
        return t + math.copysign(math.log1p(abs(residual) / slope), residual) / 2
    return t + residual / slope


def _solve(
    u: Tensor, a: Tensor | None, budget: float, kind: str, t0: float
) -> tuple[Tensor, float, int]:
    """Scaled threshold where the kept mass is ``budget``; the buffer of its last evaluation."""
    t, lo, hi, jump = t0, -math.inf, math.inf, JUMP
    tol = ROOT_RTOL * budget
    scratch = torch.empty_like(u)
    for it in range(1, MAX_ITER + 1):
        buf, kept, slope = _kernel(u, a, t, kind, scratch)
        residual = kept - budget
        if abs(residual) <= tol:
            return buf, t, it
        lo, hi = (t, hi) if residual > 0 else (lo, t)
        step = _newton(kind, t, residual, slope)
        if not lo < step < hi:
            step = (
                (lo + hi) / 2
                if math.isfinite(lo) and math.isfinite(hi)
                else t + math.copysign(jump, residual)
            )
            jump *= 2
        if abs(step - t) <= 4e-16 * max(abs(t), 1.0):
            return buf, t, it
        t = step
    return buf, t, MAX_ITER


def _boundary(scores: Tensor, a: Tensor | None, budget: float) -> float:
    """The exact plan's threshold score: the score at which the budget runs out."""
    if a is None:  # the k-th largest by selection, O(n)
        k = min(max(math.ceil(budget), 1), scores.numel())
        return float(torch.kthvalue(scores.reshape(-1), scores.numel() - k + 1).values)
    order = torch.argsort(scores.reshape(-1), descending=True)
    j = int(
        torch.searchsorted(
            torch.cumsum(a[order], 0), torch.tensor(budget, dtype=a.dtype, device=a.device)
        )
    )
    return float(scores.reshape(-1)[order[min(j, order.numel() - 1)]])


def _check(budget: float, reg: float, reg_type: str, mass: float) -> None:
    if reg_type not in REG_TYPES:
        raise ValueError(f"reg_type: must be one of {', '.join(REG_TYPES)}; got {reg_type!r}.")
    if not (math.isfinite(reg) and reg > 0):
        raise ValueError(f"reg: must be a finite number > 0; got {reg!r}.")
    if not (0 < budget <= mass * (1 + 1e-12)):
        raise ValueError(
            f"budget: must be a number in (0, {mass:g}] (the kept mass); got {budget!r}."
        )


class _Implicit(torch.autograd.Function):
    """Identity on the solved mask forward; the implicit-function gradient backward."""

    @staticmethod
    def forward(ctx: Any, scores: Tensor, mask: Tensor, deriv: Tensor, a: Tensor | None) -> Tensor:
        ctx.save_for_backward(deriv, a)
        ctx.shape, ctx.dtype = scores.shape, scores.dtype
        return mask.to(scores.dtype).reshape(scores.shape)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, None, None, None]:
        deriv, a = ctx.saved_tensors
        g = grad.reshape(-1).to(deriv.dtype)
        weighted = deriv if a is None else a * deriv
        pair = torch.stack([torch.dot(g, deriv), weighted.sum()]).tolist()
        ratio = pair[0] / max(pair[1], torch.finfo(deriv.dtype).tiny)
        out = torch.mul(deriv, g).sub_(weighted, alpha=ratio)
        return out.to(ctx.dtype).reshape(ctx.shape), None, None, None


def _solved(
    scores: Tensor, a: Tensor | None, budget: float, reg: float, kind: str, start: float | None
) -> tuple[Tensor, Tensor, float]:
    """``(mask, d mask / d score at fixed tau, tau)`` in float64, without autograd."""
    s = scores.detach().reshape(-1).to(torch.float64)
    mass = float(s.numel()) if a is None else float(a.sum())
    if budget >= mass * (1 - 1e-12):
        return torch.ones_like(s), torch.zeros_like(s), -math.inf
    if start is None or not math.isfinite(start):
        start = _boundary(s, a, budget)
    buf, t, _ = _solve(s / (2 * reg), a, budget, kind, start / (2 * reg))
    if kind == "entropy":
        mask = buf.add_(1.0).mul_(0.5)
        deriv = mask.clone().mul_(mask).neg_().add_(mask).div_(reg)  # m (1 - m) / reg
    else:
        mask = buf
        active = ((mask > 0) & (mask < 1)).to(mask.dtype)
        deriv = active / (2 * reg) if a is None else active / (2 * reg * a)
    return mask, deriv, 2 * reg * t


def transport_mask(
    scores: Tensor,
    budget: float,
    reg: float,
    *,
    reg_type: str = "entropy",
    weights: Tensor | None = None,
    start: float | None = None,
) -> tuple[Tensor, float]:
    """The soft mask of ``scores`` at kept mass ``budget``, differentiable in ``scores``.

    Parameters
    ----------
    scores : Tensor, any shape
    budget : float
        Kept mass in ``(0, sum(weights)]`` (a count for unit weights).
    reg : float
        Regulariser > 0 (``semi_dual`` at ``reg = 0`` is the hard mask: use `TransportMask.hard`).
    reg_type : {"entropy", "l2"}
    weights : Tensor, optional
        Element masses, the shape of ``scores``, > 0 (params or FLOPs per element).
    start : float, optional
        Threshold to start the iteration from (the previous call's); the exact boundary if None.

    Returns
    -------
    mask : Tensor
        Same shape and dtype as ``scores``.
    threshold : float
        The dual variable :math:`\\tau` (``-inf`` when the budget keeps everything).
    """
    a = None if weights is None else weights.detach().reshape(-1).to(torch.float64)
    mass = float(scores.numel()) if a is None else float(a.sum())
    _check(budget, reg, reg_type, mass)
    mask, deriv, tau = _solved(scores, a, float(budget), float(reg), reg_type, start)
    out: Tensor = _Implicit.apply(scores, mask, deriv, a)  # type: ignore[no-untyped-call]
    return out, tau


@dataclass(frozen=True)
class GeometricSchedule:
    """``reg`` from ``start`` to ``end`` by a constant factor: ``start * (end / start) ** p``.

    ``p`` is the training progress in [0, 1] (step / total steps).
    """

    start: float
    end: float

    def __call__(self, progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        return float(self.start * (self.end / self.start) ** p)


@dataclass(frozen=True)
class BregmanSchedule:
    r"""DTP-style: the regulariser of Bregman (KL-proximal) steps, harmonic in the progress.

    One proximal step per mini-batch, as in DTP, leaves after :math:`k` steps the entropic
    problem with regulariser :math:`\lambda_0 / k`; tied to the progress :math:`p \in [0, 1]`:
    :math:`\lambda(p) = \lambda_0 / (1 + p(\lambda_0/\lambda_1 - 1))` (fast early, slow late).
    """

    start: float
    end: float

    def __call__(self, progress: float) -> float:
        p = min(max(progress, 0.0), 1.0)
        return self.start / (1 + p * (self.start / self.end - 1))


class TransportMask(nn.Module):
    """Learnable scores whose ``forward()`` is their soft mask at an exact budget.

    Parameters
    ----------
    n : int or sequence of int
        Shape of the mask: a layer's weight shape, or its channel count.
    budget : float
        Kept mass (a count for unit weights), in ``(0, total mass]``.
    reg : float
        Initial regulariser > 0; `anneal` moves it along ``schedule``.
    reg_type : {"entropy", "l2"}
    weights : Tensor, optional
        Mass per element (shape ``n``, > 0): params or FLOPs per channel, for a FLOPs budget.
    scores : Tensor, optional
        Initial scores (e.g. weight magnitudes); zeros (a uniform mask) by default.
    schedule : callable, optional
        Progress in [0, 1] -> reg (`GeometricSchedule`, `BregmanSchedule`).
    dtype, device : optional
        Of the scores (float32 or float64; any device); the solve runs in float64.

    Examples
    --------
    >>> import torch
    >>> from pruneplan.clients.torch import GeometricSchedule, TransportMask
    >>> mask = TransportMask(6, budget=2, reg=0.5, scores=torch.arange(6.0),
    ...                      schedule=GeometricSchedule(0.5, 0.01))
    >>> round(mask().sum().item(), 6)
    2.0
    >>> _ = mask.anneal(1.0); mask.hard().tolist()
    [False, False, False, False, True, True]
    """

    weights: Tensor | None

    def __init__(
        self,
        n: int | Sequence[int],
        budget: float,
        reg: float = 0.1,
        *,
        reg_type: str = "entropy",
        weights: Tensor | None = None,
        scores: Tensor | None = None,
        schedule: Any = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        shape = (n,) if isinstance(n, int) else tuple(int(d) for d in n)
        init = torch.zeros(shape) if scores is None else scores.detach().clone().reshape(shape)
        self.scores = nn.Parameter(init.to(dtype=dtype or init.dtype, device=device))
        if weights is not None:
            weights = (
                weights.detach().reshape(shape).to(device=self.scores.device, dtype=torch.float64)
            )
            if not (torch.isfinite(weights).all() and (weights > 0).all()):
                raise ValueError(
                    "weights: must be finite and > 0; got a non-positive or non-finite entry."
                )
        self.register_buffer("weights", weights)
        mass = float(math.prod(shape)) if weights is None else float(weights.sum())
        _check(float(budget), float(reg), reg_type, mass)
        self.budget, self.reg, self.reg_type, self.schedule = (
            float(budget),
            float(reg),
            reg_type,
            schedule,
        )
        self.threshold = math.nan
        """The dual variable of the last forward pass (where the next one starts)."""

    def forward(self) -> Tensor:
        mask, self.threshold = transport_mask(
            self.scores, self.budget, self.reg, reg_type=self.reg_type, weights=self.weights,
            start=self.threshold,
        )  # fmt: skip
        return mask

    def anneal(self, progress: float) -> float:
        """Set ``reg`` from the schedule at training progress ``progress`` in [0, 1]."""
        if self.schedule is None:
            raise ValueError("schedule: must be set to anneal; got None.")
        self.reg = float(self.schedule(progress))
        return self.reg

    def hard(self) -> Tensor:
        """The hard mask (bool, shape ``n``): the top scores (ties by index) within the budget."""
        s = self.scores.detach().reshape(-1)
        order = torch.sort(s, descending=True, stable=True).indices
        a = (
            torch.ones_like(s, dtype=torch.float64)
            if self.weights is None
            else self.weights.reshape(-1)
        )
        fits = torch.cumsum(a[order], 0) <= self.budget * (1 + 1e-12)
        mask = torch.zeros(s.numel(), dtype=torch.bool, device=s.device)
        mask[order[fits]] = True
        return mask.reshape(self.scores.shape)

    def prune(self, module: nn.Module, name: str = "weight", dim: int = 0) -> None:
        """Apply `hard` to ``module.<name>`` with ``torch.nn.utils.prune.custom_from_mask``.

        A mask with fewer dimensions than the parameter (channels) is broadcast along ``dim``.
        The mask is reversible until ``finalize`` (or ``prune.remove``) makes it permanent.
        """
        param = getattr(module, name)
        mask = self.hard().to(param.device)
        if mask.shape != param.shape:
            view = [1] * param.dim()
            view[dim] = mask.numel()
            mask = mask.reshape(view).expand_as(param)
        prune.custom_from_mask(module, name, mask.to(param.dtype))  # type: ignore[no-untyped-call]

    def extra_repr(self) -> str:
        shape = tuple(self.scores.shape)
        return f"n={shape}, budget={self.budget:g}, reg={self.reg:g}, reg_type={self.reg_type!r}"
