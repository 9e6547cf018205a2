"""`modelfleet quickstart`: the Quick Start in the terminal — local hub and agent, a trained,
registered and deployed sample model, live traffic and a one-line summary until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError

if TYPE_CHECKING:
    from modelfleet.local import LocalStack, QuickStartResult


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "quickstart",
        help=HELP["quickstart"],
        description=__doc__,
    )
    parser.add_argument(
        "--every", type=float, default=5.0, metavar="SECONDS", help="summary period (1..60)"
    )
    parser.add_argument(
        "--drift-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="when the traffic's inputs start to drift (0..3600)",
    )
    parser.set_defaults(func=run_quickstart)


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # the same orderly stop as Ctrl-C


def run_quickstart(args: argparse.Namespace) -> int:
    if not 1.0 <= args.every <= 60.0:
        raise CliError(f"--every: expected 1..60 seconds, got {args.every:g}")
    if not 0.0 <= args.drift_after <= 3600.0:
        raise CliError(f"--drift-after: expected 0..3600 seconds, got {args.drift_after:g}")
    # Imported here: `modelfleet --help` must not load scikit-learn and gRPC.
    from modelfleet.local import LocalStack, LocalStackError, QuickStart, Step, TrafficPlan

    def show(step: Step) -> None:
        mark = {"started": "..", "done": "ok", "failed": "!!"}[step.state]
        print(f"[{step.elapsed_s:5.1f}s] {mark} {step.name}: {step.message}", flush=True)

    # Explicitly: a shell may start us with SIGINT ignored, and Ctrl-C must still stop us.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    stack = LocalStack()
    quickstart = QuickStart(stack, on_step=show, plan=TrafficPlan(drift_after_s=args.drift_after))
    try:
        try:
            result = quickstart.run()
        except (LocalStackError, TimeoutError, RuntimeError) as exc:
            raise CliError(str(exc)) from None
        _print_endpoints(result, stack)
        _print_live(result, stack, args.every)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
    finally:
        quickstart.stop()
        owned = stack.owned
        stack.stop()
        if owned:
            print("local hub and agent stopped", flush=True)
    return 0


def _print_endpoints(result: QuickStartResult, stack: LocalStack) -> None:
    info = stack.start()
    base = result.rest_url
    print(
        f"\nmodelfleet Quick Start is live ({result.seconds_to_traffic:.1f} s to traffic)\n"
        f"  model      {result.model} version {result.version} ({result.alias}), "
        f"run {result.run_id}\n"
        f"  REST       {base}  (Open Inference Protocol: {result.infer_url})\n"
        f"  gRPC       {result.grpc_target}  (inference.GRPCInferenceService)\n"
        f"  OpenAPI    {base}/v1/models/{result.deployment}/openapi.json\n"
        f"  metrics    {base}/metrics\n"
        f"  hub        {info.hub_address}  (CA {info.ca_fingerprint})\n"
        f"             user {info.username}, password in {stack.paths.admin_password}\n"
        f"\nTry it:\n  {result.curl()}\n"
        f"\nLive summary every few seconds (Ctrl-C to stop):",
        flush=True,
    )


def _print_live(result: QuickStartResult, stack: LocalStack, every: float) -> None:
    """One line per period from the agent's metrics stream, until Ctrl-C."""
    import grpc

    from modelfleet.local import watch

    stop = threading.Event()
    next_line = time.monotonic()
    try:
        for summary in watch(
            result.grpc_target, stack.paths.control_token, result.deployment, stop
        ):
            if time.monotonic() < next_line:
                continue
            next_line += every
            stamp = time.strftime("%H:%M:%S")
            print(f"  {stamp}  {summary.line()}", flush=True)
    except grpc.RpcError as exc:
        raise CliError(f"the local agent's metrics stream failed: {exc.details()}") from None
    finally:
        stop.set()
