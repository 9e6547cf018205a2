"""Alert rule and channel forms: drafts the Alerts page edits, saved with hub refusals
mapped back to the form field they name."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from modelfleet.client import (
    AlertRule,
    Channel,
    EmailSettings,
    HubClient,
    InvalidArgument,
    Role,
)
from modelfleet.client._alerts_calls import RuleOptions
from modelfleet.desktop.services.permissions import Permissions

SERIES = (
    "latency_p50",
    "latency_p95",
    "latency_p99",
    "error_rate",
    "requests",
    "agent_silent_seconds",
    "drift_share",
    "accuracy",
)
COMPARATORS = (">", ">=", "<", "<=")
SEVERITIES = ("info", "warning", "critical")
CHANNEL_KINDS = ("email", "slack", "teams", "webhook")
# What the write-only secret of each channel kind is, for the form's label.
SECRET_MEANING = {
    "email": "SMTP password",
    "slack": "Slack incoming-webhook URL",
    "teams": "Teams incoming-webhook URL",
    "webhook": "HMAC signing key (optional)",
}
_INDEX = re.compile(r"\[\d+\]")


@dataclass(frozen=True)
class FieldError:
    """A refusal for one form field: `field` is the form's key, `message` what was expected."""

    field: str
    message: str


def field_error(exc: InvalidArgument | ValueError) -> FieldError:
    """The form field a hub (or client) refusal names, e.g. "spec.scope.deployment" ->
    "deployment", "email.to[1]" -> "to"; "" when it names none."""
    text = exc.message if isinstance(exc, InvalidArgument) else str(exc)
    name = exc.field if isinstance(exc, InvalidArgument) else None
    if name is None and ": " in text:
        name = text.split(": ", 1)[0]
    if name is not None and text.startswith(f"{name}: "):
        text = text[len(name) + 2 :]
    key = _INDEX.sub("", name or "").rsplit(".", 1)[-1]
    return FieldError(key, text[:1].upper() + text[1:])


@dataclass(frozen=True)
class RuleDraft:
    """The rule form's values (`editing` is the id of the rule being changed, else "")."""

    name: str
    series: str
    comparator: str
    threshold: float
    for_seconds: int = 0
    window_seconds: int = 0
    min_samples: int = 0
    severity: str = "warning"
    environment: str = ""
    deployment: str = ""
    agent_id: str = ""
    channels: tuple[str, ...] = ()
    description: str = ""
    disabled: bool = False
    editing: str = ""

    @classmethod
    def of(cls, rule: AlertRule) -> RuleDraft:
        return cls(
            name=rule.name, series=rule.series, comparator=rule.comparator,
            threshold=rule.threshold, for_seconds=rule.for_seconds,
            window_seconds=rule.window_seconds, min_samples=rule.min_samples,
            severity=rule.severity, environment=rule.environment, deployment=rule.deployment,
            agent_id=rule.agent_id, channels=rule.channels, description=rule.description,
            disabled=rule.disabled, editing=rule.id,
        )  # fmt: skip


def save_rule(client: HubClient, draft: RuleDraft, workspace: str | None) -> AlertRule | FieldError:
    """Create the rule, or replace the one being edited; a refusal comes back as a FieldError."""
    args = (draft.name.strip(), draft.series.strip(), draft.comparator, draft.threshold)
    options: RuleOptions = {
        "for_seconds": draft.for_seconds, "window_seconds": draft.window_seconds,
        "min_samples": draft.min_samples, "severity": draft.severity,
        "environment": draft.environment.strip(), "deployment": draft.deployment.strip(),
        "agent_id": draft.agent_id.strip(), "channels": draft.channels,
        "description": draft.description.strip(), "disabled": draft.disabled,
    }  # fmt: skip
    try:
        if draft.editing:
            return client.update_rule(draft.editing, *args, workspace=workspace, **options)
        return client.create_rule(*args, workspace=workspace, **options)
    except (InvalidArgument, ValueError) as exc:
        return field_error(exc)


@dataclass(frozen=True)
class ChannelDraft:
    """The channel form. `secret` is write-only: sent once, never read back or kept."""

    name: str
    kind: str
    secret: str = field(default="", repr=False)
    url: str = ""
    host: str = ""
    port: int = 0
    username: str = ""
    from_address: str = ""
    to: str = ""  # comma-separated recipients
    implicit_tls: bool = False


def create_channel(
    client: HubClient, draft: ChannelDraft, workspace: str | None
) -> Channel | FieldError:
    email = None
    if draft.kind == "email":
        recipients = tuple(a.strip() for a in draft.to.split(",") if a.strip())
        email = EmailSettings(
            host=draft.host.strip(), to=recipients, from_address=draft.from_address.strip(),
            port=draft.port, username=draft.username.strip(), implicit_tls=draft.implicit_tls,
        )  # fmt: skip
    try:
        return client.create_channel(
            draft.name.strip(), draft.kind, secret=draft.secret, url=draft.url.strip(),
            email=email, workspace=workspace,
        )  # fmt: skip
    except (InvalidArgument, ValueError) as exc:
        return field_error(exc)


def duration(seconds: int) -> str:
    """120 -> "2m", 5400 -> "1h30m", 45 -> "45s"."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def describe_rule(rule: AlertRule) -> str:
    """ "latency_p95 > 0.25 for 2m (window 1m, >= 10 samples)"."""
    text = f"{rule.series} {rule.comparator} {rule.threshold:g}"
    if rule.for_seconds:
        text += f" for {duration(rule.for_seconds)}"
    extra = [f"window {duration(rule.window_seconds)}"]
    if rule.min_samples:
        extra.append(f">= {rule.min_samples} samples")
    return f"{text} ({', '.join(extra)})"


def describe_scope(environment: str, deployment: str, agent_id: str) -> str:
    parts = [
        f"env {environment}" if environment else "",
        f"deployment {deployment}" if deployment else "",
        f"agent {agent_id[:8]}" if agent_id else "",
    ]
    return ", ".join(p for p in parts if p) or "whole workspace"


def can_edit_rules(permissions: Permissions) -> bool:
    """Rules, acknowledging, silencing and testing channels: developers and admins."""
    return permissions.role in (Role.DEVELOPER, Role.ADMIN)


def can_manage_channels(permissions: Permissions) -> bool:
    return permissions.role is Role.ADMIN
