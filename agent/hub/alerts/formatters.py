"""What a notification says, per channel kind: e-mail, Slack, Microsoft Teams, webhook JSON."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import orjson

SEVERITY_COLOURS = {"info": "2E86DE", "warning": "F5A623", "critical": "D0021B"}
RESOLVED_COLOUR = "2EB67D"


@dataclass(frozen=True, slots=True)
class Notification:
    """A transition as it was when it happened; retries send exactly this."""

    event: str  # firing | resolved | test
    alert_id: str
    rule: str
    severity: str
    series: str
    comparator: str
    threshold: float
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    time: str = ""
    workspace: str = ""
    description: str = ""

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str) -> Notification:
        return cls(**orjson.loads(text))

    @property
    def scope(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items())) or "workspace"

    @property
    def title(self) -> str:
        if self.event == "test":
            return f"[TEST] modelfleet channel test ({self.workspace})"
        return f"[{self.event.upper()}] {self.rule} ({self.severity}) {self.scope}"

    @property
    def summary(self) -> str:
        if self.event == "test":
            return "This is a test notification from modelfleet; the channel works."
        verb = "is" if self.event == "firing" else "is back: now"
        return (
            f"{self.series} {verb} {self.value:.6g} (rule: {self.comparator} "
            f"{self.threshold:.6g}) for {self.scope} in workspace {self.workspace}."
        )


def webhook_body(n: Notification, idempotency_key: str) -> bytes:
    return orjson.dumps(
        {"version": 1, "idempotency_key": idempotency_key, **asdict(n), "title": n.title},
        option=orjson.OPT_SORT_KEYS,
    )


def slack_body(n: Notification) -> bytes:
    """Slack incoming-webhook JSON: a text fallback plus Block Kit sections."""
    facts = [f"*{k}*: {v}" for k, v in _facts(n)]
    return orjson.dumps(
        {
            "text": f"{n.title}: {n.summary}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": n.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": n.summary}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(facts)}},
            ],
        }
    )


def teams_body(n: Notification) -> bytes:
    """A Microsoft Teams incoming-webhook MessageCard."""
    colour = RESOLVED_COLOUR if n.event == "resolved" else SEVERITY_COLOURS.get(n.severity, "")
    return orjson.dumps(
        {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": n.title,
            "themeColor": colour,
            "title": n.title,
            "sections": [
                {"text": n.summary, "facts": [{"name": k, "value": v} for k, v in _facts(n)]}
            ],
        }
    )


def email_message(
    n: Notification, idempotency_key: str, from_address: str, to: list[str]
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = n.title
    msg["From"] = from_address
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(usegmt=True)
    # The same Message-ID on every retry lets mail systems drop a duplicate.
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    msg["Message-ID"] = f"<{digest}@modelfleet.alerts>"
    msg["X-Modelfleet-Idempotency-Key"] = idempotency_key
    lines = [n.summary, "", *(f"{k}: {v}" for k, v in _facts(n))]
    msg.set_content("\n".join(lines) + "\n")
    return msg


def _facts(n: Notification) -> list[tuple[str, str]]:
    if n.event == "test":
        return [("workspace", n.workspace), ("time", n.time)]
    facts: list[tuple[str, Any]] = [
        ("state", n.event),
        ("severity", n.severity),
        ("series", n.series),
        ("value", f"{n.value:.6g}"),
        ("condition", f"{n.comparator} {n.threshold:.6g}"),
        *sorted(n.labels.items()),
        ("workspace", n.workspace),
        ("time", n.time),
        ("alert", n.alert_id),
    ]
    if n.description:
        facts.append(("description", n.description))
    return [(k, str(v)) for k, v in facts]
