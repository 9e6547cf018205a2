"""The model registry and artifact store on the hub: queries, ONNX checks, lineage, conversion."""
