"""Run the fuzz harnesses, each in its own process, and print one JSON line per harness.

Usage: python fuzz/run.py --seconds N [--only NAME] [--out DIR]

Seeds come from make_seeds.py (written to fuzz/seeds when missing), token dictionaries from
fuzz/dicts/NAME.dict; the growing corpus, logs and crash inputs live under --out (default
fuzz/out). Exit status 1 if any harness
crashed or did not run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: harness name -> the longest input libFuzzer may generate
HARNESSES = {
    "oip_decode": 16 * 1024,
    "rest_request": 16 * 1024,
    "onnx_signature": 16 * 1024,
    "safe_extract": 32 * 1024,
}
_PER_INPUT_TIMEOUT_S = 25
_RSS_LIMIT_MB = 2048
_STATS = re.compile(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_DONE = re.compile(r"^Done (\d+) runs in (\d+) second")
_FINDINGS = ("crash-", "timeout-", "oom-", "leak-")


def ensure_seeds(seeds: Path) -> None:
    if all((seeds / name).is_dir() and any((seeds / name).iterdir()) for name in HARNESSES):
        return
    subprocess.run([sys.executable, str(HERE / "make_seeds.py"), str(seeds)], check=True)


def run_one(name: str, seconds: int, seeds: Path, work: Path) -> dict[str, object]:
    corpus, findings = work / "corpus" / name, work / "findings" / name
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    log_path = work / f"{name}.log"
    before = set(findings.iterdir())
    command = [
        sys.executable, str(HERE / f"fuzz_{name}.py"), str(corpus), str(seeds / name),
        f"-max_total_time={seconds}", f"-timeout={_PER_INPUT_TIMEOUT_S}",
        f"-rss_limit_mb={_RSS_LIMIT_MB}", f"-max_len={HARNESSES[name]}",
        f"-artifact_prefix={findings}/", "-print_final_stats=1",
    ]  # fmt: skip
    dictionary = HERE / "dicts" / f"{name}.dict"
    if dictionary.is_file():
        command.append(f"-dict={dictionary}")
    started = time.monotonic()
    with log_path.open("wb") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    elapsed = time.monotonic() - started
    execs = edges = features = corpus_size = 0
    with log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            if stats := _STATS.match(line):
                execs, edges, features, corpus_size = map(int, stats.groups())
            elif done := _DONE.match(line):
                execs = int(done.group(1))
    found = sorted(p.name for p in set(findings.iterdir()) - before if p.name.startswith(_FINDINGS))
    return {
        "harness": name,
        "seconds": round(elapsed, 1),
        "execs": execs,
        "execs_per_s": round(execs / elapsed, 1) if elapsed else 0.0,
        "coverage_edges": edges,
        "features": features,
        "corpus": corpus_size,
        "crashes": len(found),
        "findings": [str(findings / f) for f in found],
        "exit_code": code,
        "log": str(log_path),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, required=True, help="fuzzing time per harness")
    parser.add_argument("--only", choices=sorted(HARNESSES), help="run this harness only")
    parser.add_argument("--out", type=Path, default=HERE / "out", help="corpus, logs, crashes")
    parser.add_argument("--seeds", type=Path, default=HERE / "seeds", help="seed corpora")
    args = parser.parse_args(argv)
    ensure_seeds(args.seeds)
    failed = False
    for name in [args.only] if args.only else list(HARNESSES):
        result = run_one(name, args.seconds, args.seeds, args.out)
        print(json.dumps(result), flush=True)
        failed |= bool(result["crashes"]) or result["exit_code"] != 0 or not result["execs"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
