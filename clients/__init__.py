"""pruneplan clients: the Python gRPC client and the PyTorch integration."""
