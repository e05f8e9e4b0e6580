"""``pruneplan batch`` and ``pruneplan sweep``: offline batches on a pool, a server or Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ENGINES = ("local", "ray", "server")


def _engine_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=ENGINES, default="local", help="where to solve")
    p.add_argument("--workers", type=int, help="processes (local) or CPUs (ray); default: cores")
    p.add_argument("--server", help="HOST:PORT of a pruneplan server (--engine server)")
    p.add_argument("--address", help="Ray cluster address ('auto': this machine's cluster)")
    p.add_argument("--token-file", help="bearer token file for the server")
    p.add_argument("--tls-ca", help="CA certificate of the server (enables TLS)")
    p.add_argument("--chunk", type=int, help="requests per pool chunk, Ray task or server job")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parsers(sub: Any) -> None:
    """The ``batch`` and ``sweep`` subcommands."""
    p = sub.add_parser(
        "batch",
        help="solve a JSONL file of SolveRequests (resumable)",
        description="One SolveRequest (protobuf JSON, any family) per input line; one result "
        "or error per output line, matched by request_id. Rerunning with the same --out skips "
        "the requests already answered. Exit status 1 when any line failed.",
    )
    p.add_argument("file", type=Path, help="input .jsonl or .jsonl.gz")
    p.add_argument("--out", type=Path, required=True, help="output .jsonl or .jsonl.gz")
    _engine_arguments(p)
    p = sub.add_parser(
        "sweep",
        help="solve one saved problem (or a folder of them) over a range of budgets",
        description="Writes sweep.jsonl (the batch), results.jsonl, sweep.csv and sweep.png "
        "into --out-dir.",
    )
    p.add_argument("profile", type=Path, help="SolveRequest JSON file, or a folder of them")
    p.add_argument(
        "--budget",
        required=True,
        help="RESOURCE=START:STOP:STEP, fractions of the unpruned total (STOP included)",
    )
    p.add_argument("--method", help="comma-separated methods (default: the request's own)")
    p.add_argument("--absolute", action="store_true", help="budgets are totals, not fractions")
    p.add_argument("--out-dir", type=Path, default=Path("sweep"), help="default ./sweep")
    _engine_arguments(p)


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """`make_engine` keyword arguments from the command line."""
    options: dict[str, Any] = {
        "engine": args.engine,
        "workers": args.workers,
        "chunk_tasks": args.chunk,
    }
    if args.engine == "server":
        if not args.server:
            raise ValueError("--engine server needs --server HOST:PORT")
        options["server"] = args.server
        if args.token_file:
            options["token"] = Path(args.token_file).read_text(encoding="utf-8").strip()
        if args.tls_ca:
            options["tls_ca"] = args.tls_ca
    if args.engine == "ray":
        options["address"] = args.address
    return options


def batch(args: argparse.Namespace) -> int:
    from pruneplan.clients.batch import run_batch

    try:
        summary = run_batch(
            args.file, args.out, progress=not args.no_progress, **engine_options(args)
        )
    except (OSError, ValueError, ImportError) as exc:
        print(f"pruneplan batch: {exc}", file=sys.stderr)
        return 2
    print(summary.report(), file=sys.stderr)
    return 0 if summary.ok else 1


def sweep(args: argparse.Namespace) -> int:
    from pruneplan.clients.batch._sweep import run_sweep

    try:
        summary = run_sweep(
            args.profile,
            args.budget,
            args.out_dir,
            methods=args.method.split(",") if args.method else None,
            absolute=args.absolute,
            progress=not args.no_progress,
            **engine_options(args),
        )
    except (OSError, ValueError, ImportError) as exc:
        print(f"pruneplan sweep: {exc}", file=sys.stderr)
        return 2
    print(summary.report(), file=sys.stderr)
    print(f"sweep: wrote {args.out_dir / 'sweep.csv'} and {args.out_dir / 'sweep.png'}")
    return 0 if summary.ok else 1
