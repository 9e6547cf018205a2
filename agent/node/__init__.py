"""The serving node: model repository, ONNX Runtime sessions, OIP gRPC/REST, batching, metrics."""
