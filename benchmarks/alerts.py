"""Alert latency: from the moment a condition has held for its rule's duration to the
notification arriving at a real SMTP server (STARTTLS + AUTH) and a real webhook receiver.

A hub runs in-process with its production evaluation interval (2 s unless given), over a
SQLite data directory; each round writes a roll-up that breaks the rule for a new
deployment (so each round is a new alert) and measures, for both receivers,
receipt time - (roll-up committed + rule duration). Prints one JSON line.

    python benchmarks/alerts.py [--rounds 8] [--for-seconds 2] [--eval-interval 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from modelfleet.proto.v1 import alerts_pb2
from tests.alerts.alerthelp import add_email, add_http_channels, create_rule
from tests.alerts.conftest import (
    ALERT_SETTINGS,
    SMTP_PASSWORD,
    close_alert_hub,
    open_alert_hub,
)
from tests.alerts.receivers import HttpReceiver, SmtpReceiver, self_signed, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--for-seconds", type=int, default=2)
    parser.add_argument("--eval-interval", type=float, default=2.0)
    args = parser.parse_args()
    settings = dataclasses.replace(
        ALERT_SETTINGS, alert_eval_interval=args.eval_interval, alert_retry_base=1.0
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cert, key, _ = self_signed(root)
        smtp, http = SmtpReceiver(cert, key, SMTP_PASSWORD), HttpReceiver()
        smtp.start()
        http.start()
        ah = open_alert_hub(root / "hub", f"sqlite:///{root / 'hub.db'}", settings)
        try:
            add_email(ah, smtp)
            add_http_channels(ah, http)
            create_rule(ah, name="errors", series="error_rate", threshold=0.05,
                        for_seconds=args.for_seconds, channels=["mail", "hook"],
                        scope=alerts_pb2.RuleScope(environment="prod"))  # fmt: skip
            mail_lat, hook_lat = [], []
            for i in range(args.rounds):
                # A random phase against the evaluation ticks, as real roll-ups arrive.
                time.sleep(random.uniform(0, args.eval_interval))
                ah.rollup(deployment=f"d{i}", requests=1000, errors=200)
                due = time.monotonic() + args.for_seconds
                wait_for(lambda n=i + 1: len(smtp.messages) >= n and len(http.to("/hook")) >= n,
                         timeout=60, what="both notifications")  # fmt: skip
                mail_lat.append(smtp.received_at[i] - due)
                hook_lat.append(http.received_at[i] - due)
        finally:
            close_alert_hub(ah)
            smtp.stop()
            http.stop()
    both = [max(m, h) for m, h in zip(mail_lat, hook_lat, strict=True)]
    print(json.dumps({
        "benchmark": "alerts",
        "rounds": args.rounds,
        "for_seconds": args.for_seconds,
        "eval_interval_s": args.eval_interval,
        "smtp_latency_s": {"median": round(statistics.median(mail_lat), 3),
                           "max": round(max(mail_lat), 3)},
        "webhook_latency_s": {"median": round(statistics.median(hook_lat), 3),
                              "max": round(max(hook_lat), 3)},
        "both_received_max_s": round(max(both), 3),
        "target_s": 5.0,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
