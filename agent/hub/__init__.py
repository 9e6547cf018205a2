"""The hub: the control plane (identity, registry, tracking, fleet, audit, alerts)."""
