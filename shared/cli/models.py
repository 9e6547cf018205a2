"""`modelfleet models list|show|versions|alias|download` and `modelfleet push model.onnx`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError, print_json
from modelfleet.cli._hub import connect, hub_command, hub_options, plain, show, show_one
from modelfleet.client import ModelVersion, RegisteredModel

MODEL_COLUMNS = ("name", "latest_version", "aliases", "tags", "archived", "updated_at")
VERSION_COLUMNS = ("version", "aliases", "artifact_size", "opset", "created_by", "created_at")


def register(subparsers: Any) -> None:
    group = subparsers.add_parser("models", help=HELP["models"])
    commands = group.add_subparsers(dest="models_command", metavar="COMMAND", required=True)
    scoped = hub_options(workspace=True)

    p = commands.add_parser("list", parents=[scoped], help="models of the workspace")
    p.add_argument("query", nargs="?", default="", help="part of the model name")
    p.add_argument("--tag", default="", help="KEY or KEY=VALUE")
    p.add_argument("--alias", default="", help="only models with this alias")
    p.add_argument("--include-archived", action="store_true")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser(
        "show", parents=[scoped], help="a model, or one version (NAME@VERSION or NAME@ALIAS)"
    )
    p.add_argument("ref", metavar="NAME[@VERSION|@ALIAS]")
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("versions", parents=[scoped], help="versions of a model, newest first")
    p.add_argument("name")
    p.add_argument("--include-archived", action="store_true")
    p.set_defaults(func=cmd_versions)

    p = commands.add_parser("alias", parents=[scoped], help="point an alias at a version")
    p.add_argument("name")
    p.add_argument("alias")
    p.add_argument("version", type=int, nargs="?", help="version number (omit with --delete)")
    p.add_argument("--delete", action="store_true", help="remove the alias instead")
    p.set_defaults(func=cmd_alias)

    p = commands.add_parser(
        "download", parents=[scoped], help="save a version's ONNX file (digest verified)"
    )
    p.add_argument("ref", metavar="NAME@VERSION|NAME@ALIAS")
    p.add_argument("-o", "--output", type=Path, help="file to write (default: NAME-VERSION.onnx)")
    p.add_argument("--resume", action="store_true", help="continue a partial download")
    p.set_defaults(func=cmd_download)

    p = subparsers.add_parser("push", parents=[scoped], help=HELP["push"])
    p.add_argument("path", type=Path, metavar="MODEL.onnx")
    p.add_argument("--name", required=True, help="model name (created when missing)")
    p.add_argument("--alias", action="append", default=[], help="alias to point at it (repeat)")
    p.add_argument("--feature-names", nargs="+", default=[], metavar="NAME")
    p.add_argument("--profile", type=Path, help="reference profile JSON of the training data")
    p.add_argument("--description", default="")
    p.add_argument("--run", default="", help="id of the run that produced the model")
    p.set_defaults(func=cmd_push)


def split_ref(ref: str) -> tuple[str, int | None, str | None]:
    """NAME, NAME@3 or NAME@champion -> (name, version, alias)."""
    name, _, selector = ref.partition("@")
    if not name:
        raise CliError(f"expected NAME[@VERSION|@ALIAS], got {ref!r}", exit_code=2)
    if not selector:
        return name, None, None
    if selector.isdigit():
        return name, int(selector), None
    return name, None, selector


def _model_row(model: RegisteredModel) -> dict[str, Any]:
    row: dict[str, Any] = plain(model)
    row["aliases"] = ",".join(f"{a}={v}" for a, v in model.aliases.items()) or None
    row["tags"] = ",".join(f"{k}={v}" for k, v in sorted(model.tags.items())) or None
    return row


def _version_row(version: ModelVersion) -> dict[str, Any]:
    row: dict[str, Any] = plain(version)
    row["aliases"] = ",".join(version.aliases) or None
    row["opset"] = version.signature.opset.get("", version.signature.opset.get("ai.onnx"))
    return row


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    conn = connect(args)
    with conn.client:
        models = list(
            conn.client.iter_models(
                args.query, tag=args.tag, alias=args.alias, include_archived=args.include_archived
            )
        )
    if args.json:
        print_json([plain(m) for m in models])
    else:
        show(args, [_model_row(m) for m in models], MODEL_COLUMNS)
    return 0


@hub_command
def cmd_show(args: argparse.Namespace) -> int:
    name, number, alias = split_ref(args.ref)
    conn = connect(args)
    with conn.client:
        if number is None and alias is None:
            model = conn.client.get_model(name)
            if args.json:
                print_json(plain(model))
            else:
                show_one(args, _model_row(model), MODEL_COLUMNS)
                if model.description:
                    print(f"\n{model.description}")
            return 0
        version = conn.client.get_version(name, number, alias=alias)
    if args.json:
        print_json(plain(version))
        return 0
    show_one(args, _version_row(version), VERSION_COLUMNS)
    sig = version.signature
    print(f"\nartifact  sha256:{version.artifact_sha256}")
    for kind, specs in (("input ", sig.inputs), ("output", sig.outputs)):
        for spec in specs:
            print(f"{kind}    {spec.name}  {spec.datatype}  {list(spec.shape)}")
    if sig.feature_names:
        print(f"features  {', '.join(sig.feature_names)}")
    for key, value in sorted(version.metrics.items()):
        print(f"metric    {key} = {value:.6g}")
    if version.reference_profile_json:
        print("reference profile: stored")
    return 0


@hub_command
def cmd_versions(args: argparse.Namespace) -> int:
    conn = connect(args)
    versions: list[ModelVersion] = []
    with conn.client:
        token: str | None = None
        while True:
            page = conn.client.list_versions(
                args.name, include_archived=args.include_archived, page_token=token
            )
            versions.extend(page.items)
            if not (token := page.next_page_token):
                break
    if args.json:
        print_json([plain(v) for v in versions])
    else:
        show(args, [_version_row(v) for v in versions], VERSION_COLUMNS)
    return 0


@hub_command
def cmd_alias(args: argparse.Namespace) -> int:
    if args.delete == (args.version is not None):
        raise CliError("give a VERSION to point the alias at, or --delete", exit_code=2)
    conn = connect(args)
    with conn.client:
        if args.delete:
            conn.client.delete_alias(args.name, args.alias)
            print(f"Removed alias {args.alias!r} of {args.name}")
            return 0
        version = conn.client.set_alias(args.name, args.alias, args.version)
    if args.json:
        print_json(plain(version))
    else:
        print(f"{args.name}@{args.alias} -> version {version.version}")
    return 0


@hub_command
def cmd_download(args: argparse.Namespace) -> int:
    name, number, alias = split_ref(args.ref)
    if number is None and alias is None:
        raise CliError("name the version: NAME@VERSION or NAME@ALIAS", exit_code=2)
    conn = connect(args)
    with conn.client:
        version = conn.client.get_version(name, number, alias=alias)
        target = args.output or Path(f"{name}-{version.version}.onnx")
        conn.client.download_artifact(version.artifact_sha256, target, resume=args.resume)
    print(f"Saved {name} version {version.version} to {target} ({version.artifact_size} bytes)")
    return 0


@hub_command
def cmd_push(args: argparse.Namespace) -> int:
    if not args.path.is_file():
        raise CliError(f"{args.path}: no such file", exit_code=2)
    profile = args.profile.read_text() if args.profile else ""
    conn = connect(args)
    with conn.client:
        version = conn.client.push_model(
            args.path, args.name, aliases=args.alias, feature_names=args.feature_names,
            reference_profile_json=profile, description=args.description,
            source_run_id=args.run, progress=_progress if sys.stderr.isatty() else None,
        )  # fmt: skip
    if args.json:
        print_json(plain(version))
        return 0
    aliases = f" ({', '.join(version.aliases)})" if version.aliases else ""
    print(f"Registered {args.name} version {version.version}{aliases}")
    print(f"sha256:{version.artifact_sha256}  {version.artifact_size} bytes")
    return 0


def _progress(done: int, total: int) -> None:
    percent = 100 * done // total if total else 100
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\rUploading {done / 1e6:,.1f} / {total / 1e6:,.1f} MB ({percent}%){end}")
