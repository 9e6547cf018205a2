"""`modelfleet workspaces ...`: workspaces and who may do what in them."""

from __future__ import annotations

import argparse
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError
from modelfleet.cli._hub import connect, hub_command, hub_options, role_arg, show, show_one
from modelfleet.client import Role, save_profile

WORKSPACE_COLUMNS = ("name", "my_role", "archived", "created_at", "description")
MEMBER_COLUMNS = ("username", "role", "added_at")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("workspaces", help=HELP["workspaces"])
    commands = group.add_subparsers(dest="workspaces_command", metavar="COMMAND", required=True)
    common = hub_options()
    scoped = hub_options(workspace=True)

    p = commands.add_parser("list", parents=[common], help="workspaces you belong to")
    p.add_argument("--include-archived", action="store_true")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "create", parents=[common], help="create a workspace (you administer it)"
    )
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_create)

    p = commands.add_parser("use", parents=[common], help="make NAME the current workspace")
    p.add_argument("name")
    p.set_defaults(func=cmd_use)

    p = commands.add_parser("rename", parents=[scoped], help="rename the workspace")
    p.add_argument("new_name")
    p.set_defaults(func=cmd_rename)

    p = commands.add_parser("archive", parents=[scoped], help="archive the workspace")
    p.set_defaults(func=cmd_archive)

    p = commands.add_parser("members", parents=[scoped], help="members and their roles")
    p.set_defaults(func=cmd_members)

    p = commands.add_parser("add-member", parents=[scoped], help="add a user with a role")
    p.add_argument("user", help="user name or id")
    p.add_argument(
        "--role", type=role_arg, default=Role.VIEWER, help="viewer (default), developer or admin"
    )
    p.set_defaults(func=cmd_set_member)

    p = commands.add_parser("set-role", parents=[scoped], help="change a member's role")
    p.add_argument("user", help="user name or id")
    p.add_argument("role", type=role_arg, help="viewer, developer or admin")
    p.set_defaults(func=cmd_set_member)

    p = commands.add_parser("remove-member", parents=[scoped], help="remove a user")
    p.add_argument("user", help="user name or id")
    p.set_defaults(func=cmd_remove_member)


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        workspaces = conn.client.list_workspaces(include_archived=args.include_archived)
    show(args, workspaces, WORKSPACE_COLUMNS)
    return 0


@hub_command
def cmd_create(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        workspace = conn.client.create_workspace(args.name, args.description)
    show_one(args, workspace, WORKSPACE_COLUMNS)
    return 0


@hub_command
def cmd_use(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        workspace = conn.client.get_workspace(workspace=args.name)
    if conn.settings.api_key is not None:
        raise CliError(
            "`workspaces use` changes the saved login; with an API key set MODELFLEET_WORKSPACE"
        )
    save_profile(conn.profile.updated(workspace=workspace.name))
    print(f"Current workspace: {workspace.name}")
    return 0


@hub_command
def cmd_rename(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        workspace = conn.client.rename_workspace(args.new_name)
    if conn.profile.workspace == conn.settings.workspace and conn.settings.api_key is None:
        save_profile(conn.profile.updated(workspace=workspace.name))  # keep following it
    show_one(args, workspace, WORKSPACE_COLUMNS)
    return 0


@hub_command
def cmd_archive(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        workspace = conn.client.archive_workspace()
    show_one(args, workspace, WORKSPACE_COLUMNS)
    return 0


@hub_command
def cmd_members(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        members = conn.client.list_members()
    show(args, members, MEMBER_COLUMNS)
    return 0


@hub_command
def cmd_set_member(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        member = conn.client.set_member(args.user, args.role)
    show_one(args, member, MEMBER_COLUMNS)
    return 0


@hub_command
def cmd_remove_member(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        conn.client.remove_member(args.user)
    print(f"Removed {args.user} from {conn.settings.workspace}.")
    return 0
