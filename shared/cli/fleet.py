"""`modelfleet agents ...`: join tokens, the agents of a workspace, and revocation."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._hub import connect, hub_command, hub_options, show, show_one
from modelfleet.fleet.selectors import format_labels, parse_labels

AGENT_COLUMNS = ("id", "hostname", "environment", "labels", "state", "health", "last_seen")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("agents", help=HELP["agents"])
    commands = group.add_subparsers(dest="agents_command", metavar="COMMAND", required=True)
    scoped = hub_options(workspace=True)

    p = commands.add_parser(
        "join-token", parents=[scoped], help="a single-use enrolment token (token alone on stdout)"
    )
    p.add_argument("--env", required=True, help="environment of the agent, e.g. production")
    p.add_argument("--labels", action="append", default=[], metavar="K=V[,K=V]")
    p.add_argument("--ttl", default="1h", help="lifetime: 30m, 1h, 2d (at most 7d)")
    p.add_argument(
        "--serving-name",
        action="append",
        default=[],
        metavar="NAME",
        help="DNS name or IP address the agent may serve TLS under (`run --tls-from-hub`); "
        "repeat for more. The hub signs only these names",
    )
    p.set_defaults(func=cmd_join_token)

    p = commands.add_parser("list", parents=[scoped], help="agents of the workspace")
    p.add_argument("--env", default="")
    p.add_argument("--selector", action="append", default=[], metavar="K=V")
    p.add_argument("--include-revoked", action="store_true")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("show", parents=[scoped], help="one agent with its last heartbeat")
    p.add_argument("id")
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("revoke", parents=[scoped], help="cut an agent off at once")
    p.add_argument("id")
    p.set_defaults(func=cmd_revoke)


def parse_ttl(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = text[:-1], text[-1:]
    if unit.isdigit():
        number, unit = text, "s"
    if not number.isdigit() or unit not in units or int(number) <= 0:
        raise ValueError(f"--ttl {text!r}: expected a duration like 30m, 1h or 2d")
    return int(number) * units[unit]


def _row(agent: Any) -> Any:
    return {**_fields(agent), "labels": format_labels(agent.labels)}


def _fields(agent: Any) -> dict[str, Any]:
    return {name: getattr(agent, name) for name in agent.__slots__}


@hub_command
def cmd_join_token(args: argparse.Namespace) -> int:
    labels = parse_labels(args.labels, what="--labels")
    ttl = parse_ttl(args.ttl)
    conn = connect(args)
    with conn.client:
        token = conn.client.create_join_token(
            args.env, labels, ttl, serving_names=args.serving_name
        )
    expires = token.expires_at.isoformat() if token.expires_at else "?"
    serving = ", serving names: " + ",".join(args.serving_name) if args.serving_name else ""
    print(
        f"join token {token.token_id} for environment {args.env!r} "
        f"(labels: {format_labels(labels) or 'none'}{serving}), single use, expires {expires}; "
        "run\n"
        "  modelfleet-agent join --hub HOST:PORT --token <token> --data-dir DIR",
        file=sys.stderr,
    )
    print(token.token)
    return 0


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    selector = format_labels(parse_labels(args.selector, what="--selector"))
    conn = connect(args)
    with conn.client:
        agents = conn.client.list_agents(args.env, selector, args.include_revoked)
    show(args, agents if args.json else [_row(a) for a in agents], AGENT_COLUMNS)
    return 0


@hub_command
def cmd_show(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        agent = conn.client.get_agent(args.id)
    columns = (*AGENT_COLUMNS, "agent_version", "http_url", "certificate_expires_at", "loaded")
    show_one(args, agent if args.json else _row(agent), columns)
    return 0


@hub_command
def cmd_revoke(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        agent = conn.client.revoke_agent(args.id)
    show_one(args, agent if args.json else _row(agent), AGENT_COLUMNS)
    return 0
