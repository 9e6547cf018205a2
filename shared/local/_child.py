"""Entry point of local mode's child processes: a parent-death watchdog, then the real command.

`python -m modelfleet.local._child --watch-fd N hub serve ...` (or `agent run ...`). The
parent holds the write end of a pipe whose read end is N; when the parent dies, however
it dies (kill -9 included), the kernel closes that end, the read below returns EOF and the
child stops itself gracefully. A pipe rather than PR_SET_PDEATHSIG because the death
signal fires when the *thread* that spawned the child ends, and the desktop spawns from a
worker thread.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Sequence

# After asking itself to stop, a child that is still alive this much later exits hard.
STOP_GRACE_S = 20.0


def _watch_parent(fd: int) -> None:
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_S)
    os._exit(1)


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[0] != "--watch-fd" or argv[2] not in ("hub", "agent"):
        print("usage: python -m modelfleet.local._child --watch-fd N hub|agent ARGS...")
        return 2
    threading.Thread(
        target=_watch_parent, args=(int(argv[1]),), name="parent-watchdog", daemon=True
    ).start()
    role, rest = argv[2], list(argv[3:])
    if role == "hub":
        from modelfleet.cli import main as hub_main

        return hub_main(["hub", *rest])
    from modelfleet.agent.cli import main as agent_main

    return agent_main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
