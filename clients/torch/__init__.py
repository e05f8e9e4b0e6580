"""PyTorch integration: profile a model, request a plan, apply it as masks, retrain.

Only profiles leave the machine; weights never do. Ten lines from dense to pruned::

    from pruneplan.clients import Client
    from pruneplan.clients.torch import apply, finalize, problem_for, profile, relative_budget

    profiles = profile(model, calib_batches)                     # rate-distortion curves
    budget = relative_budget(profiles, {"flops": 0.3})           # 30% of the dense FLOPs
    plan = Client("127.0.0.1:50051").solve(problem_for(model, profiles, budget))
    report = apply(model, plan, example=calib_batches[0])        # exact top-k masks
    train(model)                                                 # your loop; masks stay
    finalize(model)                                              # masks made permanent

Layers are keyed by the parameter's fully qualified name (``"layer1.0.conv1.weight"``), with
``module.`` / ``_orig_mod.`` wrapper prefixes stripped.

Structured pruning (``pip install pruneplan[structured]``): channels, neurons and heads that
really leave the model, with coupled groups from Torch-Pruning's ``DependencyGraph``::

    from pruneplan.clients.torch import channel_graph, plan_channels, prune_channels

    graph = channel_graph(model, example)                        # coupled groups, exact costs
    plan = plan_channels(graph, calib, {"flops": 0.5 * graph.dense["flops"]}, importance="taylor")
    history = prune_channels(model, example, plan)               # physically smaller

``split_attention(model)`` first turns every ``nn.MultiheadAttention`` into an equal
``HeadAttention`` with separate projections, so whole heads can leave it.
"""

from __future__ import annotations

from ._attention import HeadAttention, split_attention
from ._channel_plan import LATENCY, ChannelPlan, plan_channels, problem_for_channels
from ._channels import ChannelGraph, ChannelGroup, channel_graph
from ._costs import dense_cost, relative_budget
from ._importance import IMPORTANCE, channel_importance
from ._iterative import broadcast_plan, iterative, problem_for, schedule_density
from ._latency_tables import LatencyTable, latency_tables
from ._layers import Batch, canonical_name, find_layers, fingerprint
from ._masks import LayerReport, PlanMismatchError, PruneReport, apply, finalize
from ._merge import (
    ChannelPair,
    LayerMerge,
    MergeReport,
    ModelMergeReport,
    channel_features,
    channel_pairs,
    cluster_and_merge,
    cluster_model,
    drop_channels,
    merge_model,
    merge_pair,
    prune_pair,
)
from ._metrics import LossIncrease, Metric, distortion, loss_increase
from ._physical import (
    ModelCost,
    StructuredReport,
    load_history,
    measure_model,
    prune_channels,
    rebuild,
    save_history,
    structured_report,
)
from ._profile import DEFAULT_LEVELS, LOG_DENSITY_LEVELS, profile
from ._refine import measured_distortion, refine
from ._search import SearchResult, search
from ._soft_mask import BregmanSchedule, GeometricSchedule, TransportMask, transport_mask
from ._zoo import mobilenet_v2, resnet18

__all__ = [
    "DEFAULT_LEVELS",
    "IMPORTANCE",
    "LATENCY",
    "LOG_DENSITY_LEVELS",
    "Batch",
    "BregmanSchedule",
    "ChannelGraph",
    "ChannelGroup",
    "ChannelPair",
    "ChannelPlan",
    "GeometricSchedule",
    "HeadAttention",
    "LatencyTable",
    "LayerMerge",
    "LayerReport",
    "LossIncrease",
    "MergeReport",
    "Metric",
    "ModelCost",
    "ModelMergeReport",
    "PlanMismatchError",
    "PruneReport",
    "SearchResult",
    "StructuredReport",
    "TransportMask",
    "apply",
    "broadcast_plan",
    "canonical_name",
    "channel_features",
    "channel_graph",
    "channel_importance",
    "channel_pairs",
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
    "split_attention",
    "structured_report",
    "transport_mask",
]
