"""Benchmark ``semi_dual`` against POT on the two-bin transport (DTP soft masks), same run.

Instances: ``n`` scores drawn from N(0, 1), unit masses, 30% of the mass kept; entropic
``reg`` 1e-1 and 1e-2 against POT ``ot.sinkhorn(method="sinkhorn_log")``, and l2 ``reg`` 1e-1
against POT ``ot.smooth.smooth_ot_dual(reg_type="l2")``, both at POT's default settings, on
the matrices of the documented convention. For each row: the ``transport`` call's time (best
of a few; validation, the soft mask, the exact plan for the hard mask and the bound), the
budget error, POT's time on the same matrices, their ratio, POT's own budget error and the
largest deviation of the two masks. POT runs only up to ``--pot-max`` elements (it is
orders of magnitude slower; its rows above that say ``skipped``). Last, the torch module's
forward + backward time at the largest size (CPU; CUDA too where available).

Usage: ``python benchmarks/transport.py [--quick] [--pot-max N] [--json PATH]``
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from pruneplan.solver.transport import TransportProblem, transport

CASES = [("entropy", 1e-1), ("entropy", 1e-2), ("l2", 1e-1)]
SHARE = 0.3


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = math.inf, None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
        if best > 2.0:
            break
    return best, out


def _pot(scores: np.ndarray, budget: float, kind: str, reg: float) -> np.ndarray:
    import ot

    a = np.ones_like(scores)
    b = np.array([a.sum() - budget, budget])
    M = np.stack([scores, np.zeros_like(scores)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "entropy":
            plan = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log")
        else:
            plan = ot.smooth.smooth_ot_dual(a, b, M, reg, reg_type="l2")
    return np.asarray(plan)[:, 1] / a


def row(n: int, kind: str, reg: float, pot_max: int, repeats: int) -> dict[str, Any]:
    scores = np.random.default_rng(n).normal(size=n)
    budget = SHARE * n
    problem = TransportProblem({"w": scores}, budget, reg=reg, reg_type=kind)
    ours_s, result = _best(lambda: transport(problem), repeats)
    out: dict[str, Any] = {
        "n": n, "reg_type": kind, "reg": reg, "semi_dual_s": ours_s,
        "budget_error": result.budget_error, "iterations": result.iterations,
        "pot": "sinkhorn_log" if kind == "entropy" else "smooth_ot_dual",
    }  # fmt: skip
    if n > pot_max:
        return {**out, "pot_s": None, "ratio": None, "pot_budget_error": None, "max_dev": None}
    pot_s, mask = _best(lambda: _pot(scores, budget, kind, reg), 1)
    return {
        **out, "pot_s": pot_s, "ratio": pot_s / ours_s,
        "pot_budget_error": abs(float(mask.sum()) - budget) / budget,
        "max_dev": float(np.abs(mask - result.soft_mask["w"]).max()),
    }  # fmt: skip


def torch_rows(n: int) -> list[dict[str, Any]]:
    """Forward + backward of `TransportMask` at ``n`` elements: cold, then warm-started."""
    try:
        import torch
    except ImportError:
        return []
    from pruneplan.clients.torch import TransportMask

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    scores = torch.randn(n, generator=torch.Generator().manual_seed(0))
    for device in devices:
        for dtype in (torch.float32, torch.float64):
            module = TransportMask(n, SHARE * n, 1e-2, scores=scores, dtype=dtype, device=device)
            weight = torch.linspace(0, 1, n, dtype=dtype, device=device)
            for phase in ("cold", "warm"):
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                (module() * weight).sum().backward()
                if device == "cuda":
                    torch.cuda.synchronize()
                seconds = time.perf_counter() - start
                kept = float(module().detach().double().sum())
                rows.append({"n": n, "device": device, "dtype": str(dtype).split(".")[-1],
                             "phase": phase, "forward_backward_s": seconds,
                             "budget_error": abs(kept - SHARE * n) / (SHARE * n)})  # fmt: skip
    return rows


def _fmt(value: Any, spec: str) -> str:
    return "skipped" if value is None else format(value, spec)


def print_tables(
    rows: list[dict[str, Any]], torch_table: list[dict[str, Any]], pot_max: int
) -> None:
    print("| n | regulariser | semi_dual s | budget error | POT | POT s | POT / semi_dual |"
          " POT budget error | max dev |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n']:.0e} | {r['reg_type']} {r['reg']:g} | {r['semi_dual_s']:.4f} | "
              f"{r['budget_error']:.1e} | {r['pot']} | {_fmt(r['pot_s'], '.3f')} | "
              f"{_fmt(r['ratio'], '.0f')} | {_fmt(r['pot_budget_error'], '.1e')} | "
              f"{_fmt(r['max_dev'], '.1e')} |")  # fmt: skip
    print(f"\nPOT runs up to n = {pot_max:.0e} (--pot-max); above that its rows are skipped.\n")
    if torch_table:
        print("| n | device | dtype | call | forward+backward s | budget error |")
        print("|---|---|---|---|---|---|")
        for r in torch_table:
            print(f"| {r['n']:.0e} | {r['device']} | {r['dtype']} | {r['phase']} | "
                  f"{r['forward_backward_s']:.4f} | {r['budget_error']:.1e} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--pot-max", type=int, default=None, help="largest n POT runs at")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="element counts")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    default = [500, 2_000] if args.quick else [10_000, 1_000_000, 10_000_000]
    sizes = args.sizes or default
    pot_max = args.pot_max if args.pot_max is not None else (500 if args.quick else 10_000)
    rows = [
        row(n, kind, reg, pot_max, 2 if args.quick else 3) for n in sizes for kind, reg in CASES
    ]
    torch_table = torch_rows(sizes[-1])
    print_tables(rows, torch_table, pot_max)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "torch": torch_table, "pot_max": pot_max}, f, indent=2)


if __name__ == "__main__":
    main()
