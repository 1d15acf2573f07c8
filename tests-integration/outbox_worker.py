"""One relay process of the multi-process outbox tests (``test_outbox.py``).

    python outbox_worker.py --dsn DSN --deliveries FILE --go FILE [--batch-size N]
                            [--delay-ms MS] [--kill-after N]

Publishing is appending the event id to ``--deliveries`` (one ``os.write`` of one line to
an ``O_APPEND`` file: a line that was written survives the process being killed, as a
message handed to a broker would). It prints ``ready`` once configured and connected, waits
for the ``--go`` file to exist (so every relay starts at once), then runs the relay until
SIGTERM. ``--kill-after N`` SIGKILLs the process right after its N-th publish: between the
publish and the commit of the batch that marks it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import dorm
from dorm.contrib.outbox import OutboxRelay
from dorm.db import connections


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--deliveries", required=True)
    parser.add_argument("--go", required=True)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--kill-after", type=int, default=0)
    args = parser.parse_args()

    dorm.configure(
        DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": args.dsn}}}
    )
    from outbox_models import Outbox

    connections["default"].fetchone("SELECT 1")  # connected before the start
    fd = os.open(args.deliveries, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    delivered = 0
    delay = args.delay_ms / 1000

    def publish(row: Outbox) -> bool:
        nonlocal delivered
        os.write(fd, f"{row.pk}\n".encode())
        delivered += 1
        if args.kill_after and delivered == args.kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if delay:
            time.sleep(delay)
        return True

    print("ready", flush=True)
    go = Path(args.go)
    while not go.exists():
        time.sleep(0.005)
    OutboxRelay(Outbox, batch_size=args.batch_size, poll_interval_s=0.05).run(publish)
    os.close(fd)
    print(f"stopped after {delivered}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
