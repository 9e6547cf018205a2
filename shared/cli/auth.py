"""`modelfleet login | logout | whoami`: signing in to a hub from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError, print_json
from modelfleet.cli._hub import (
    connect,
    hub_command,
    hub_options,
    plain,
    read_secret,
    settings_from,
    show,
    token_saver,
)
from modelfleet.client import (
    HubClient,
    ModelfleetError,
    Principal,
    TokenPair,
    account_name,
    default_store,
    load_profile,
    save_profile,
)


def register(subparsers: Any) -> None:
    login = subparsers.add_parser("login", parents=[hub_options()], help=HELP["login"])
    login.add_argument("-u", "--user", help="user name (password sign-in)")
    login.add_argument(
        "--sso",
        nargs="?",
        const="",
        metavar="PROVIDER",
        help="sign in through an SSO provider in the system browser (default: the only one)",
    )
    login.add_argument(
        "--device",
        nargs="?",
        const="",
        metavar="PROVIDER",
        help="SSO without a browser here: approve the sign-in on another device",
    )
    login.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    login.set_defaults(func=cmd_login)

    logout = subparsers.add_parser("logout", parents=[hub_options()], help=HELP["logout"])
    logout.set_defaults(func=cmd_logout)

    whoami = subparsers.add_parser("whoami", parents=[hub_options()], help=HELP["whoami"])
    whoami.set_defaults(func=cmd_whoami)


def _pick_workspace(principal: Principal | None, previous: str | None) -> str | None:
    names = [m.workspace_name for m in principal.memberships] if principal else []
    for candidate in (previous, "default"):
        if candidate and candidate in names:
            return candidate
    return names[0] if names else None


@hub_command
def cmd_login(args: argparse.Namespace) -> int:
    profile = load_profile()
    # Signing in as a user: an API key in the environment must not take over.
    settings = dataclasses.replace(settings_from(args, profile), api_key=None)
    if not settings.hub:
        raise CliError("no hub address: pass --hub HOST:PORT (or set MODELFLEET_HUB)", exit_code=2)
    sso = args.sso is not None or args.device is not None
    if sso == bool(args.user):
        raise CliError("pass either --user (password) or --sso / --device", exit_code=2)
    # Connect (and check the pin) before asking for the password.
    with HubClient.connect(settings) as client:
        client.get_hub_info()
        if sso:
            pair = sso_login(client, args)
        else:
            password = read_secret(
                f"Password for {args.user}@{settings.hub}: ", from_stdin=args.password_stdin
            )
            pair = client.login(args.user, password)
    username = args.user or (pair.principal.username if pair.principal else "")
    store = default_store()
    token_saver(store, account_name(settings.hub, username))(pair)
    same_login = profile.hub == settings.hub and profile.username == username
    workspace = _pick_workspace(pair.principal, profile.workspace if same_login else None)
    save_profile(
        profile.updated(
            hub=settings.hub, hub_ca=settings.hub_ca, username=username, workspace=workspace
        )
    )
    print(f"Logged in to {settings.hub} as {username}; current workspace: {workspace or '-'}")
    return 0


def sso_login(client: HubClient, args: argparse.Namespace) -> TokenPair:
    """`login --sso` (browser on this machine) or `login --device` (browser elsewhere)."""
    provider = args.sso if args.sso is not None else args.device
    if not provider:
        names = [name for name, _ in client.list_sso_providers()]
        if len(names) != 1:
            raise CliError(
                "name the SSO provider: " + (", ".join(names) or "this hub has none"),
                exit_code=2,
            )
        provider = names[0]
    if args.sso is not None:
        print(f"Opening the browser to sign in with {provider}...", file=sys.stderr)
        return client.login_sso(provider)
    login = client.start_device_login(provider)
    print(f"To sign in, open {login.verification_uri} and enter the code {login.user_code}")
    if login.verification_uri_complete:
        print(f"  (or open {login.verification_uri_complete})")
    sys.stdout.flush()
    return client.finish_device_login(login)


@hub_command
def cmd_logout(args: argparse.Namespace) -> int:
    profile = load_profile()
    if not profile.username or not profile.hub:
        print("Not logged in.", file=sys.stderr)
        return 0
    try:
        conn = connect(args, workspace=False)
        with conn.client:
            conn.client.logout()
    except (ModelfleetError, CliError) as exc:
        # Forget locally even when the hub cannot be told: the user asked to sign out.
        print(f"modelfleet: warning: the hub was not told ({exc})", file=sys.stderr)
    default_store(announce=False).delete(account_name(profile.hub, profile.username))
    save_profile(profile.updated(username=None))
    print(f"Logged out of {profile.hub}.")
    return 0


@hub_command
def cmd_whoami(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        principal = conn.client.whoami()
    if args.json:
        print_json(plain(principal))
        return 0
    admin = " (system admin)" if principal.system_admin else ""
    print(
        f"{principal.username or principal.user_id} [{principal.kind}]{admin} "
        f"on {conn.settings.hub}"
    )
    current = conn.profile.workspace
    rows = [
        {
            "current": "*" if m.workspace_name == current else "",
            "workspace": m.workspace_name,
            "role": m.role.value if m.role else None,
        }
        for m in principal.memberships
    ]
    show(args, rows, ["current", "workspace", "role"])
    return 0
