"""The `modelfleet-agent` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelfleet._version import __version__
from modelfleet.cli._common import exit_quietly_on_closed_pipe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelfleet-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modelfleet-agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(commands)
    _add_join(commands)
    _add_run(commands)
    _add_keys(commands)
    return parser


_OPEN_WARNING = (
    "Inference is open by default and the agent binds 127.0.0.1 only. Bound to any other "
    "address without --inference-keys, it logs a loud WARNING at start: anyone who can reach "
    "the ports can call every model. Protect such an agent with --inference-keys (keys from "
    "`modelfleet-agent keys create`) and --tls-cert/--tls-key."
)


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve", help="serve the ONNX models of a model repository", description=_OPEN_WARNING
    )
    serve.add_argument("--models", type=Path, required=True, help="DIR/<model>/<version>/")
    _add_serving_options(serve)
    serve.set_defaults(func=_serve)


def _add_join(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    join = commands.add_parser("join", help="enrol this agent with a hub using a join token")
    join.add_argument("--hub", default="", help="HOST:PORT of the hub (default: the token's hint)")
    join.add_argument("--token", required=True, help="from `modelfleet agents join-token`")
    join.add_argument("--data-dir", type=Path, required=True, help="where the identity is kept")
    join.set_defaults(func=_join)


def _add_run(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="serve the deployments the hub assigns to this agent")
    run.add_argument("--data-dir", type=Path, required=True, help="as given to `join`")
    run.add_argument("--heartbeat-s", type=float, default=5.0)
    run.add_argument("--rollup-window-s", type=int, default=10)
    run.add_argument("--artifact-cache-gb", type=float, default=20.0, help="LRU size cap")
    run.add_argument("--grace-s", type=float, default=60.0, help="old versions stay loaded")
    run.add_argument(
        "--tls-from-hub",
        action="store_true",
        help="serve TLS with the serving certificate the hub issued at join (for the names "
        "the join token granted; clients trust serving-ca.pem from the data dir)",
    )
    _add_serving_options(run)
    run.set_defaults(func=_run)


def _add_keys(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("keys", help="inference keys for `serve --inference-keys`")
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", help="make a key: prints the secret once, stores only its sha256"
    )
    create.add_argument("--models", required=True, help="m1,m2 (or '*' for every model)")
    create.add_argument("--rate", type=float, help="requests per second (default: no limit)")
    create.add_argument("--burst", type=int, help="requests at once (default: the rate)")
    create.add_argument("--file", type=Path, help="keys file (default: in the user data dir)")
    create.set_defaults(func=_keys_create)


def _add_serving_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="bind address (non-loopback: see the warning above)"
    )
    parser.add_argument("--http-port", type=int, default=8000, help="0 lets the OS choose")
    parser.add_argument("--grpc-port", type=int, default=8001, help="0 lets the OS choose")
    parser.add_argument("--ready-file", type=Path, help="written once every model is warm")
    parser.add_argument("--control-token-file", type=Path, help="bearer token for AgentControl")
    parser.add_argument("--max-batch-size", type=int, default=64, help="0 or 1 = no batching")
    parser.add_argument("--max-queue-delay-us", type=int, default=0)
    parser.add_argument("--max-body-bytes", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--max-batch-rows", type=int, default=4096)
    parser.add_argument("--max-in-flight", type=int, default=256, help="per model")
    parser.add_argument("--request-timeout-ms", type=int, default=10_000)
    parser.add_argument("--drain-timeout-s", type=float, default=30.0)
    parser.add_argument(
        "--no-monitoring",
        action="store_true",
        help="no drift, prediction log or feedback endpoint",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--tls-cert", type=Path, help="PEM certificate chain: TLS on both ports")
    parser.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    parser.add_argument(
        "--inference-keys",
        type=Path,
        help="JSON keys file: every model then needs 'Authorization: Bearer <key>'",
    )
    parser.add_argument(
        "--allowed-hosts",
        help="Host names accepted besides the bound address and localhost (DNS rebinding "
        "guard; on by default for loopback binds; '*' turns it off)",
    )


def _serving_config(
    args: argparse.Namespace, models: Path | None, token_file: Path, hub_pem: Path | None = None
) -> Any:
    # Imported here so `--help` stays instant and the hub does not load serving code.
    from modelfleet.agent.node.access import (
        KeysFileError,
        TlsError,
        TlsFiles,
        hub_serving_files,
        load_keys_file,
    )
    from modelfleet.agent.node.config import AgentConfig
    from modelfleet.agent.node.limits import Limits
    from modelfleet.agent.node.repository import Batching

    for name in ("max_batch_size", "max_queue_delay_us", "http_port", "grpc_port"):
        if getattr(args, name) < 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("max_body_bytes", "max_batch_rows", "max_in_flight", "request_timeout_ms"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be > 0")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("--tls-cert and --tls-key go together")
    allowed = _names(args.allowed_hosts) if args.allowed_hosts is not None else None
    tls = None
    try:
        if args.tls_cert is not None:
            if hub_pem is not None:
                raise SystemExit("--tls-from-hub and --tls-cert/--tls-key exclude each other")
            tls = TlsFiles(args.tls_cert, args.tls_key)
        elif hub_pem is not None:
            tls = hub_serving_files(hub_pem, [args.host, *(allowed or ())])
        if tls is not None:
            tls.ssl_context()  # fail now, with the reason, rather than after binding
        keys = load_keys_file(args.inference_keys) if args.inference_keys is not None else None
    except (TlsError, KeysFileError, OSError) as exc:
        raise SystemExit(f"modelfleet-agent: {exc}") from None
    _configure_logging(args.log_level)
    return AgentConfig(
        models_dir=models,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        ready_file=args.ready_file,
        control_token_file=args.control_token_file or token_file,
        batching=Batching(args.max_batch_size, args.max_queue_delay_us),
        limits=Limits(
            max_body_bytes=args.max_body_bytes,
            max_batch_rows=args.max_batch_rows,
            max_in_flight=args.max_in_flight,
            request_timeout_s=args.request_timeout_ms / 1000,
        ),
        drain_timeout_s=args.drain_timeout_s,
        monitoring=not args.no_monitoring,
        tls=tls,
        inference_keys=tuple(keys) if keys is not None else None,
        allowed_hosts=tuple(allowed) if allowed is not None else None,
    )


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _serve(args: argparse.Namespace) -> int:
    from modelfleet.agent.node.config import default_token_file
    from modelfleet.agent.node.run import run_agent

    return run_agent(_serving_config(args, args.models, default_token_file()))


def _join(args: argparse.Namespace) -> int:
    from modelfleet.agent.node.enrol import EnrolError, join

    _configure_logging("warning")
    try:
        enrolment = join(args.hub, args.token, args.data_dir)
    except EnrolError as exc:
        print(f"modelfleet-agent join: {exc}", file=sys.stderr)
        return 1
    ident = enrolment.identity
    labels = ",".join(f"{k}={v}" for k, v in sorted(ident.labels.items())) or "-"
    print(
        f"enrolled agent {ident.agent_id} (environment {ident.environment}, labels {labels}); "
        f"start it with: modelfleet-agent run --data-dir {args.data_dir}",
        file=sys.stderr,
    )
    print(ident.agent_id)
    return 0


def _run(args: argparse.Namespace) -> int:
    from modelfleet.agent.node.enrol import SERVING_FILE, DataDir, NotEnrolled
    from modelfleet.agent.node.fleet import FleetExtension, FleetSettings
    from modelfleet.agent.node.run import run_agent

    if args.heartbeat_s <= 0 or args.rollup_window_s <= 0 or args.artifact_cache_gb <= 0:
        raise SystemExit("--heartbeat-s, --rollup-window-s and --artifact-cache-gb must be > 0")
    if args.grace_s < 0:
        raise SystemExit("--grace-s must be >= 0")
    folder = DataDir(args.data_dir)
    hub_pem = folder.root / SERVING_FILE if args.tls_from_hub else None
    config = _serving_config(args, None, folder.control_token, hub_pem)
    settings = FleetSettings(
        data_dir=args.data_dir,
        heartbeat_s=args.heartbeat_s,
        rollup_window_s=args.rollup_window_s,
        artifact_cap_bytes=int(args.artifact_cache_gb * (1 << 30)),
        grace_s=args.grace_s,
    )
    try:
        extension = FleetExtension(settings)
    except NotEnrolled as exc:
        print(f"modelfleet-agent run: {exc}", file=sys.stderr)
        return 1
    return run_agent(config, extension=extension)


def _keys_create(args: argparse.Namespace) -> int:
    from modelfleet.agent.node.access import KeysFileError, create_key
    from modelfleet.agent.node.config import default_keys_file

    path = args.file or default_keys_file()
    try:
        secret, entry = create_key(path, _names(args.models), args.rate, args.burst)
    except KeysFileError as exc:
        print(f"modelfleet-agent keys create: {exc}", file=sys.stderr)
        return 1
    scope = ",".join(sorted(entry.models))
    print(
        f"created inference key {entry.id} for {scope} in {path}; the secret below is shown "
        "only now (the file keeps its sha256):",
        file=sys.stderr,
    )
    print(secret)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return exit_quietly_on_closed_pipe(lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
