"""`modelfleet mfa | sso providers | network`: two-step sign-in, SSO providers, IP allow-lists."""

from __future__ import annotations

import argparse
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import print_json
from modelfleet.cli._hub import connect, hub_command, hub_options, plain, show


def register(subparsers: Any) -> None:
    mfa = subparsers.add_parser("mfa", help=HELP["mfa"])
    mfa_sub = mfa.add_subparsers(dest="mfa_command", metavar="COMMAND", required=True)
    enroll = mfa_sub.add_parser("enroll", parents=[hub_options()], help="start: show the secret")
    enroll.set_defaults(func=cmd_mfa_enroll)
    for name, func, text in (
        ("confirm", cmd_mfa_confirm, "turn TOTP on with a current code; prints recovery codes"),
        ("disable", cmd_mfa_disable, "turn TOTP off (a current code or a recovery code)"),
        ("recovery-codes", cmd_mfa_recovery, "replace the recovery codes (a current code)"),
    ):
        p = mfa_sub.add_parser(name, parents=[hub_options()], help=text)
        p.add_argument("code", help="the 6-digit code from the app (or a recovery code)")
        p.set_defaults(func=func)

    sso = subparsers.add_parser("sso", help=HELP["sso"])
    sso_sub = sso.add_subparsers(dest="sso_command", metavar="COMMAND", required=True)
    providers = sso_sub.add_parser("providers", help="list, add or remove providers")
    prov_sub = providers.add_subparsers(dest="providers_command", metavar="COMMAND", required=True)
    add = prov_sub.add_parser("add", parents=[hub_options()], help="add a provider (admins)")
    add.add_argument("name")
    add.add_argument("--client-id", required=True)
    add.add_argument("--issuer", default="", help="issuer URL (not needed for google/microsoft)")
    add.add_argument("--preset", default="", choices=["", "google", "microsoft", "okta"])
    add.add_argument("--tenant", default="", help="Entra ID tenant id or domain (microsoft)")
    add.add_argument(
        "--client-secret-stdin", action="store_true", help="read the client secret from stdin"
    )
    add.add_argument("--allowed-domain", action="append", default=[], dest="domains")
    add.add_argument("--jit", action="store_true", help="create accounts on first sign-in")
    add.set_defaults(func=cmd_sso_add)
    listing = prov_sub.add_parser("list", parents=[hub_options()], help="providers to sign in with")
    listing.set_defaults(func=cmd_sso_list)
    remove = prov_sub.add_parser("remove", parents=[hub_options()], help="remove a provider")
    remove.add_argument("name")
    remove.set_defaults(func=cmd_sso_remove)

    network = subparsers.add_parser("network", help=HELP["network"])
    net_sub = network.add_subparsers(dest="network_command", metavar="COMMAND", required=True)
    allow = net_sub.add_parser("allow", parents=[hub_options(workspace=True)], help="add a CIDR")
    allow.add_argument("cidr")
    allow.add_argument("--for", dest="audience", default="people", choices=AUDIENCE_CHOICES)
    allow.add_argument("--note", default="")
    allow.set_defaults(func=cmd_network_allow)
    nlist = net_sub.add_parser("list", parents=[hub_options(workspace=True)], help="show a list")
    nlist.add_argument("--for", dest="audience", default="people", choices=AUDIENCE_CHOICES)
    nlist.set_defaults(func=cmd_network_list)
    nremove = net_sub.add_parser("remove", parents=[hub_options(workspace=True)], help="remove")
    nremove.add_argument("id")
    nremove.add_argument("--agents", action="store_true", help="an entry of the agents' list")
    nremove.set_defaults(func=cmd_network_remove)


AUDIENCE_CHOICES = ["people", "api-keys", "agents"]


@hub_command
def cmd_mfa_enroll(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        enrolment = conn.client.enroll_totp()
    if args.json:
        print_json(plain(enrolment))
        return 0
    print("Add this account to your authenticator app (scan the URI as a QR code, or type the")
    print(f"secret), then run `modelfleet mfa confirm CODE`:\n  {enrolment.otpauth_uri}")
    print(f"  secret: {enrolment.secret}")
    return 0


def _print_codes(codes: list[str]) -> None:
    print("Recovery codes (each works once; keep them somewhere safe, they are not shown again):")
    for code in codes:
        print(f"  {code}")


@hub_command
def cmd_mfa_confirm(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        codes = conn.client.confirm_totp(args.code)
    print("Two-step sign-in is on.")
    _print_codes(codes)
    return 0


@hub_command
def cmd_mfa_disable(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        conn.client.disable_totp(args.code)
    print("Two-step sign-in is off.")
    return 0


@hub_command
def cmd_mfa_recovery(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        _print_codes(conn.client.regenerate_recovery_codes(args.code))
    return 0


@hub_command
def cmd_sso_add(args: argparse.Namespace) -> int:
    import sys

    secret = sys.stdin.readline().rstrip("\r\n") if args.client_secret_stdin else ""
    conn = connect(args, workspace=False)
    with conn.client:
        issuer = conn.client.add_sso_provider(
            args.name, args.client_id, issuer=args.issuer, preset=args.preset,
            tenant=args.tenant, client_secret=secret, allowed_domains=args.domains,
            jit_user_creation=args.jit,
        )  # fmt: skip
    print(f"Added SSO provider {args.name} ({issuer}).")
    return 0


@hub_command
def cmd_sso_list(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        rows = [{"name": n, "display_name": d} for n, d in conn.client.list_sso_providers()]
    show(args, rows, ["name", "display_name"])
    return 0


@hub_command
def cmd_sso_remove(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=False)
    with conn.client:
        conn.client.remove_sso_provider(args.name)
    print(f"Removed SSO provider {args.name}.")
    return 0


@hub_command
def cmd_network_allow(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=args.audience != "agents")
    with conn.client:
        entry = conn.client.allow_network(args.audience, args.cidr, args.note)
    show(args, [entry], ["id", "audience", "cidr", "note"])
    return 0


@hub_command
def cmd_network_list(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=args.audience != "agents")
    with conn.client:
        entries = conn.client.list_allowed_networks(args.audience)
    show(args, entries, ["id", "audience", "cidr", "note", "created_by"])
    return 0


@hub_command
def cmd_network_remove(args: argparse.Namespace) -> int:
    conn = connect(args, workspace=not args.agents)
    with conn.client:
        conn.client.remove_allowed_network(args.id, agents=args.agents)
    print(f"Removed {args.id}.")
    return 0
