"""Channel clustering as a dense multicut (ClusterFuG): redundant channels found and merged.

Pure numerical code: numpy and scipy (HiGHS); faiss for large kNN graphs and bioimage-cpp
for the reference method, both imported only when used.
"""

from .._dispatch import solve
from ._api import METHODS, cluster
from ._types import ClusterGroup, ClusteringProblem, ClusteringResult

solve.register(ClusteringProblem, cluster)

__all__ = ["METHODS", "ClusterGroup", "ClusteringProblem", "ClusteringResult", "cluster"]
