"""Cost of the evaluator: `profile` against the pre-evaluator path, and a candidate evaluation.

For the digits CNN (trained 5 epochs, 2 batches of 128 images) and CREPE "tiny" (the wheel's
weights, 4 batches of 16 synthetic frames), on the 50-level ``LOG_DENSITY_LEVELS`` grid with
metric "kl": CPU seconds of ``profile`` and of the plain path it replaced (a sort per level and
one full forward pass per level and batch, kept in ``plain_curves``), their ratio and the
largest curve difference (absolute, and relative where the plain curve is above 1e-9); the same
for ``profile`` with ``_evaluator.CHANNELS_LAST`` off (the contiguous pass, bit-identical to the
plain path); and the CPU time of ``Evaluator.measure`` on a random plan in dense forward passes
of the same batches. One torch thread; process CPU time, so a loaded machine inflates both
sides alike. Run: ``python benchmarks/evaluator.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from quality import CrepeLogProbs, harmonic_frames, load_crepe

from pruneplan.clients.demo._digits import DigitsCNN, load_digits, train
from pruneplan.clients.torch import LOG_DENSITY_LEVELS, _evaluator, profile
from pruneplan.clients.torch._context import frozen, prune_target, pruned_to
from pruneplan.clients.torch._evaluator import Evaluator
from pruneplan.clients.torch._layers import effective_weight, find_layers, kept_count
from pruneplan.clients.torch._masks import topk_mask
from pruneplan.clients.torch._metrics import measure, reference_outputs


def plain_curves(
    model: nn.Module, batches: Sequence[torch.Tensor], levels: Sequence[float], metric: str
) -> dict[str, list[float]]:
    """The pre-evaluator profile: a sort and a full forward pass per level and batch."""
    out = {}
    with frozen(model):
        ref = reference_outputs(model, batches)
        for layer in find_layers(model):
            with pruned_to([], {}):
                target = prune_target(layer.module)
                saved = target.detach().clone()
                weight = effective_weight(layer.module)
                curve = []
                for level in levels:
                    kept = kept_count(layer.size, level)
                    if kept >= layer.size:
                        curve.append(0.0)
                        continue
                    target.mul_(topk_mask(weight, kept).to(target.dtype))
                    curve.append(max(0.0, measure(model, batches, ref, metric, None)))
                    target.copy_(saved)
            out[layer.name] = curve
    return out


def differences(old: dict[str, list[float]], new: Sequence[Any]) -> tuple[float, float]:
    """Largest absolute and relative (where the plain value is above 1e-9) curve difference."""
    absolute, relative = 0.0, 0.0
    for p in new:
        ref = np.asarray(old[p.name])
        gap = np.abs(ref - p.loss)
        absolute = max(absolute, float(gap.max()))
        big = ref > 1e-9
        relative = max(relative, float((gap[big] / ref[big]).max()) if big.any() else 0.0)
    return absolute, relative


def cpu(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.process_time()
    value = fn()
    return time.process_time() - t, value


def row(
    name: str, model: nn.Module, batches: list[torch.Tensor], levels: Sequence[float]
) -> dict[str, Any]:
    old_s, old = cpu(lambda: plain_curves(model, batches, levels, "kl"))
    new_s, new = cpu(lambda: profile(model, batches, levels=levels, metric="kl", progress=False))
    _evaluator.CHANNELS_LAST = False
    try:
        flat_s, flat = cpu(
            lambda: profile(model, batches, levels=levels, metric="kl", progress=False)
        )
    finally:
        _evaluator.CHANNELS_LAST = True
    diff, rel = differences(old, new)
    flat_diff, _ = differences(old, flat)
    with frozen(model):
        evaluator = Evaluator(model, find_layers(model), batches, "kl")
        rng = np.random.default_rng(0)
        plan = {layer.name: float(rng.uniform(0.3, 0.9)) for layer in evaluator.layers}
        dense_s, _ = cpu(lambda: [model(b) for _ in range(5) for b in batches])
        eval_s, _ = cpu(lambda: [evaluator.measure(plan) for _ in range(5)])
    return {
        "model": name,
        "plain_profile_s": old_s,
        "profile_s": new_s,
        "speedup": old_s / new_s,
        "max_curve_diff": diff,
        "max_relative_curve_diff": rel,
        "contiguous_profile_s": flat_s,
        "contiguous_speedup": old_s / flat_s,
        "contiguous_max_curve_diff": flat_diff,
        "dense_forwards_of_profile": new_s / (dense_s / 5),
        "evaluation_in_dense_forwards": eval_s / dense_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    levels = LOG_DENSITY_LEVELS[::4] if args.quick else LOG_DENSITY_LEVELS
    data = load_digits(0)
    torch.manual_seed(0)
    cnn = train(DigitsCNN(), data.x_train, data.y_train, epochs=5, seed=0)
    rows = [row("digits CNN", cnn, data.calibration(), levels)]
    frames, _ = harmonic_frames(16 if args.quick else 64, 1000)
    rows.append(
        row("CREPE tiny", CrepeLogProbs(load_crepe("tiny")), list(frames.split(16)), levels)
    )
    print(
        "| model | plain profile s | profile s | speed-up | max curve diff (relative) | "
        "contiguous: profile s, speed-up, max diff | profile in dense passes | evaluation in "
        "dense passes |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for r in rows:
        print(
            f"| {r['model']} | {r['plain_profile_s']:.2f} | {r['profile_s']:.2f} | "
            f"{r['speedup']:.2f}x | {r['max_curve_diff']:.2g} "
            f"({r['max_relative_curve_diff']:.2g}) | {r['contiguous_profile_s']:.2f}, "
            f"{r['contiguous_speedup']:.2f}x, {r['contiguous_max_curve_diff']:.2g} | "
            f"{r['dense_forwards_of_profile']:.0f} | {r['evaluation_in_dense_forwards']:.2f} |"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
