"""The `modelfleet-agent` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelfleet._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelfleet-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modelfleet-agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(commands)
    _add_join(commands)
    _add_run(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="serve the ONNX models of a model repository")
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
    _add_serving_options(run)
    run.set_defaults(func=_run)


def _add_serving_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
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


def _serving_config(args: argparse.Namespace, models: Path | None, token_file: Path) -> Any:
    # Imported here so `--help` stays instant and the hub does not load serving code.
    from modelfleet.agent.node.config import AgentConfig
    from modelfleet.agent.node.limits import Limits
    from modelfleet.agent.node.repository import Batching

    for name in ("max_batch_size", "max_queue_delay_us", "http_port", "grpc_port"):
        if getattr(args, name) < 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("max_body_bytes", "max_batch_rows", "max_in_flight", "request_timeout_ms"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be > 0")
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
    )


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
    from modelfleet.agent.node.enrol import DataDir, NotEnrolled
    from modelfleet.agent.node.fleet import FleetExtension, FleetSettings
    from modelfleet.agent.node.run import run_agent

    if args.heartbeat_s <= 0 or args.rollup_window_s <= 0 or args.artifact_cache_gb <= 0:
        raise SystemExit("--heartbeat-s, --rollup-window-s and --artifact-cache-gb must be > 0")
    if args.grace_s < 0:
        raise SystemExit("--grace-s must be >= 0")
    config = _serving_config(args, None, DataDir(args.data_dir).control_token)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    return int(func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
