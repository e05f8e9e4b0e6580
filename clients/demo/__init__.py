"""End-to-end demo: train a digits CNN, profile it, get plans from a local server, prune, retrain.

Run ``pruneplan demo`` (or ``python -m pruneplan.clients.demo``). Everything is local: a server on
a free 127.0.0.1 port with its SQLite store in a temporary directory, scikit-learn's bundled digits
(nothing is downloaded), CPU only, seeded.
"""

# Each solver family has its own section module (``_allocation``, ``_transport``,
# ``_structured``, ``_clustering``); this module trains the model they share, runs them against
# one local server and writes their outputs.

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from pruneplan.solver import solve

from . import _allocation, _clustering, _structured, _transport
from ._allocation import LEVELS, METHODS, METRIC, REFINED, ROWS, Row
from ._digits import DigitsCNN, accuracy, load_digits, train

__all__ = ["LEVELS", "METHODS", "METRIC", "REFINED", "ROWS", "Row", "main", "run"]

AnySolve = Callable[[Any, str], Any]
"""``solve(problem, method) -> result`` for any family (each section's ``Solve`` narrows it)."""


@contextmanager
def local_service(workdir: Path, console: Console) -> Iterator[AnySolve]:
    """A server on a free loopback port with its SQLite store in ``workdir``, and a solve function.

    Falls back to the in-process solver (saying so) where the service is not installed.
    """
    try:
        from pruneplan.clients import Client
        from pruneplan.service.server import ServerConfig, create_server
    except ImportError as exc:
        console.print(f"[yellow]service unavailable ({exc}); solving in-process[/yellow]")
        yield lambda problem, method: solve(problem, method=method)
        return
    server, port = create_server(ServerConfig(port=0, db=str(workdir / "plans.sqlite")))
    console.print(f"server on 127.0.0.1:{port}, plan store {workdir / 'plans.sqlite'}")
    try:
        with Client(f"127.0.0.1:{port}") as client:
            yield lambda problem, method: client.solve(problem, method=method)
    finally:
        server.stop(0).wait()


class _OnDemand:
    """A solve function that starts the local server (and its temporary store) on first use,
    so that sections measure before any server runs; stopped when ``stack`` closes."""

    def __init__(self, stack: ExitStack, console: Console) -> None:
        self._stack = stack
        self._console = console
        self._solve: AnySolve | None = None

    def __call__(self, problem: Any, method: str) -> Any:
        if self._solve is None:
            workdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            self._solve = self._stack.enter_context(local_service(workdir, self._console))
        return self._solve(problem, method)


def run(
    *, out: Path, quick: bool, seed: int, console: Console, solve: AnySolve | None = None
) -> list[Row]:
    """The demo's pipeline; ``solve`` defaults to a local server (see ``local_service``)."""
    torch.manual_seed(seed)
    data = load_digits(seed)
    epochs = 4 if quick else 30
    start = time.perf_counter()
    model = train(DigitsCNN(), data.x_train, data.y_train, epochs=epochs, seed=seed)
    dense_acc = accuracy(model, data.x_test, data.y_test)
    console.print(
        f"trained digits CNN: {epochs} epochs, test accuracy {dense_acc:.1%} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    with ExitStack() as stack:
        solve_fn = solve if solve is not None else _OnDemand(stack, console)
        rows = _allocation.section(model, data, solve_fn, quick=quick, seed=seed, console=console)
        rows += _transport.section(model, data, solve_fn, quick=quick, seed=seed, console=console)
        structured = (
            _structured.section(model, data, solve_fn, quick=quick, seed=seed, console=console)
            if _structured.available()
            else None
        )
    console.print(_allocation.table(rows, dense_acc))
    png, data_json = _allocation.write(rows, dense_acc, out)
    console.print(f"wrote {png} and {data_json}")
    if structured is None:
        console.print(
            "[yellow]structured section skipped: pip install pruneplan[structured][/yellow]"
        )
    else:
        console.print(_structured.table(structured, dense_acc))
        console.print(f"wrote {_structured.write(structured, dense_acc, out)}")
    _clustering.show(model, data, dense_acc, out=out, quick=quick, seed=seed, console=console)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``pruneplan demo [--out DIR] [--quick] [--seed N]``."""
    parser = argparse.ArgumentParser(prog="pruneplan demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    parser.add_argument("--quick", action="store_true", help="tiny training, one budget (CI)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    console = Console() if sys.stdout.isatty() else Console(width=160)
    run(out=args.out, quick=args.quick, seed=args.seed, console=console)
    console.print(f"demo done in {time.perf_counter() - start:.1f} s")
    return 0
