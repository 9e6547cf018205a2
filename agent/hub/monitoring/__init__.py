"""Monitoring history on the hub: metric roll-ups from agents, queried in time buckets."""
