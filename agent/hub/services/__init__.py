"""gRPC servicers of the hub's identity, workspace and audit services."""
