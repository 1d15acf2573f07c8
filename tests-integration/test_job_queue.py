"""The seed's SKIP LOCKED job queue (``claim_jobs``), verbatim, on a real PostgreSQL.

Four worker PROCESSES (probes/job_worker.py) drain 1,000 jobs concurrently: their claims are
disjoint and every job is claimed exactly once. In-process checks show the locking itself.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

import dorm
from dorm import transaction
from dorm.db import connections

UTC = datetime.UTC
WORKER = Path(__file__).resolve().parent / "probes" / "job_worker.py"


class Job(dorm.Model):
    status = dorm.CharField(max_length=20, default="pending")
    worker = dorm.CharField(max_length=20, blank=True, default="")
    created_at = dorm.DateTimeField()

    class Meta:
        app_label = "pg_it_queue"
        db_table = "pg_it_queue_job"


# The seed's example, as written.
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


@pytest.fixture
def jobs(configure_pg: Any, tables: Any) -> Any:
    configure_pg()
    tables(Job)

    def make(n: int) -> list[Job]:
        start = datetime.datetime(2026, 1, 1, tzinfo=UTC)
        return Job.objects.bulk_create(
            Job(created_at=start + datetime.timedelta(seconds=i)) for i in range(n)
        )

    return make


def test_four_worker_processes_claim_1000_jobs_disjointly(
    postgres: Any, jobs: Any, admin: psycopg.Connection[Any], tmp_path: Path
) -> None:
    jobs(1_000)
    go = tmp_path / "go"
    workers = []
    for i in range(4):
        ready = tmp_path / f"ready-{i}"
        proc = subprocess.Popen(
            [sys.executable, str(WORKER), postgres.dsn, f"w{i}", str(ready), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        workers.append((proc, ready))
    deadline = time.monotonic() + 120
    while not all(ready.exists() for _, ready in workers):
        assert time.monotonic() < deadline, "workers did not start"
        assert all(p.poll() is None for p, _ in workers), [p.communicate() for p, _ in workers]
        time.sleep(0.01)
    go.touch()  # all four start claiming together
    results = []
    for proc, _ in workers:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(f"\nclaims per worker: {results}")

    by_worker = {r["worker"]: r["claimed"] for r in results}
    # Every job was claimed, and the claims add up to the number of jobs: none twice.
    assert sum(by_worker.values()) == 1_000
    rows = admin.execute('SELECT status, worker, count(*) FROM "pg_it_queue_job" GROUP BY 1, 2')
    in_db = {worker: count for status, worker, count in rows if status == "running"}
    assert admin.execute(
        "SELECT count(*) FROM \"pg_it_queue_job\" WHERE status <> 'running' OR worker = ''"
    ).fetchone() == (0,)
    # What each worker says it claimed is what the table records for it: disjoint claims.
    assert in_db == {w: n for w, n in by_worker.items() if n}
    assert sum(1 for n in by_worker.values() if n) >= 2, "the workers did not run concurrently"


def test_skip_locked_skips_rows_another_transaction_holds(jobs: Any) -> None:
    jobs(30)
    holding = threading.Event()
    release = threading.Event()
    held: list[int] = []

    def holder() -> None:
        with transaction.atomic():
            locked = list(
                Job.objects.select_for_update(skip_locked=True)
                .filter(status="pending")
                .order_by("created_at")[:10]
            )
            held.extend(j.pk for j in locked)
            holding.set()
            release.wait(30)
        connections["default"].close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert holding.wait(30)
        assert claim_jobs("me") == 10  # not blocked: the next ten, not the held ones
        mine = set(Job.objects.filter(worker="me").values_list("pk", flat=True))
        assert len(mine) == 10 and not mine & set(held)
        assert min(mine) > max(held)  # in created_at order after the held rows
    finally:
        release.set()
        thread.join(30)
    # The holder changed nothing: once released its rows are claimable, first in order.
    assert claim_jobs("me") == 10
    assert set(Job.objects.filter(worker="me").values_list("pk", flat=True)) >= set(held)
    assert claim_jobs("me") == 10
    assert claim_jobs("me") == 0
    assert not Job.objects.filter(status="pending").exists()
