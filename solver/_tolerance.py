"""Every numerical tolerance of the solvers, named once."""

from __future__ import annotations

OPTIMAL_GAP = 1e-9
"""Relative gap at or below which a plan counts as proven optimal."""

GAP_FLOOR = 1e-12
"""Smallest denominator of a relative gap (objectives near 0)."""

BUDGET_RTOL = 1e-12
"""Relative slack on a budget before a problem is called infeasible up front."""

FEAS_RTOL = 1e-10
"""Relative slack of the dense methods' budget checks (float sums in another order)."""

FIT_RTOL = 1e-9
"""Relative slack with which a returned plan must meet every budget."""

LEVEL_TOL = 1e-12
"""Slack of a level against a layer's [min_sparsity, max_sparsity]."""

SNAP_TOL = 1e-12
"""Slack of the baselines when they snap a target to the level grid."""

TRANSPORT_ROOT_RTOL = 1e-12
"""Relative residual of the kept mass at which the transport root finding stops."""

TRANSPORT_FULL_RTOL = 1e-12
"""Relative slack under which a transport target counts as the whole group (mask all 1)."""
