"""`modelfleet deploy|promote|rollback|traffic`, `modelfleet deployments list|show|events|
monitoring` and `modelfleet deployments keys create|list|revoke` (a deployment's inference
keys)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import orjson

from modelfleet.cli import HELP
from modelfleet.cli._common import print_json
from modelfleet.cli._hub import connect, hub_command, hub_options, plain, show, show_one
from modelfleet.fleet.selectors import format_labels, parse_labels

DEPLOYMENT_COLUMNS = ("name", "environment", "revision", "targets", "selector", "state", "agents")
EVENT_COLUMNS = ("revision", "kind", "actor", "time", "targets", "reason")
KEY_COLUMNS = ("id", "name", "rate_per_s", "burst", "created_by", "created_at")
_MODEL_REF = re.compile(r"^(?P<model>[^:@]+)(?::(?P<version>\d+)|@(?P<alias>[^:@]+))?$")
_SPLIT = re.compile(r"^v?(?P<version>\d+)=(?P<percent>\d+)$")


def register(subparsers: Any) -> None:
    scoped = hub_options(workspace=True)
    p = subparsers.add_parser("deploy", parents=[scoped], help=HELP["deploy"])
    p.add_argument(
        "model", metavar="MODEL[:VERSION|@ALIAS]", help="a bare MODEL deploys its @champion"
    )
    p.add_argument("--env", required=True)
    p.add_argument("--name", required=True, help="deployment name (the served model name)")
    p.add_argument("--selector", action="append", default=[], metavar="K=V")
    p.add_argument("--sticky-key", default="")
    p.add_argument(
        "--monitoring", type=Path, metavar="FILE",
        help="JSON monitoring settings (drift windows, methods, thresholds); default: keep",
    )  # fmt: skip
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_deploy)

    p = subparsers.add_parser("promote", parents=[scoped], help=HELP["promote"])
    p.add_argument("name")
    p.add_argument("--from", dest="from_env", default="staging")
    p.add_argument("--to", dest="to_env", required=True)
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_promote)

    p = subparsers.add_parser("rollback", parents=[scoped], help=HELP["rollback"])
    p.add_argument("name")
    p.add_argument("--env", required=True)
    p.add_argument("--to", dest="to_revision", type=int, default=0, metavar="REVISION")
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_rollback)

    p = subparsers.add_parser("traffic", parents=[scoped], help=HELP["traffic"])
    p.add_argument("name")
    p.add_argument("split", nargs="+", metavar="vVERSION=PERCENT")
    p.add_argument("--env", required=True)
    p.add_argument("--sticky-key", default="")
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_traffic)

    group = subparsers.add_parser("deployments", help=HELP["deployments"])
    commands = group.add_subparsers(dest="deployments_command", metavar="COMMAND", required=True)
    p = commands.add_parser("list", parents=[scoped], help="deployments of the workspace")
    p.add_argument("--env", default="")
    p.add_argument("--include-undeployed", action="store_true")
    p.set_defaults(func=cmd_list)
    for name, func, what in (
        ("show", cmd_show, "one deployment with its agents"),
        ("events", cmd_events, "every revision: who, when, why"),
    ):
        p = commands.add_parser(name, parents=[scoped], help=what)
        p.add_argument("name")
        p.add_argument("--env", required=True)
        p.set_defaults(func=func)
    p = commands.add_parser(
        "monitoring", parents=[scoped], help="set the drift/prediction settings agents use"
    )
    p.add_argument("name")
    p.add_argument("--env", required=True)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--file", type=Path, help="JSON: {drift: {...}, prediction, score}")
    which.add_argument("--reset", action="store_true", help="back to the defaults")
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_monitoring)
    _register_keys(commands, scoped)


def _register_keys(commands: Any, scoped: argparse.ArgumentParser) -> None:
    group = commands.add_parser(
        "keys", help="inference keys: once a deployment has one, its agents require it"
    )
    actions = group.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = actions.add_parser("create", parents=[scoped], help="a new key (its secret is shown once)")
    p.add_argument("deployment")
    p.add_argument("--env", required=True)
    p.add_argument("--name", required=True, help="who uses it, e.g. checkout-service")
    p.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = no limit")
    p.add_argument("--burst", type=int, default=0, help="requests at once; 0 = the rate")
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_keys_create)
    p = actions.add_parser("list", parents=[scoped], help="the deployment's keys (no secrets)")
    p.add_argument("deployment")
    p.add_argument("--env", required=True)
    p.set_defaults(func=cmd_keys_list)
    p = actions.add_parser("revoke", parents=[scoped], help="agents refuse the key from now on")
    p.add_argument("deployment")
    p.add_argument("key_id", metavar="KEY_ID")
    p.add_argument("--env", required=True)
    p.add_argument("--reason", default="")
    p.set_defaults(func=cmd_keys_revoke)


def parse_model_ref(text: str) -> tuple[str, int, str]:
    match = _MODEL_REF.match(text)
    if match is None:
        raise ValueError(f"MODEL {text!r}: expected NAME, NAME:VERSION or NAME@ALIAS")
    version, alias = match["version"], match["alias"]
    if version is None and alias is None:
        alias = "champion"
    return match["model"], int(version or 0), alias or ""


def parse_split(terms: list[str]) -> list[tuple[int, int]]:
    out = []
    for term in terms:
        match = _SPLIT.match(term)
        if match is None:
            raise ValueError(f"split {term!r}: expected vVERSION=PERCENT, e.g. v3=90")
        out.append((int(match["version"]), int(match["percent"])))
    return out


def read_settings(path: Path) -> dict[str, Any]:
    """A JSON object from `path`; ValueError naming the file otherwise."""
    try:
        document = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror})") from None
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a JSON object with drift, prediction or score")
    return document


def _row(d: Any) -> dict[str, Any]:
    row = plain(d)
    row["targets"] = " ".join(f"v{t.model_version}={t.percent}%" for t in d.targets)
    if hasattr(d, "agents"):
        row["agents"] = ", ".join(f"{a.hostname or a.agent_id}:{a.state}" for a in d.agents)
    return dict(row)


def _show(args: argparse.Namespace, deployment: Any) -> int:
    show_one(args, deployment if args.json else _row(deployment), DEPLOYMENT_COLUMNS)
    return 0


@hub_command
def cmd_deploy(args: argparse.Namespace) -> int:
    model, version, alias = parse_model_ref(args.model)
    selector = format_labels(parse_labels(args.selector, what="--selector"))
    settings = read_settings(args.monitoring) if args.monitoring is not None else None
    conn = connect(args)
    with conn.client:
        d = conn.client.deploy(
            args.name, args.env, model, version=version, alias=alias, selector=selector,
            sticky_key=args.sticky_key, reason=args.reason, monitoring=settings,
        )  # fmt: skip
    return _show(args, d)


@hub_command
def cmd_monitoring(args: argparse.Namespace) -> int:
    settings = {} if args.reset else read_settings(args.file)
    conn = connect(args)
    with conn.client:
        d = conn.client.set_monitoring(args.name, args.env, settings, args.reason)
    if args.json:
        print_json(plain(d))
    else:
        print_json(d.monitoring)
    return 0


@hub_command
def cmd_promote(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        d = conn.client.promote(args.name, args.from_env, args.to_env, args.reason)
    return _show(args, d)


@hub_command
def cmd_rollback(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        d = conn.client.rollback(args.name, args.env, args.to_revision, args.reason)
    return _show(args, d)


@hub_command
def cmd_traffic(args: argparse.Namespace) -> int:
    split = parse_split(args.split)
    conn = connect(args)
    with conn.client:
        d = conn.client.set_traffic(args.name, args.env, split, args.sticky_key, args.reason)
    return _show(args, d)


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        items = conn.client.list_deployments(args.env, args.include_undeployed)
    show(args, items if args.json else [_row(d) for d in items], DEPLOYMENT_COLUMNS)
    return 0


@hub_command
def cmd_show(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        d = conn.client.get_deployment(args.name, args.env)
    return _show(args, d)


@hub_command
def cmd_events(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        events = conn.client.deployment_events(args.name, args.env)
    show(args, events if args.json else [_row(e) for e in events], EVENT_COLUMNS)
    return 0


@hub_command
def cmd_keys_create(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        key, secret = conn.client.create_inference_key(
            args.deployment, args.env, args.name, rate_per_s=args.rate, burst=args.burst,
            reason=args.reason,
        )  # fmt: skip
    if args.json:
        print_json({**plain(key), "secret": secret})
        return 0
    show_one(args, key, KEY_COLUMNS)
    print(f"Secret (shown once; send it as 'Authorization: Bearer <secret>'): {secret}")
    return 0


@hub_command
def cmd_keys_list(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        keys = conn.client.list_inference_keys(args.deployment, args.env)
    show(args, keys, KEY_COLUMNS)
    return 0


@hub_command
def cmd_keys_revoke(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        key = conn.client.revoke_inference_key(
            args.deployment, args.env, args.key_id, reason=args.reason
        )
    show_one(args, key, KEY_COLUMNS)
    return 0
