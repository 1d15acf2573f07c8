"""One worker PROCESS of the SKIP LOCKED job queue (test_job_queue.py starts four).

    python job_worker.py DSN WORKER_ID READY_FILE GO_FILE

Configures dorm, opens its connection, creates READY_FILE, waits for GO_FILE (so the workers
start together), then calls the seed's ``claim_jobs`` — verbatim — until it claims nothing.
Prints one JSON line: the worker id, the jobs it claimed and how many calls it made.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import dorm
from dorm.db import close_all, connections

dsn, worker_id, ready_file, go_file = sys.argv[1:5]


class Job(dorm.Model):
    status = dorm.CharField(max_length=20, default="pending")
    worker = dorm.CharField(max_length=20, blank=True, default="")
    created_at = dorm.DateTimeField()

    class Meta:
        app_label = "pg_it_queue"
        db_table = "pg_it_queue_job"


# The seed's example, as written ------------------------------------------------------------
from dorm import transaction  # noqa: E402


def claim_jobs(worker_id: str) -> int:
    n = 0
    with transaction.atomic():
        for job in (
            Job.objects.select_for_update(skip_locked=True)
            .filter(status="pending")
            .order_by("created_at")[:10]
        ):
            job.status = "running"
            job.worker = worker_id
            job.save()
            n += 1
    return n


# ----------------------------------------------------------------------------------------------

dorm.configure(DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": dsn}}})
connections["default"].fetchone("SELECT 1")
Path(ready_file).touch()
deadline = time.monotonic() + 60
while not Path(go_file).exists():
    if time.monotonic() > deadline:
        sys.exit("never told to start")
    time.sleep(0.005)

claimed = calls = 0
while True:
    calls += 1
    n = claim_jobs(worker_id)
    if n == 0:
        break
    claimed += n
close_all()
print(json.dumps({"worker": worker_id, "claimed": claimed, "calls": calls}))
