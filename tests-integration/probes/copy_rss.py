"""Measure the peak-RSS growth of ``bulk_copy_from`` / ``abulk_copy_from`` over a generator.

Run in a subprocess by test_bulk_copy.py (so the measurement is not polluted by the test
runner)::

    python copy_rss.py DSN TABLE sync|async|list ROWS

``sync`` streams a generator of ROWS instances through ``bulk_copy_from``, ``async`` an async
generator through ``abulk_copy_from``; ``list`` (the control) materializes the instances
first, showing what streaming saves.

Prints one JSON line: rows copied, baseline/peak ``ru_maxrss`` and the growth in MB.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import dorm
from dorm.db import aclose_all, close_all

# Linux carries a process's peak RSS across fork+exec: started straight from a big parent (the
# test runner), ru_maxrss would begin at the parent's peak and hide this process's own growth.
# So the probe re-launches itself from this small process, whose children start clean.
if os.environ.get("DORM_RSS_PROBE_CHILD") != "1":
    child = subprocess.run(
        [sys.executable, __file__, *sys.argv[1:]],
        env={**os.environ, "DORM_RSS_PROBE_CHILD": "1"},
        check=False,
    )
    sys.exit(child.returncode)

from dorm.contrib.bulk_copy import abulk_copy_from, bulk_copy_from

dsn, table, mode, total = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


class Row(dorm.Model):
    n = dorm.IntegerField()
    label = dorm.CharField(max_length=40)
    data = dorm.JSONField(null=True)
    created = dorm.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "probe"
        db_table = table


def rows(count: int, start: int = 0) -> Iterator[Row]:
    for i in range(start, start + count):
        yield Row(n=i, label=f"row-{i}", data={"i": i})


async def arows(count: int) -> AsyncIterator[Row]:
    for row in rows(count):
        yield row


def peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


async def main() -> dict[str, object]:
    dorm.configure(DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": dsn}}})
    # Warm up: imports, connection, the compiled row maker, psycopg's buffers.
    if mode == "async":
        await abulk_copy_from(Row, arows(20_000))
    else:
        bulk_copy_from(Row, rows(20_000))
    gc.collect()
    baseline = peak_kb()
    if mode == "sync":
        copied = bulk_copy_from(Row, rows(total))
    elif mode == "async":
        copied = await abulk_copy_from(Row, arows(total))
    else:  # "list": the control, every instance in memory at once
        copied = bulk_copy_from(Row, list(rows(total)))
    peak = peak_kb()
    await aclose_all()
    close_all()
    return {
        "mode": mode,
        "rows": copied,
        "baseline_kb": baseline,
        "peak_kb": peak,
        "growth_mb": round((peak - baseline) / 1024, 2),
    }


print(json.dumps(asyncio.run(main())))
