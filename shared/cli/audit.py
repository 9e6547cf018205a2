"""`modelfleet audit query | export | verify`: read and check the hash-chained audit log."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError, print_json
from modelfleet.cli._hub import connect, hub_command, hub_options, parse_time, plain, show
from modelfleet.client import AuditEvent, AuditFilter, HubClient

EVENT_COLUMNS = ("seq", "time", "actor_name", "action", "target", "outcome", "source")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("audit", help=HELP["audit"])
    commands = group.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    scoped = hub_options(workspace=True)
    filters = argparse.ArgumentParser(add_help=False)
    f = filters.add_argument_group("filters")
    f.add_argument("--since", metavar="ISO8601")
    f.add_argument("--until", metavar="ISO8601")
    f.add_argument("--actor", help="user name, API key or agent id")
    f.add_argument("--action", help='e.g. "Workspaces.SetMember"')
    f.add_argument("--target")
    f.add_argument("--outcome", choices=("ok", "denied", "error"))
    f.add_argument(
        "--hub-wide", action="store_true", help="every workspace (system admins) instead of one"
    )

    p = commands.add_parser(
        "query", parents=[scoped, filters], help="matching events, newest first"
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many events (default 50)")
    p.add_argument("--oldest-first", action="store_true")
    p.set_defaults(func=cmd_query)

    p = commands.add_parser(
        "export", parents=[scoped, filters], help="stream events as JSON Lines or CSV"
    )
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser(
        "verify", parents=[hub_options()], help="walk the whole hash chain (system admins)"
    )
    p.set_defaults(func=cmd_verify)


def _filter(args: argparse.Namespace) -> AuditFilter:
    return AuditFilter(
        since=parse_time(args.since, "--since") if args.since else None,
        until=parse_time(args.until, "--until") if args.until else None,
        actor=args.actor,
        action=args.action,
        target=args.target,
        outcome=args.outcome,
    )


def _client(args: argparse.Namespace) -> HubClient:
    return connect(args, workspace=not args.hub_wide).client


@hub_command
def cmd_query(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CliError("--limit must be >= 1", exit_code=2)
    audit_filter = _filter(args)
    events: list[AuditEvent] = []
    with _client(args) as client:
        token: str | None = None
        while len(events) < args.limit:
            page = client.query_audit(
                audit_filter,
                page_size=min(args.limit - len(events), 1000),
                page_token=token,
                oldest_first=args.oldest_first,
            )
            events.extend(page.items)
            if not (token := page.next_page_token):
                break
    events = events[: args.limit]
    show(args, events if args.json else [_with_agent_id(e) for e in events], EVENT_COLUMNS)
    return 0


def _with_agent_id(event: AuditEvent) -> AuditEvent:
    """Agents share host names; the table shows the agent id's first 8 characters too."""
    if event.actor_kind != "agent" or event.actor_id[:8] in event.actor_name:
        return event
    return dataclasses.replace(event, actor_name=f"{event.actor_name} ({event.actor_id[:8]})")


@hub_command
def cmd_export(args: argparse.Namespace) -> int:
    audit_filter = _filter(args)
    with _client(args) as client:
        chunks = client.export_audit(audit_filter, fmt=args.format)
        if args.output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.flush()
            return 0
        # Written beside the target and renamed, so a failed export leaves no half file.
        partial = args.output.with_name(args.output.name + ".partial")
        try:
            with partial.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
            partial.replace(args.output)
        finally:
            partial.unlink(missing_ok=True)
    print(f"Wrote {args.output}", file=sys.stderr)
    return 0


@hub_command
def cmd_verify(args: argparse.Namespace) -> int:
    with connect(args, workspace=False).client as client:
        result = client.verify_audit()
    if args.json:
        print_json(plain(result))
    elif result.ok:
        print(f"Audit chain intact: {result.rows_checked} rows checked.")
    else:
        print(
            f"Audit chain BROKEN at seq {result.first_bad_seq} ({result.problem}); "
            f"{result.rows_checked} rows checked."
        )
    return 0 if result.ok else 1
