"""Alerting: rules over monitored series, alert states, and notification channels."""

from modelfleet.agent.hub.alerts.channel_service import ChannelsServicer
from modelfleet.agent.hub.alerts.runtime import AlertsRuntime
from modelfleet.agent.hub.alerts.service import AlertsServicer

__all__ = ["AlertsRuntime", "AlertsServicer", "ChannelsServicer"]
