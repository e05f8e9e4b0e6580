"""Every numerical tolerance of the solvers, named once."""

from __future__ import annotations

OPTIMAL_GAP = 1e-9
"""Relative gap at or below which a plan counts as proven optimal (HiGHS's ``mip_rel_gap`` too)."""

GAP_FLOOR = 1e-12
"""Smallest denominator of a relative gap (objectives near 0)."""

BUDGET_RTOL = 1e-12
"""Relative slack on a budget for exact float sums: the up-front infeasibility check and the
baselines' rules (a plan of the rule fits when its total is within this of the budget)."""

FEAS_RTOL = 1e-10
"""Relative slack of the dense methods' budget checks (float sums in another order)."""

FIT_RTOL = 1e-9
"""Relative slack with which a returned plan must meet every budget."""

LEVEL_TOL = 1e-12
"""Slack of a level against a layer's [min_sparsity, max_sparsity] (both validation paths)."""

SNAP_TOL = 1e-12
"""Slack of the baselines when they snap a target to the level grid (float noise in
``1 - eps * r``)."""

TIE_RTOL = 1e-12
"""Relative difference within which two values count as equal: ties among minimisers, the
dual's kink and its convergence, the cheapest point of an LP hull."""

TINY = 1e-300
"""Absolute floor added where a relative tolerance meets values at 0."""

PRUNE_RTOL = 1e-11
"""Slack, relative to ``|incumbent| + |bound|``, by which the exact searches prune: a partial
plan survives within it, a new plan must beat the incumbent by more."""

BUCKET_RTOL = 1e-9
"""Slack of rounding a cost up to DP buckets (a cost on a bucket edge stays on it)."""

THRESHOLD_RTOL = 1e-9
"""Relative slack of the reduced-cost threshold of the exact method's restricted problems and
of their HiGHS cutoff."""

THRESHOLD_ATOL = 1e-12
"""Absolute slack of that threshold (reduced costs at 0)."""

REPAIR_TOL = 1e-15
"""Least reduction of the summed relative budget violation that counts as a repair move."""

CLUSTER_MOVE_RTOL = 1e-9
"""Clustering element moves: smallest gain, relative to the element's affinity scale, acted on."""

TRANSPORT_ROOT_RTOL = 1e-12
"""Relative residual of the kept mass at which the transport root finding stops."""

TRANSPORT_FULL_RTOL = 1e-12
"""Relative slack under which a transport target counts as the whole group (mask all 1)."""
