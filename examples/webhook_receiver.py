"""A tiny local stand-in for a Slack or Teams incoming webhook: prints what it receives.

    python examples/webhook_receiver.py --port 8099 [--log received.jsonl]

Answers 200 to every POST, prints the message text (Slack's "text", Teams' "title"/"text")
with the sender's idempotency key, and appends each body as one JSON line to --log.
"""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def summary(body: dict[str, Any]) -> str:
    """The readable part of a Slack, Teams or generic webhook payload."""
    for key in ("text", "title", "summary"):
        if isinstance(body.get(key), str):
            return str(body[key])
    return json.dumps(body)[:300]


def make_handler(log: Path | None) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"raw": raw.decode(errors="replace")}
            key = self.headers.get("X-Modelfleet-Idempotency-Key", "-")
            print(f"POST {self.path} [{key}] {summary(body)}", flush=True)
            if log is not None:
                record = {"path": self.path, "idempotency_key": key, "body": body}
                with log.open("a") as out:
                    out.write(json.dumps(record) + "\n")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per notification is printed above; no access log

    return Receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099, help="0 lets the OS choose")
    parser.add_argument("--log", type=Path, help="append every body here as a JSON line")
    parser.add_argument("--ready-file", type=Path, help="write the port here once listening")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(args.log))
    port = server.server_address[1]
    print(f"listening on http://{args.host}:{port}/ (Ctrl-C to stop)", flush=True)
    if args.ready_file is not None:
        args.ready_file.write_text(f"{port}\n")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
