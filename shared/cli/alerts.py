"""`modelfleet alerts ...` (rules, alerts, acknowledge, silence) and `modelfleet channels ...`
(where notifications go; secrets are read from a file or stdin, never from the command line)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError
from modelfleet.cli._hub import (
    connect,
    hub_command,
    hub_options,
    parse_time,
    read_secret,
    show,
    show_one,
)
from modelfleet.client import EmailSettings

RULE_COLUMNS = ("name", "series", "comparator", "threshold", "for_seconds", "severity",
                "environment", "deployment", "channels")  # fmt: skip
ALERT_COLUMNS = ("id", "rule", "state", "severity", "value", "threshold", "labels",
                 "fired_at", "acknowledged_by", "silenced_until")  # fmt: skip
CHANNEL_COLUMNS = ("name", "kind", "target", "secret_set", "created_by", "created_at")
DELIVERY_COLUMNS = ("created_at", "channel", "event", "status", "attempts", "last_error")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> int:
    """argparse type: seconds from "90", "90s", "5m", "2h" or "1d"."""
    number, unit = (text[:-1], text[-1]) if text[-1:] in _DURATION_UNITS else (text, "s")
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 30s, 5m, 2h or 1d, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a duration >= 0, got {text!r}")
    return int(value * _DURATION_UNITS[unit])


def register(subparsers: Any) -> None:
    scoped = hub_options(workspace=True)
    group = subparsers.add_parser("alerts", help=HELP["alerts"])
    commands = group.add_subparsers(dest="alerts_command", metavar="COMMAND", required=True)
    commands.add_parser("rules", parents=[scoped], help="list the rules").set_defaults(
        func=cmd_rules
    )
    p = commands.add_parser(
        "create-rule",
        parents=[scoped],
        help='create a rule, e.g. latency_p95 ">" 50 --for 5m --deployment churn',
    )
    p.add_argument("name")
    p.add_argument("series", help="latency_p95, error_rate, drift_share, accuracy, ...")
    p.add_argument("comparator", choices=[">", ">=", "<", "<="])
    p.add_argument("threshold", type=float)
    p.add_argument("--for", dest="for_seconds", type=duration, default=0, metavar="DURATION")
    p.add_argument("--window", type=duration, default=0, metavar="DURATION")
    p.add_argument("--min-samples", type=int, default=0)
    p.add_argument("--resolve-threshold", type=float)
    p.add_argument("--severity", choices=["info", "warning", "critical"], default="warning")
    p.add_argument("--environment", default="")
    p.add_argument("--deployment", default="")
    p.add_argument("--agent", default="", help="agent id (agent_silent_seconds rules)")
    p.add_argument("--channel", action="append", default=[], help="repeat for several")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_create_rule)
    p = commands.add_parser("list", parents=[scoped], help="alerts (not inactive by default)")
    p.add_argument("--state", action="append", default=[],
                   choices=["pending", "firing", "resolved", "inactive"])  # fmt: skip
    p.add_argument("--rule", default="")
    p.add_argument("--history", action="store_true")
    p.set_defaults(func=cmd_list)
    p = commands.add_parser("ack", parents=[scoped], help="acknowledge a firing alert")
    p.add_argument("alert_id")
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_ack)
    p = commands.add_parser("silence", parents=[scoped], help="no notifications until a time")
    p.add_argument("alert_id")
    until = p.add_mutually_exclusive_group(required=True)
    until.add_argument("--for", dest="silence_for", type=duration, metavar="DURATION")
    until.add_argument("--until", metavar="ISO8601")
    until.add_argument("--lift", action="store_true", help="lift the silence now")
    p.add_argument("--note", default="")
    p.set_defaults(func=cmd_silence)
    _register_channels(subparsers, scoped)


def _register_channels(subparsers: Any, scoped: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("channels", help=HELP["channels"])
    commands = group.add_subparsers(dest="channels_command", metavar="COMMAND", required=True)
    p = commands.add_parser("add", parents=[scoped], help="add a channel")
    p.add_argument("name")
    p.add_argument("kind", choices=["email", "slack", "teams", "webhook"])
    secret = p.add_mutually_exclusive_group()
    secret.add_argument(
        "--secret-file", type=Path, help="the SMTP password, Slack/Teams URL or signing key"
    )
    secret.add_argument("--secret-stdin", action="store_true", help="read the secret from stdin")
    p.add_argument("--url", default="", help="webhook: the receiver URL")
    p.add_argument("--smtp-host", default="")
    p.add_argument("--smtp-port", type=int, default=0)
    security = p.add_mutually_exclusive_group()
    security.add_argument("--implicit-tls", action="store_true", help="same as --security tls")
    security.add_argument(
        "--security",
        choices=("starttls", "tls", "none"),
        default="starttls",
        help="SMTP: STARTTLS on 587 (default), TLS from the start on 465, or none: plain SMTP "
        "on 25, only to a server inside the hub's outbound_allowed_networks",
    )
    p.add_argument(
        "--allow-plaintext-auth",
        action="store_true",
        help="with --security none: send --username and the password without TLS",
    )
    p.add_argument("--username", default="")
    p.add_argument("--from", dest="from_address", default="")
    p.add_argument("--to", action="append", default=[], help="repeat for several recipients")
    p.add_argument("--ca-file", type=Path, help="PEM CA of an internal SMTP relay")
    p.set_defaults(func=cmd_add)
    commands.add_parser("list", parents=[scoped], help="list channels").set_defaults(
        func=cmd_channels
    )
    p = commands.add_parser("test", parents=[scoped], help="send a test notification now")
    p.add_argument("channel")
    p.set_defaults(func=cmd_test)
    p = commands.add_parser("remove", parents=[scoped], help="delete a channel")
    p.add_argument("channel")
    p.set_defaults(func=cmd_remove)
    p = commands.add_parser("deliveries", parents=[scoped], help="the delivery log")
    p.add_argument("--channel", default="")
    p.set_defaults(func=cmd_deliveries)


@hub_command
def cmd_rules(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        show(args, conn.client.list_rules(), RULE_COLUMNS)
    return 0


@hub_command
def cmd_create_rule(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        rule = conn.client.create_rule(
            args.name, args.series, args.comparator, args.threshold,
            for_seconds=args.for_seconds, window_seconds=args.window,
            min_samples=args.min_samples, resolve_threshold=args.resolve_threshold,
            severity=args.severity, environment=args.environment, deployment=args.deployment,
            agent_id=args.agent, channels=args.channel, description=args.description,
        )  # fmt: skip
    show_one(args, rule, RULE_COLUMNS)
    return 0


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        page = conn.client.list_alerts(states=args.state, rule=args.rule, history=args.history)
    show(args, page.items, ALERT_COLUMNS)
    return 0


@hub_command
def cmd_ack(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        show_one(args, conn.client.acknowledge_alert(args.alert_id, args.note), ALERT_COLUMNS)
    return 0


@hub_command
def cmd_silence(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    if args.lift:
        until = now - timedelta(seconds=1)
    elif args.until:
        until = parse_time(args.until, "--until")
    else:
        until = now + timedelta(seconds=args.silence_for)
    conn = connect(args)
    with conn.client:
        alert = conn.client.silence_alert(args.alert_id, until, args.note)
    show_one(args, alert, ALERT_COLUMNS)
    return 0


def _secret(args: argparse.Namespace) -> str:
    if args.secret_file is not None:
        try:
            return str(args.secret_file.read_text()).strip()
        except OSError as exc:
            raise CliError(f"--secret-file: {exc.strerror}", exit_code=2) from None
    if args.secret_stdin:
        return read_secret("", from_stdin=True)
    if args.kind == "email" and not args.username:
        return ""
    return read_secret(f"secret for {args.kind} channel {args.name!r}: ", from_stdin=False)


@hub_command
def cmd_add(args: argparse.Namespace) -> int:
    secret = _secret(args)
    email = None
    if args.kind == "email":
        email = EmailSettings(
            host=args.smtp_host, port=args.smtp_port, username=args.username,
            from_address=args.from_address, to=tuple(args.to),
            implicit_tls=args.implicit_tls or args.security == "tls",
            plaintext=args.security == "none", plaintext_auth=args.allow_plaintext_auth,
            ca_pem=args.ca_file.read_text() if args.ca_file else "",
        )  # fmt: skip
    conn = connect(args)
    with conn.client:
        channel = conn.client.create_channel(
            args.name, args.kind, secret=secret, url=args.url, email=email
        )
    show_one(args, channel, CHANNEL_COLUMNS)
    return 0


@hub_command
def cmd_channels(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        show(args, conn.client.list_channels(), CHANNEL_COLUMNS)
    return 0


@hub_command
def cmd_test(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        result = conn.client.test_channel(args.channel)
    if args.json:
        show_one(args, result, ("delivered", "error", "delivery_id"))
    elif result.delivered:
        print(f"test notification delivered through {args.channel!r}")
    else:
        print(f"test notification NOT delivered through {args.channel!r}: {result.error}")
    return 0 if result.delivered else 1


@hub_command
def cmd_remove(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        conn.client.delete_channel(args.channel)
    print(f"channel {args.channel!r} removed")
    return 0


@hub_command
def cmd_deliveries(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        show(args, conn.client.list_deliveries(channel=args.channel).items, DELIVERY_COLUMNS)
    return 0
