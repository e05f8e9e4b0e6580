"""The ``pruneplan`` command line: ``serve``, ``solve``, ``batch``, ``sweep`` and ``demo``.

Imports are lazy per command, so ``pruneplan solve --server`` works with a client-only install.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import _batch


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the gRPC server")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=50051, help="port (0: any free port)")
    p.add_argument("--workers", type=int, default=None, help="solver processes (default: cores)")
    p.add_argument("--db", default="pruneplan.db", help="SQLite plan store (default pruneplan.db)")
    p.add_argument("--token-file", help="require this bearer token (file holding it)")
    p.add_argument("--tls-cert", help="server certificate (PEM)")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", help="require client certificates from this CA (mTLS)")
    p.add_argument("--insecure", action="store_true", help="allow a public host without auth/TLS")
    p.add_argument("--metrics-port", type=int, help="serve Prometheus metrics on this port")
    p.add_argument("--max-message-mib", type=int, default=256, help="max message size (MiB)")
    p.add_argument("--max-layers", type=int, default=100_000, help="max layers per problem")
    p.add_argument("--max-elements", type=int, default=32 << 20, help="max numbers per problem")
    p.add_argument("--max-batch", type=int, default=10_000, help="max requests per batch")
    p.add_argument("--queue-size", type=int, default=64, help="waiting solves before overload")
    p.add_argument(
        "--inline-max-elements",
        type=int,
        default=None,
        help="solve problems with at most this many numbers on the RPC thread (0: never)",
    )
    p.add_argument("--grace", type=float, default=10.0, help="seconds to drain at shutdown")
    p.add_argument("--open-reflection", action="store_true", help="serve reflection without token")
    p.add_argument("--max-streams", type=int, default=1000, help="open streams in all")
    p.add_argument("--max-streams-per-peer", type=int, default=100, help="open streams per address")


def _solve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "solve",
        help="solve a problem file (SolveRequest as protobuf JSON)",
        description="Prints the SolveResponse as JSON on stdout and a per-layer table on stderr.",
    )
    p.add_argument("file", type=Path, help="SolveRequest in protobuf JSON (see examples/)")
    p.add_argument("--server", help="HOST:PORT of a pruneplan server (default: solve in-process)")
    p.add_argument("--method", help="override the request's method")
    p.add_argument("--out", type=Path, help="write the JSON response here instead of stdout")
    p.add_argument("--token-file", help="bearer token file for the server")
    p.add_argument("--tls-ca", help="CA certificate of the server (enables TLS)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pruneplan", description="Optimal pruning plans.")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _solve_parser(sub)
    _batch.add_parsers(sub)
    sub.add_parser("demo", help="end-to-end demo (PyTorch)", add_help=False)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from pruneplan.service.server import ServerConfig, serve

    config = ServerConfig(
        host=args.host,
        port=args.port,
        db=args.db,
        token_file=args.token_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        insecure=args.insecure,
        metrics_port=args.metrics_port,
        max_message_bytes=args.max_message_mib << 20,
        max_layers=args.max_layers,
        max_elements=args.max_elements,
        max_batch=args.max_batch,
        queue_size=args.queue_size,
        grace_s=args.grace,
        open_reflection=args.open_reflection,
        max_streams=args.max_streams,
        max_streams_per_peer=args.max_streams_per_peer,
        **({"workers": args.workers} if args.workers else {}),
        **(
            {"inline_max_elements": args.inline_max_elements}
            if args.inline_max_elements is not None
            else {}
        ),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return serve(config)
    except ValueError as exc:
        print(f"pruneplan serve: {exc}", file=sys.stderr)
        return 2


def _solve(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf import json_format

    from pruneplan.solver import InvalidProblemError
    from pruneplan.v1 import pruning_service_pb2 as pb

    from ._report import print_table, to_json

    try:
        request = json_format.Parse(args.file.read_text(encoding="utf-8"), pb.SolveRequest())
    except (OSError, json_format.ParseError) as exc:
        print(f"pruneplan solve: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.method:
        request.method = args.method
    try:
        response = _remote(request, args) if args.server else _local(request)
    except InvalidProblemError as exc:
        print(f"pruneplan solve: invalid problem: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:  # UNAVAILABLE, UNAUTHENTICATED, ...: one line, no traceback
        code = exc.code() if isinstance(exc, grpc.Call) else None
        name = code.name if code is not None else "ERROR"
        details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
        print(f"pruneplan solve: {args.server}: {name}: {details}", file=sys.stderr)
        return 2
    text = to_json(response)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    print_table(response)
    return 0


def _local(request: Any) -> Any:
    from pruneplan.service.dispatch import solve_request

    return solve_request(request)


def _remote(request: Any, args: argparse.Namespace) -> Any:
    from pruneplan.clients.client import Client

    token = None
    if args.token_file:
        token = Path(args.token_file).read_text(encoding="utf-8").strip()
    with Client(args.server, token=token, tls_ca=args.tls_ca, timeout=args.timeout) as client:
        return client.solve_request(request)


def _demo(argv: Sequence[str]) -> int:
    from pruneplan.clients.demo import main as demo_main

    return int(demo_main(list(argv)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pruneplan`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":
        return _demo(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "batch":
        return _batch.batch(args)
    if args.command == "sweep":
        return _batch.sweep(args)
    return _solve(args)
