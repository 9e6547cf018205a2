"""`modelfleet api-keys ...`: keys for scripts and CI, scoped to one workspace and role."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError, print_json
from modelfleet.cli._hub import (
    connect,
    hub_command,
    hub_options,
    parse_time,
    plain,
    role_arg,
    show,
    show_one,
)
from modelfleet.client import Role

KEY_COLUMNS = (
    "id",
    "name",
    "workspace_name",
    "role",
    "prefix",
    "created_at",
    "expires_at",
    "revoked_at",
)


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("api-keys", help=HELP["api-keys"])
    commands = group.add_subparsers(dest="api_keys_command", metavar="COMMAND", required=True)
    scoped = hub_options(workspace=True)

    p = commands.add_parser(
        "create", parents=[scoped], help="create a key (its secret is shown once)"
    )
    p.add_argument("name")
    p.add_argument("--role", type=role_arg, default=Role.VIEWER, help="at most your own role")
    expiry = p.add_mutually_exclusive_group()
    expiry.add_argument("--expires-in-days", type=float, metavar="DAYS")
    expiry.add_argument("--expires-at", metavar="ISO8601")
    p.set_defaults(func=cmd_create)

    p = commands.add_parser("list", parents=[scoped], help="keys of the workspace")
    p.add_argument("--include-revoked", action="store_true")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("revoke", parents=[scoped], help="revoke a key now")
    p.add_argument("id")
    p.set_defaults(func=cmd_revoke)


def _expiry(args: argparse.Namespace) -> datetime | None:
    if args.expires_at:
        return parse_time(args.expires_at, "--expires-at")
    if args.expires_in_days is not None:
        if args.expires_in_days <= 0:
            raise CliError("--expires-in-days must be > 0", exit_code=2)
        return datetime.now(UTC) + timedelta(days=args.expires_in_days)
    return None


@hub_command
def cmd_create(args: argparse.Namespace) -> int:
    expires_at = _expiry(args)
    conn = connect(args)
    with conn.client:
        created = conn.client.create_api_key(args.name, args.role, expires_at)
    if args.json:
        print_json(plain(created))
        return 0
    show_one(args, created.key, KEY_COLUMNS)
    print(f"Secret (shown once; use it as MODELFLEET_API_KEY): {created.secret}")
    return 0


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        keys = conn.client.list_api_keys(include_revoked=args.include_revoked)
    show(args, keys, KEY_COLUMNS)
    return 0


@hub_command
def cmd_revoke(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        key = conn.client.revoke_api_key(args.id)
    show_one(args, key, KEY_COLUMNS)
    return 0
