"""The README's solver quickstart runs and prints what it promises."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_solver_quickstart_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python block"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "README.md", "exec"), {})
    printed = out.getvalue()
    assert printed.startswith("Status.OPTIMAL {'conv1.weight': 0.0, 'fc.weight': 0.75} 0.02 0.0"), (
        printed
    )


def _block(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    (block,) = [b for b in blocks if marker in b]
    return block


def _run(block: str) -> list[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, "README.md", "exec"), {})
    return out.getvalue().splitlines()


def test_selection_quickstart_prints_what_it_promises() -> None:
    (line,) = _run(_block("SelectionProblem"))
    assert line == "Status.OPTIMAL {'conv1': 4, 'conv2': 22}"


def test_transport_quickstart_meets_the_budget() -> None:
    soft, hard = _run(_block("TransportProblem"))
    assert soft.endswith(" 3.000000000000001") or soft.endswith(" 3.0")
    assert hard == "[0 0 0 0 0 1 1 1]"


def test_clustering_quickstart_merges_the_duplicates() -> None:
    (line,) = _run(_block("ClusteringProblem"))
    assert line == "[0 0 1 2 2 3] [1 1 2 3 3 5]"
