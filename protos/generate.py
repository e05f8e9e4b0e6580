"""Regenerate the Python code of the pruneplan.v1 protocol, or check that it is up to date.

Usage::

    python protos/generate.py          # rewrite protos/pruneplan/v1/*_pb2*.py(i)
    python protos/generate.py --check  # regenerate into a temporary directory; exit 1 on a diff

The output depends only on the .proto files and the pinned grpcio-tools (constraints.txt).
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent
PACKAGE = Path("pruneplan") / "v1"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def _protos() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / PACKAGE).glob("*.proto"))


def generate(out: Path) -> None:
    """Run protoc on every .proto of the package, writing the Python code under ``out``."""
    include = str(resources.files("grpc_tools") / "_proto")
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *_protos(),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


def _generated(directory: Path) -> set[str]:
    return {p.name for p in directory.glob("*") if p.name.endswith(SUFFIXES)}


def check() -> int:
    """Regenerate into a temporary directory and compare; 0 if identical."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh, committed = Path(tmp) / PACKAGE, ROOT / PACKAGE
        names = _generated(fresh) | _generated(committed)
        stale = sorted(
            n
            for n in names
            if not (fresh / n).exists()
            or not (committed / n).exists()
            or not filecmp.cmp(fresh / n, committed / n, shallow=False)
        )
    if stale:
        print(f"generated code is stale: {', '.join(stale)}; run python protos/generate.py")
        return 1
    print("generated code is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if regenerating changes code")
    args = parser.parse_args(argv)
    if args.check:
        return check()
    generate(ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
