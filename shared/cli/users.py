"""`modelfleet users ...`: hub-wide user administration (system admins)."""

from __future__ import annotations

import argparse
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._hub import connect, hub_command, hub_options, read_secret, show, show_one

USER_COLUMNS = ("username", "display_name", "email", "system_admin", "disabled", "created_at")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("users", help=HELP["users"])
    commands = group.add_subparsers(dest="users_command", metavar="COMMAND", required=True)
    common = hub_options()

    p = commands.add_parser("list", parents=[common], help="users, optionally filtered")
    p.add_argument("--query", default="", help="substring of user name, email or display name")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("create", parents=[common], help="create a user")
    p.add_argument("username")
    p.add_argument("--email", default="")
    p.add_argument("--display-name", default="")
    p.add_argument("--system-admin", action="store_true", help="hub-wide administrator")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: the hub makes a one-time one)",
    )
    p.set_defaults(func=cmd_create)

    for name, disabled, text in (
        ("disable", True, "refuse sign-in"),
        ("enable", False, "allow it again"),
    ):
        p = commands.add_parser(name, parents=[common], help=f"{text} for a user")
        p.add_argument("user", help="user name or id")
        p.set_defaults(func=cmd_set_disabled, disabled=disabled)

    p = commands.add_parser("reset-password", parents=[common], help="issue a one-time password")
    p.add_argument("user", help="user name or id")
    p.set_defaults(func=cmd_reset_password)

    p = commands.add_parser("set-admin", parents=[common], help="grant or revoke system admin")
    p.add_argument("user", help="user name or id")
    p.add_argument("--revoke", action="store_true", help="take the flag away instead")
    p.set_defaults(func=cmd_set_admin)


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        users = list(conn.client.iter_users(args.query))
    show(args, users, USER_COLUMNS)
    return 0


@hub_command
def cmd_create(args: argparse.Namespace) -> int:
    password = read_secret("", from_stdin=True) if args.password_stdin else ""
    conn = connect(args, workspace=False)
    with conn.client:
        created = conn.client.create_user(
            args.username,
            email=args.email,
            display_name=args.display_name,
            password=password,
            system_admin=args.system_admin,
        )
    if args.json:
        show_one(args, created, [])
        return 0
    show_one(args, created.user, USER_COLUMNS)
    if created.one_time_password:
        print(f"One-time password (shown once): {created.one_time_password}")
    return 0


@hub_command
def cmd_set_disabled(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        user = conn.client.set_user_disabled(args.user, args.disabled)
    show_one(args, user, USER_COLUMNS)
    return 0


@hub_command
def cmd_reset_password(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        password = conn.client.reset_password(args.user)
    if args.json:
        show_one(args, {"user": args.user, "one_time_password": password}, [])
    else:
        print(f"One-time password for {args.user} (shown once): {password}")
    return 0


@hub_command
def cmd_set_admin(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        user = conn.client.set_system_admin(args.user, not args.revoke)
    show_one(args, user, USER_COLUMNS)
    return 0
