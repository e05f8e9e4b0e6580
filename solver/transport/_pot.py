"""The references: POT's own solvers on the same matrices (POT imported when called).

Each method builds, per independent problem (the whole set for a total budget, every group
for per-group budgets), the source marginal :math:`a` (the element masses), the target
marginal :math:`(A - B, B)` and the cost matrix :math:`M = [s, 0]`, calls POT with its own
API, and reads the soft mask off the kept column: :math:`m = P_{:,1} / a`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._checks import Interval
from .._errors import InvalidProblemError
from ._semidual import Solved
from ._validate import F64, Bins, Instance

__all__ = ["POT_METHODS", "solve_bins", "solve_pot"]

OPTIONS: dict[str, Interval] = {
    "max_iter": Interval(1, 10**9, integer=True, optional=True),
    "tol": Interval(0.0, 1.0, optional=True, lo_open=True),
}
"""Options of every POT method: POT's ``numItermax`` and ``stopThr``."""

Call = Callable[[Any, F64, F64, F64, float, dict[str, Any]], tuple[F64, bool, int]]


def _options(options: dict[str, Any], iters: str, tol: str) -> dict[str, Any]:
    mapped = {iters: options.get("max_iter"), tol: options.get("tol")}
    return {k: v for k, v in mapped.items() if v is not None}


def _sinkhorn(method: str) -> Call:
    def call(
        ot: Any, a: F64, b: F64, M: F64, reg: float, opts: dict[str, Any]
    ) -> tuple[F64, bool, int]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan, log = ot.sinkhorn(
                a, b, M, reg, method=method, log=True, **_options(opts, "numItermax", "stopThr")
            )
        converged = not any("converge" in str(w.message).lower() for w in caught)
        return np.asarray(plan), converged, int(log.get("niter", 0))

    return call


def _smooth(
    ot: Any, a: F64, b: F64, M: F64, reg: float, opts: dict[str, Any], kind: str
) -> tuple[F64, bool, int]:
    reg_type = "l2" if kind == "l2" else "kl"
    with warnings.catch_warnings():  # POT passes scipy's deprecated L-BFGS-B `disp`
        warnings.simplefilter("ignore", DeprecationWarning)
        plan, log = ot.smooth.smooth_ot_dual(
            a, b, M, reg, reg_type=reg_type, log=True, **_options(opts, "numItermax", "stopThr")
        )
    res = log["res"]
    return np.asarray(plan), bool(res.success), int(getattr(res, "nit", 0))


def _emd(
    ot: Any, a: F64, b: F64, M: F64, reg: float, opts: dict[str, Any]
) -> tuple[F64, bool, int]:
    kwargs = {} if opts.get("max_iter") is None else {"numItermax": opts["max_iter"]}
    plan, log = ot.emd(a, b, M, log=True, **kwargs)
    return np.asarray(plan), log.get("warning") is None, 0


def _solve(
    ot: Any, a: F64, b: F64, M: F64, reg: float, opts: dict[str, Any], kind: str
) -> tuple[F64, bool, int]:
    reg_type = "L2" if kind == "l2" else "KL"
    extra = {"max_iter": opts.get("max_iter"), "tol": opts.get("tol")}
    result = ot.solve(
        M,
        a,
        b,
        reg=reg or None,
        reg_type=reg_type,
        **{k: v for k, v in extra.items() if v is not None},
    )
    status = getattr(result, "status", None)
    return np.asarray(result.plan), status in (None, 0, "converged", "optimal"), 0


POT_METHODS: dict[str, tuple[str | None, bool]] = {
    "sinkhorn": ("entropy", True),
    "sinkhorn_log": ("entropy", True),
    "smooth": (None, True),
    "emd": (None, False),
    "ot_solve": (None, False),
}
"""Per POT method: the one regulariser it takes (None: both) and whether it needs reg > 0."""


def _check(inst: Instance, method: str) -> None:
    kind, needs_reg = POT_METHODS[method]
    if needs_reg and inst.reg <= 0:
        raise InvalidProblemError("reg", f"> 0 for method {method!r}", repr(inst.reg))
    if kind is not None and inst.reg_type != kind:
        raise InvalidProblemError(
            "reg_type", f"{kind!r} for method {method!r}", repr(inst.reg_type)
        )
    if inst.bounded:
        raise InvalidProblemError(
            "min_keep", f"None (method {method!r} has no group bounds; use semi_dual)", "bounds"
        )


def _call(method: str, kind: str) -> Call:
    if method in ("sinkhorn", "sinkhorn_log"):
        return _sinkhorn(method)
    if method == "smooth":
        return lambda ot, a, b, M, reg, o: _smooth(ot, a, b, M, reg, o, kind)
    if method == "ot_solve":
        return lambda ot, a, b, M, reg, o: _solve(ot, a, b, M, reg, o, kind)
    return _emd


def solve_pot(inst: Instance, method: str, options: dict[str, Any]) -> Solved:
    """Soft masks from POT's ``method``: one call per independent problem."""
    import ot  # the [server] extra

    _check(inst, method)
    call = _call(method, inst.reg_type)
    a_all = inst.masses()
    runs = (
        [(0, len(inst.names))]
        if not inst.per_group
        else [(g, g + 1) for g in range(len(inst.names))]
    )
    mask = np.empty(inst.size)
    converged, iterations = True, 0
    for first, last in runs:
        lo, hi = int(inst.offsets[first]), int(inst.offsets[last])
        a, s = a_all[lo:hi], inst.scores[lo:hi]
        kept = float(inst.lo[first]) if inst.per_group else inst.budget
        b = np.array([max(a.sum() - kept, 0.0), kept])
        M = np.stack([s, np.zeros_like(s)], axis=1)
        plan, ok, it = call(ot, a, b, M, inst.reg, options)
        mask[lo:hi] = np.clip(plan[:, 1] / a, 0.0, 1.0)
        converged, iterations = converged and ok, iterations + it
    return Solved(mask, np.full(len(inst.names), math.nan), iterations, converged)


def solve_bins(problem: Bins, method: str, options: dict[str, Any]) -> tuple[F64, bool, int]:
    """``(plan, converged, iterations)`` of POT's ``method`` on a several-bins problem."""
    import ot  # the [server] extra

    kind, needs_reg = POT_METHODS[method]
    if needs_reg and problem.reg <= 0:
        raise InvalidProblemError("reg", f"> 0 for method {method!r}", repr(problem.reg))
    if kind is not None and problem.reg_type != kind:
        raise InvalidProblemError(
            "reg_type", f"{kind!r} for method {method!r}", repr(problem.reg_type)
        )
    call = _call(method, problem.reg_type)
    return call(ot, problem.weights, problem.bins, problem.costs, problem.reg, options)
