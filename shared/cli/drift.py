"""`modelfleet drift report` (offline comparison of two datasets) and `drift history` (the
drift windows of a deployment, from the hub)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import CliError, print_json, print_table

EXIT_DRIFT = 3
FEATURE_COLUMNS = ("feature", "method", "statistic", "threshold", "drifted")


def register(subparsers: Any) -> None:
    drift = subparsers.add_parser("drift", help=HELP["drift"])
    commands = drift.add_subparsers(dest="drift_command", metavar="COMMAND", required=True)
    report = commands.add_parser(
        "report",
        help="compare current data with a reference and write an HTML report",
        description="Per-feature drift verdicts (Evidently-0.7 default methods and thresholds).",
    )
    report.add_argument("--reference", required=True, type=Path, help="reference .csv/.parquet")
    report.add_argument("--current", required=True, type=Path, help="current .csv/.parquet")
    report.add_argument("--out", type=Path, help="write the self-contained HTML report here")
    report.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    report.add_argument(
        "--fail-on-drift",
        action="store_true",
        help=f"exit with status {EXIT_DRIFT} when the dataset drifted",
    )
    report.add_argument(
        "--categorical", default="", help="comma-separated numeric columns to treat as categories"
    )
    report.set_defaults(func=run_report)
    _register_history(commands)


def _register_history(commands: Any) -> None:
    from modelfleet.cli._hub import hub_options

    history = commands.add_parser(
        "history",
        parents=[hub_options(workspace=True)],
        help="drift windows of a deployment reported by its agents",
        description="Closed drift windows, newest first; --json adds every feature's detail "
        "and the reference vs current histograms.",
    )
    history.add_argument("--deployment", required=True)
    history.add_argument("--env", default="", help="environment (default: every one)")
    history.add_argument("--since", help="ISO 8601 (default: an hour before --until)")
    history.add_argument("--until", help="ISO 8601 (default: now)")
    history.add_argument("--version", type=int, default=0, help="model version (default: all)")
    history.add_argument("--limit", type=int, default=0, help="at most this many (default 100)")
    history.add_argument("--drifted-only", action="store_true")
    history.set_defaults(func=run_history)


def run_history(args: argparse.Namespace) -> int:
    from modelfleet.cli._hub import connect, hub_command, parse_time, plain

    @hub_command
    def run(args: argparse.Namespace) -> int:
        with connect(args).client as client:
            windows = client.query_drift(
                args.deployment, args.env,
                since=parse_time(args.since, "--since") if args.since else None,
                until=parse_time(args.until, "--until") if args.until else None,
                model_version=args.version, limit=args.limit, drifted_only=args.drifted_only,
            )  # fmt: skip
        if args.json:
            print_json([plain(w) for w in windows])
            return 0
        for w in windows:
            r = w.report
            moved = ", ".join(f.name for f in r.features if f.drifted) or "-"
            verdict = "DRIFT" if r.dataset_drifted else "ok"
            print(
                f"{_utc(r.ended_at)}  v{w.model_version}  {w.environment:<12} {verdict:<5} "
                f"share {r.share_drifted:.2f} ({r.n_drifted}/{r.n_judged})  rows {r.n_rows}  "
                f"drifted: {moved}"
            )
        if not windows:
            print("no drift windows in the range", file=sys.stderr)
        return 0

    return run(args)


def _utc(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _read(path: Path, option: str) -> Any:
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as exc:
        raise CliError("reading CSV/parquet needs pandas: pip install 'modelfleet[ml]'") from exc
    if not path.is_file():
        raise CliError(f"{option}: no such file: {path}", exit_code=2)
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pandas.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pandas.read_csv(path)
    except ImportError as exc:
        raise CliError(f"{option}: reading parquet needs pyarrow: pip install pyarrow") from exc
    except (ValueError, OSError) as exc:
        raise CliError(f"{option}: cannot read {path}: {exc}", exit_code=2) from exc
    raise CliError(f"{option}: expected a .csv or .parquet file, got {path.name}", exit_code=2)


def run_report(args: argparse.Namespace) -> int:
    from modelfleet.drift import DriftError, compare, render_html
    from modelfleet.profile import ProfileError

    reference = _read(args.reference, "--reference")
    current = _read(args.current, "--current")
    categorical = [c.strip() for c in args.categorical.split(",") if c.strip()]
    try:
        report = compare(reference, current, categorical=categorical)
    except (DriftError, ProfileError) as exc:
        raise CliError(str(exc), exit_code=2) from exc
    if args.out is not None:
        try:
            args.out.write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise CliError(f"--out: cannot write {args.out}: {exc}") from exc
    if args.json:
        print_json(_verdicts(report))
    else:
        print_table(_feature_rows(report), FEATURE_COLUMNS)
        verdict = "drift detected" if report.dataset_drifted else "no dataset drift"
        print(
            f"{verdict}: {report.n_drifted}/{report.n_judged} features drifted "
            f"(share {report.share_drifted:.3f} vs {report.drift_share:g})",
            file=sys.stdout,
        )
    return EXIT_DRIFT if args.fail_on_drift and report.dataset_drifted else 0


def _feature_rows(report: Any) -> list[dict[str, str]]:
    """One row per feature for the plain output; a feature left unjudged says why."""
    return [
        {
            "feature": f.name,
            "method": f.method,
            "statistic": "-" if f.statistic is None else f"{f.statistic:.4g}",
            "threshold": f"{f.threshold:g}",
            "drifted": ("yes" if f.drifted else "no") if f.judged else _unjudged(f.note),
        }
        for f in report.features
    ]


def _unjudged(note: str | None) -> str:
    return f"not judged ({note})" if note else "not judged"


def _verdicts(report: Any) -> dict[str, Any]:
    """The JSON shape of `--json`: per feature verdicts, then the dataset verdict."""
    summary = report.to_dict(histograms=False)
    keys = ("name", "kind", "method", "statistic", "threshold", "drifted", "judged", "note")
    return {
        "dataset_drifted": summary["dataset_drifted"],
        "share_drifted": summary["share_drifted"],
        "drift_share": summary["drift_share"],
        "n_drifted": summary["n_drifted"],
        "n_judged": summary["n_judged"],
        "n_rows": summary["n_rows"],
        "features": [
            {
                **{k: f[k] for k in keys},
                "missing_share": f["missing_share"],
                "out_of_range_share": f["out_of_range_share"],
            }
            for f in summary["features"]
        ],
    }
