"""The demo package: its plot keeps every legend off the data, its files, its entry points."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from pruneplan.clients import demo
from pruneplan.clients.demo import _allocation

NAMES = ["conv1.weight", "conv2.weight", "conv3.weight", "fc1.weight", "fc2.weight"]


def rows() -> list[_allocation.Row]:
    """Every method at two budgets, sparsities near 1 where a legend inside would sit."""
    out = []
    for b, budget in enumerate((0.3, 0.1)):
        for m, method in enumerate(_allocation.ROWS):
            sparsity = {n: 0.97 - 0.01 * ((m + i + b) % 5) for i, n in enumerate(NAMES)}
            acc = 0.98 - 0.01 * m - 0.3 * b
            row = _allocation.Row(
                method, budget, 100, 400, 1e3, 4e3, acc, acc, 0.1, 0.2, "OPTIMAL", "", sparsity
            )
            out.append(row)
    return out


def test_legends_outside_the_axes() -> None:
    import matplotlib.pyplot as plt

    fig = _allocation.figure(rows(), 0.98)
    try:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        assert len(fig.axes) == 2
        for axes in fig.axes:
            legend = axes.get_legend()
            assert legend is not None
            box = legend.get_window_extent(renderer)
            assert not box.overlaps(axes.get_window_extent(renderer)), axes.get_title()
            assert box.y1 < axes.get_window_extent(renderer).y0  # below the axes
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert labels == list(_allocation.ROWS)
    finally:
        plt.close(fig)


def test_write_png_and_json(tmp_path: Path) -> None:
    written = _allocation.write(rows(), 0.98, tmp_path / "out")
    assert [p.name for p in written] == ["demo.png", "demo.json"]
    assert written[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads(written[1].read_text())
    assert data["dense_accuracy"] == 0.98
    assert [r["method"] for r in data["rows"]] == [*_allocation.ROWS, *_allocation.ROWS]


def test_entry_points() -> None:
    assert demo.__all__ == ["LEVELS", "METHODS", "METRIC", "REFINED", "ROWS", "Row", "main", "run"]
    assert ("exact", "exact (refined)", *demo.METHODS[1:]) == demo.ROWS
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--help"])
    assert exit_info.value.code == 0


def test_structured_table_and_json(tmp_path: Path) -> None:
    from pruneplan.clients.demo import _structured

    row = _structured.Row(
        "exact",
        "50% FLOPs",
        100.0,
        99.5,
        99.5,
        200.0,
        40,
        80,
        1.0,
        2.0,
        0.9,
        0.95,
        "OPTIMAL",
        {"conv1": 8},
    )
    assert row.speedup == 2.0
    table = _structured.table([row], 0.97)
    assert [c.header for c in table.columns][:3] == ["method", "budget", "achieved / target"]
    path = _structured.write([row], 0.97, tmp_path)
    data = json.loads(path.read_text())
    assert data["rows"][0]["kept"] == {"conv1": 8} and data["dense_accuracy"] == 0.97
    assert [b.label for b in _structured.budgets(quick=True)] == ["50% FLOPs", "60% latency"]
    assert _structured.METHODS == ("exact", "global_threshold", "greedy", "uniform")
