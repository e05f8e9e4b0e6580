"""The surface of `pruneplan.clients.torch`: pinned names, private modules, runnable examples."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

import pruneplan.clients.torch as client_torch

PUBLIC = [
    "DEFAULT_LEVELS",
    "IMPORTANCE",
    "LATENCY",
    "LOG_DENSITY_LEVELS",
    "Batch",
    "BregmanSchedule",
    "GeometricSchedule",
    "HeadAttention",
    "ChannelPair",
    "LayerMerge",
    "ChannelGraph",
    "ChannelGroup",
    "ChannelPlan",
    "LatencyTable",
    "LayerReport",
    "LossIncrease",
    "MergeReport",
    "Metric",
    "ModelMergeReport",
    "PlanMismatchError",
    "PruneReport",
    "SearchResult",
    "TransportMask",
    "ModelCost",
    "StructuredReport",
    "apply",
    "broadcast_plan",
    "canonical_name",
    "channel_features",
    "channel_pairs",
    "channel_graph",
    "channel_importance",
    "cluster_and_merge",
    "cluster_model",
    "dense_cost",
    "distortion",
    "drop_channels",
    "finalize",
    "find_layers",
    "fingerprint",
    "iterative",
    "latency_tables",
    "load_history",
    "loss_increase",
    "measure_model",
    "measured_distortion",
    "merge_model",
    "merge_pair",
    "mobilenet_v2",
    "plan_channels",
    "problem_for",
    "problem_for_channels",
    "profile",
    "prune_channels",
    "prune_pair",
    "rebuild",
    "refine",
    "relative_budget",
    "resnet18",
    "save_history",
    "schedule_density",
    "search",
    "transport_mask",
    "split_attention",
    "structured_report",
]

MODULES = sorted(
    f"{client_torch.__name__}.{info.name}" for info in pkgutil.iter_modules(client_torch.__path__)
)


def test_all_is_pinned() -> None:
    assert sorted(client_torch.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(client_torch, name) is not None


def test_modules_split_by_concern() -> None:
    names = [m.rsplit(".", 1)[1] for m in MODULES]
    assert names == [
        "_attention",
        "_cache",
        "_channel_plan",
        "_channels",
        "_context",
        "_costs",
        "_evaluator",
        "_importance",
        "_iterative",
        "_latency",
        "_latency_tables",
        "_layers",
        "_masks",
        "_merge",
        "_metrics",
        "_physical",
        "_profile",
        "_refine",
        "_search",
        "_soft_mask",
        "_zoo",
    ]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.rsplit(".", 1)[1])
def test_no_private_imports_between_modules(module: str) -> None:
    """What modules share is a public name of its (private) module, listed in its ``__all__``."""
    mod = importlib.import_module(module)
    assert mod.__file__ is not None
    tree = ast.parse(Path(mod.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            source = importlib.import_module(f"{client_torch.__name__}.{node.module}")
            for alias in node.names:
                assert not alias.name.startswith("_"), f"{module} imports {alias.name}"
                assert alias.name in source.__all__, f"{node.module}.{alias.name} not in __all__"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.rsplit(".", 1)[1])
def test_examples_run(module: str) -> None:
    mod = importlib.import_module(module)
    failed, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert failed == 0
