"""pruneplan gRPC service."""
