"""Deployments: desired state per workspace, environment and name, kept as revisions."""
