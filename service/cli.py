"""The ``pruneplan`` command line (placeholder)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("pruneplan: not implemented yet")
