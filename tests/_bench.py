"""Run one of ``benchmarks/`` as a subprocess and read the JSON it writes (the smoke tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(name: str, tmp_path: Path, *args: str, timeout: float = 300) -> Any:
    """``python benchmarks/<name>.py ARGS --json PATH`` (must exit 0); the JSON at PATH."""
    out = tmp_path / f"{name}.json"
    subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{name}.py"), *args, "--json", str(out)],
        capture_output=True, text=True, check=True, timeout=timeout,
    )  # fmt: skip
    return json.loads(out.read_text())
