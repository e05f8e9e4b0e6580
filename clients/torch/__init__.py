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
"""

from __future__ import annotations

from ._costs import dense_cost, relative_budget
from ._iterative import broadcast_plan, iterative, problem_for, schedule_density
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
from ._profile import DEFAULT_LEVELS, LOG_DENSITY_LEVELS, profile
from ._refine import measured_distortion, refine
from ._search import SearchResult, search
from ._soft_mask import BregmanSchedule, GeometricSchedule, TransportMask, transport_mask

__all__ = [
    "DEFAULT_LEVELS",
    "LOG_DENSITY_LEVELS",
    "Batch",
    "BregmanSchedule",
    "ChannelPair",
    "GeometricSchedule",
    "LayerMerge",
    "LayerReport",
    "LossIncrease",
    "MergeReport",
    "Metric",
    "ModelMergeReport",
    "PlanMismatchError",
    "PruneReport",
    "SearchResult",
    "TransportMask",
    "apply",
    "broadcast_plan",
    "canonical_name",
    "channel_features",
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
    "loss_increase",
    "measured_distortion",
    "merge_model",
    "merge_pair",
    "problem_for",
    "profile",
    "prune_pair",
    "refine",
    "relative_budget",
    "schedule_density",
    "search",
    "transport_mask",
]
