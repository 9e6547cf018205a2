"""`modelfleet experiments list` and `modelfleet runs list|show|compare`."""

from __future__ import annotations

import argparse
from typing import Any

from modelfleet.cli import HELP
from modelfleet.cli._common import print_json, print_table
from modelfleet.cli._hub import connect, hub_command, hub_options, plain, show, show_one
from modelfleet.client import Run

EXPERIMENT_COLUMNS = ("name", "run_count", "created_by", "created_at", "id")
RUN_COLUMNS = ("id", "name", "status", "start_time", "end_time")


def register(subparsers: Any) -> None:
    scoped = hub_options(workspace=True)
    group = subparsers.add_parser("experiments", help=HELP["experiments"])
    commands = group.add_subparsers(dest="experiments_command", metavar="COMMAND", required=True)
    p = commands.add_parser("list", parents=[scoped], help="experiments and their run counts")
    p.add_argument("query", nargs="?", default="", help="part of the experiment name")
    p.set_defaults(func=cmd_experiments)

    group = subparsers.add_parser("runs", help=HELP["runs"])
    commands = group.add_subparsers(dest="runs_command", metavar="COMMAND", required=True)
    p = commands.add_parser("list", parents=[scoped], help="runs matching a filter, in order")
    p.add_argument("-e", "--experiment", action="append", default=[], help="id or name (repeat)")
    p.add_argument(
        "-f", "--filter", default="", help="e.g. \"metrics.auc > 0.9 and params.lr = '0.01'\""
    )
    p.add_argument(
        "-o", "--order-by", action="append", default=[], help="e.g. 'metrics.auc DESC' (repeat)"
    )
    p.add_argument("--metric", action="append", default=[], help="metric column to show (repeat)")
    p.add_argument("--param", action="append", default=[], help="param column to show (repeat)")
    p.add_argument("--limit", type=int, default=50, help="runs to show (default 50)")
    p.set_defaults(func=cmd_list)

    p = commands.add_parser("show", parents=[scoped], help="one run: params, tags, metrics")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_show)

    p = commands.add_parser("compare", parents=[scoped], help="params and metrics side by side")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    p.set_defaults(func=cmd_compare)


@hub_command
def cmd_experiments(args: argparse.Namespace) -> int:
    with connect(args).client as client:
        page = client.list_experiments(args.query, page_size=1000)
        show(args, page.items, EXPERIMENT_COLUMNS)
    return 0


def _row(run: Run, metrics: list[str], params: list[str]) -> dict[str, Any]:
    row: dict[str, Any] = plain(run)
    row["status"] = run.status.value if run.status else "-"
    for key in metrics:
        summary = run.metrics.get(key)
        row[f"metrics.{key}"] = summary.last if summary else None
    for key in params:
        row[f"params.{key}"] = run.params.get(key)
    return row


@hub_command
def cmd_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {args.limit}")
    with connect(args).client as client:
        page = client.search_runs(
            args.experiment, args.filter, args.order_by, page_size=min(args.limit, 1000)
        )
    runs = page.runs[: args.limit]
    if args.json:
        print_json(
            {
                "total_count": page.total_count,
                "total_is_estimate": page.total_is_estimate,
                "runs": [plain(r) for r in runs],
            }
        )
        return 0
    columns = [*RUN_COLUMNS, *(f"metrics.{m}" for m in args.metric),
               *(f"params.{p}" for p in args.param)]  # fmt: skip
    rows = [_row(r, args.metric, args.param) for r in runs]
    for row in rows:
        for key in ("start_time", "end_time"):
            if isinstance(row[key], str):
                row[key] = row[key][:19].replace("T", " ")
    print_table(rows, columns)
    # Past ~1,000 matches a PostgreSQL hub estimates the total instead of counting.
    print(f"{len(runs)} of {page.describe_total()} runs")
    return 0


@hub_command
def cmd_show(args: argparse.Namespace) -> int:
    with connect(args).client as client:
        run = client.get_run(args.run_id)
    if args.json:
        print_json(plain(run))
        return 0
    show_one(args, run, (*RUN_COLUMNS, "experiment_id", "parent_run_id", "created_by"))
    if run.params:
        print()
        print_table([{"param": k, "value": v} for k, v in sorted(run.params.items())],
                    ("param", "value"))  # fmt: skip
    if run.tags:
        print()
        print_table([{"tag": k, "value": v} for k, v in sorted(run.tags.items())], ("tag", "value"))
    if run.metrics:
        print()
        print_table([plain(m) for m in run.metrics.values()],
                    ("key", "last", "min", "max", "count", "last_step"))  # fmt: skip
    if run.artifacts:
        print()
        print_table([plain(a) for a in run.artifacts], ("path", "size", "sha256"))
    return 0


@hub_command
def cmd_compare(args: argparse.Namespace) -> int:
    with connect(args).client as client:
        comparison = client.compare_runs(args.run_ids)
    if args.json:
        print_json(plain(comparison))
        return 0
    # Run ids keep the columns apart when two runs share a name.
    names = [f"{r.id[:8]} {r.name}".strip() for r in comparison.runs]
    rows: list[dict[str, Any]] = []
    for key, (values, differs) in comparison.params.items():
        rows.append({"key": f"params.{key}", "differs": "*" if differs else "",
                     **dict(zip(names, values, strict=True))})  # fmt: skip
    for key, summaries in comparison.metrics.items():
        lasts = [s.last if s else None for s in summaries]
        rows.append({"key": f"metrics.{key}", **dict(zip(names, lasts, strict=True))})
    print_table(rows, ("key", "differs", *names))
    return 0
