"""The gRPC front end: OIP inference, agent control and metrics services."""
