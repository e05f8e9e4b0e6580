"""pruneplan clients: the gRPC client and the PyTorch integration (`pruneplan.clients.torch`).

Importing this package pulls in neither torch nor the solver back ends (HiGHS, POT).
"""

from .client import Client, JobError, JobStatus, RemoteSearch, SearchSnapshot, SolveProgress

__all__ = ["Client", "JobError", "JobStatus", "RemoteSearch", "SearchSnapshot", "SolveProgress"]
