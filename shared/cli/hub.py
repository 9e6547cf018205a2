"""`modelfleet hub init|serve|rotate-keys`: create, run and re-key the control-plane hub."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError


def register(subparsers: Any) -> None:
    hub = subparsers.add_parser("hub", help=HELP["hub"])
    commands = hub.add_subparsers(dest="hub_command", metavar="COMMAND", required=True)

    init = commands.add_parser(
        "init", help="create or upgrade a hub data directory (safe to re-run)"
    )
    init.add_argument("--data-dir", required=True, type=Path, help="hub data directory")
    init.add_argument(
        "--db",
        help="database URL (default: SQLite in the data directory), "
        "e.g. postgresql+psycopg://user@host/db",
    )
    init.add_argument("--admin-user", default="admin", help="first administrator's username")
    init.add_argument(
        "--admin-password-file",
        type=Path,
        help="read the first administrator's password from this file "
        "(default: generate a one-time password and print it)",
    )
    init.set_defaults(func=_init)

    serve = commands.add_parser("serve", help="serve the hub over gRPC with TLS")
    serve.add_argument("--data-dir", required=True, type=Path, help="hub data directory")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=7443, help="port (0: any free port)")
    serve.add_argument(
        "--ready-file",
        type=Path,
        help='write {"port", "ca_fingerprint", "pid"} here once listening',
    )
    serve.set_defaults(func=_serve)

    rotate = commands.add_parser(
        "rotate-keys",
        help="add new at-rest encryption keys and re-encrypt every stored secret "
        "(safe while the hub runs; re-run to finish an interrupted rotation)",
    )
    rotate.add_argument("--data-dir", required=True, type=Path, help="hub data directory")
    rotate.add_argument(
        "--retire-old",
        action="store_true",
        help="instead of rotating: remove the older secrets keys, refused while any stored "
        "secret still uses one (blob keys are kept: blobs are not re-encrypted)",
    )
    rotate.add_argument(
        "--batch-size",
        type=int,
        default=200,
        help="secrets re-encrypted per database transaction (default: 200)",
    )
    rotate.set_defaults(func=_rotate_keys)


def _init(args: argparse.Namespace) -> int:
    from modelfleet.agent.hub.bootstrap import init_hub
    from modelfleet.agent.hub.datadir import DataDirError
    from modelfleet.agent.hub.errors import HubError

    password = None
    if args.admin_password_file is not None:
        try:
            password = args.admin_password_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise CliError(f"--admin-password-file: cannot read ({exc.strerror})") from None
        if len(password) < 8:
            raise CliError("--admin-password-file: expected a password of at least 8 characters")
    try:
        result = init_hub(
            args.data_dir, db_url=args.db, admin_username=args.admin_user, admin_password=password
        )
    except (DataDirError, HubError) as exc:
        raise CliError(str(exc)) from None
    print(f"hub data directory: {result.data_dir}")
    print(f"database: {_redact(result.db_url)}")
    print(f"CA fingerprint: {result.ca_fingerprint}")
    if result.admin_password is None:
        print("already initialised; schema is up to date")
    elif result.generated_password:
        print(f"first administrator: {result.admin_username}")
        print(f"one-time password (shown once): {result.admin_password}")
    else:
        print(f"first administrator: {result.admin_username} (password from file)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from modelfleet.agent.hub.datadir import DataDirError
    from modelfleet.agent.hub.server import serve
    from modelfleet.agent.loop import loop_factory

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port: expected 0-65535, got {args.port}")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    # The schema check at start-up is not news.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            runner.run(
                serve(args.data_dir, host=args.host, port=args.port, ready_file=args.ready_file)
            )
    except DataDirError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot serve: {exc}") from None
    return 0


def _rotate_keys(args: argparse.Namespace) -> int:
    from modelfleet.agent.hub.datadir import DataDirError, HubPaths
    from modelfleet.agent.hub.keyrotation import RotationError, retire_old_keys, rotate_keys

    paths = HubPaths(args.data_dir)
    try:
        if args.retire_old:
            report = retire_old_keys(paths)
        else:
            report = rotate_keys(paths, batch_size=args.batch_size)
    except (DataDirError, RotationError) as exc:
        raise CliError(str(exc)) from None
    # Key ids only: key material is never printed.
    if args.retire_old:
        retired = ", ".join(report.retired_key_ids) or "none (only the current key was left)"
        print(f"secrets key: {report.secrets_key_id} (current)")
        print(f"retired secrets keys: {retired}")
        print(
            f"blob keys kept: {report.blob_key_count} "
            "(blobs are not re-encrypted; older blobs need their keys)"
        )
        return 0
    verb = "resumed the unfinished rotation to" if report.resumed else "new current"
    print(f"secrets key: {verb} {report.secrets_key_id}")
    print(f"blob key: {report.blobs_key_id} (new blobs; older blobs keep their keys)")
    total = sum(report.resealed.values())
    per_table = ", ".join(f"{t} {n}" for t, n in sorted(report.resealed.items()) if n)
    print(f"re-encrypted secrets: {total}" + (f" ({per_table})" if per_table else ""))
    print("older secrets keys stay until `modelfleet hub rotate-keys --retire-old`")
    return 0


def _redact(url: str) -> str:
    """The URL without its password, for printing."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
