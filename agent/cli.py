"""The `modelfleet-agent` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from modelfleet._version import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelfleet-agent", description=__doc__)
    parser.add_argument("--version", action="version", version=f"modelfleet-agent {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_serve(commands)
    return parser


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser("serve", help="serve the ONNX models of a model repository")
    serve.add_argument("--models", type=Path, required=True, help="DIR/<model>/<version>/")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--http-port", type=int, default=8000, help="0 lets the OS choose")
    serve.add_argument("--grpc-port", type=int, default=8001, help="0 lets the OS choose")
    serve.add_argument("--ready-file", type=Path, help="written once every model is warm")
    serve.add_argument("--control-token-file", type=Path, help="bearer token for AgentControl")
    serve.add_argument("--max-batch-size", type=int, default=64, help="0 or 1 = no batching")
    serve.add_argument("--max-queue-delay-us", type=int, default=0)
    serve.add_argument("--max-body-bytes", type=int, default=64 * 1024 * 1024)
    serve.add_argument("--max-batch-rows", type=int, default=4096)
    serve.add_argument("--max-in-flight", type=int, default=256, help="per model")
    serve.add_argument("--request-timeout-ms", type=int, default=10_000)
    serve.add_argument("--drain-timeout-s", type=float, default=30.0)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    # Imported here so `--help` stays instant and the hub does not load serving code.
    from modelfleet.agent.node.config import AgentConfig, default_token_file
    from modelfleet.agent.node.limits import Limits
    from modelfleet.agent.node.repository import Batching
    from modelfleet.agent.node.run import run_agent

    for name in ("max_batch_size", "max_queue_delay_us", "http_port", "grpc_port"):
        if getattr(args, name) < 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 0")
    for name in ("max_body_bytes", "max_batch_rows", "max_in_flight", "request_timeout_ms"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be > 0")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = AgentConfig(
        models_dir=args.models,
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        ready_file=args.ready_file,
        control_token_file=args.control_token_file or default_token_file(),
        batching=Batching(args.max_batch_size, args.max_queue_delay_us),
        limits=Limits(
            max_body_bytes=args.max_body_bytes,
            max_batch_rows=args.max_batch_rows,
            max_in_flight=args.max_in_flight,
            request_timeout_s=args.request_timeout_ms / 1000,
        ),
        drain_timeout_s=args.drain_timeout_s,
    )
    return run_agent(config)


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
