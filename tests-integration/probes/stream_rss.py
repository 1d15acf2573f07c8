"""Measure the peak-RSS growth of streaming a table through ``iterator()``/``aiterator()``.

Run in a subprocess by test_pg_streaming.py (so the measurement is not polluted by the test
runner)::

    python stream_rss.py DSN TABLE sync|async|client|list CHUNK_SIZE

``client`` is ``iterator()`` with ``OPTIONS["server_side_cursors"] = False`` (every row
fetched into the client first) and ``list`` is ``list(qs)``: the controls showing what the
server-side cursor saves.

Prints one JSON line: rows, checksum, baseline/peak ``ru_maxrss`` and the growth in MB.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import subprocess
import sys

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

dsn, table, mode, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


class Big(dorm.Model):
    n = dorm.IntegerField()
    label = dorm.CharField(max_length=40)

    class Meta:
        app_label = "probe"
        db_table = table


def peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def consume(objs: object) -> tuple[int, int]:
    rows = checksum = 0
    for obj in objs:  # type: ignore[attr-defined]
        rows += 1
        checksum += obj.n
    return rows, checksum


async def aconsume(qs: object, chunk_size: int) -> tuple[int, int]:
    rows = checksum = 0
    async for obj in qs.aiterator(chunk_size=chunk_size):  # type: ignore[attr-defined]
        rows += 1
        checksum += obj.n
    return rows, checksum


async def main() -> dict[str, object]:
    options = {"conninfo": dsn, "server_side_cursors": mode != "client"}
    dorm.configure(DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": options}})
    # Warm up: imports, connection, compiled SQL, and one full chunk of instances.
    warm = Big.objects.all()[: chunk * 2]
    if mode == "async":
        await aconsume(warm, chunk)
    else:
        consume(warm.iterator(chunk_size=chunk))
    gc.collect()
    baseline = peak_kb()
    if mode in ("sync", "client"):
        rows, checksum = consume(Big.objects.iterator(chunk_size=chunk))
    elif mode == "async":
        rows, checksum = await aconsume(Big.objects.all(), chunk)
    else:  # "list": the control, everything in memory at once
        rows, checksum = consume(list(Big.objects.all()))
    peak = peak_kb()
    await aclose_all()
    close_all()
    return {
        "mode": mode,
        "rows": rows,
        "checksum": checksum,
        "baseline_kb": baseline,
        "peak_kb": peak,
        "growth_mb": round((peak - baseline) / 1024, 2),
    }


print(json.dumps(asyncio.run(main())))
