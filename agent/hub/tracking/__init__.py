"""Experiment tracking on the hub: filter grammar, search, ingest, downsampling."""
