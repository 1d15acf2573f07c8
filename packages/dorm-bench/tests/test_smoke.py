"""The benchmark runs end to end (tiny sizes, no timing assertions).

Each run is a subprocess, as a user runs it: Django's settings, dorm's configuration and
the event loops of one run cannot leak into the test process. Peers that are not installed
must show up as skipped, not fail the run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
FIVE = ["insert_one", "bulk_insert", "get_by_pk", "filter_count", "list_first_n"]
PEERS = {"django": "django", "sqlalchemy": "sqlalchemy", "tortoise": "tortoise"}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DORM_SETTINGS_MODULE", None)
    return env


def bench(tmp_path: Path, *args: str, code: str | None = None) -> tuple[dict[str, Any], str]:
    """Run the benchmark with ``--runs 1 --ops 20``; returns (the JSON report, stdout).

    Without repeats (``--min-run-ms 0``) unless asked: at 20 operations a run would repeat
    a hundred times, which a smoke test does not need.
    """
    out = tmp_path / "report.json"
    argv = ["--runs", "1", "--ops", "20", "--json", str(out), *args]
    if "--min-run-ms" not in args:
        argv += ["--min-run-ms", "0"]
    if code is None:
        cmd = [sys.executable, "-m", "dorm_bench.compare", *argv]
    else:
        cmd = [sys.executable, "-c", textwrap.dedent(code), *argv]
    result = subprocess.run(
        cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "[raw]" in result.stderr  # a progress line per ORM/scenario
    return json.loads(out.read_text()), result.stdout


def installed(orm: str, is_async: bool = False) -> bool:
    if orm == "sqlalchemy" and is_async and importlib.util.find_spec("greenlet") is None:
        return False
    return importlib.util.find_spec(PEERS[orm]) is not None


def check(report: dict[str, Any], is_async: bool) -> None:
    results = report["results"]
    assert list(results) == ["raw", "dorm", "django", "sqlalchemy", "tortoise"]
    for name, result in results.items():
        if name in PEERS and not installed(name, is_async):
            assert result["status"].startswith("skipped: not installed"), result["status"]
            continue
        assert result["status"] == "ok", (name, result["status"])
        for scenario in FIVE:
            cell = result["scenarios"][scenario]
            assert cell["status"] == "ok", (name, scenario, cell["status"])
            assert cell["median_us"] > 0 and cell["best_us"] <= cell["median_us"]
            if name != "raw":
                assert cell["ratio_to_raw"] > 0
        if report["meta"]["backend"] == "sqlite":
            assert result["settings"]["journal_mode"] == "WAL", name
            assert result["settings"]["synchronous"] == "NORMAL", name


def test_sync_sqlite(tmp_path: Path) -> None:
    md = tmp_path / "table.md"
    png = tmp_path / "chart.png"
    report, stdout = bench(tmp_path, "--markdown", str(md), "--plot", str(png))
    check(report, is_async=False)
    assert report["meta"]["async"] is False and report["meta"]["scenarios"] == FIVE
    assert "synchronous=NORMAL" in stdout and "journal_mode=WAL" in stdout
    assert md.read_text().startswith("| scenario | raw sqlite3")
    assert png.exists() == (importlib.util.find_spec("matplotlib") is not None)
    assert {t["scenario"] for t in report["targets"]} == set(FIVE)


def test_async_sqlite(tmp_path: Path) -> None:
    report, stdout = bench(tmp_path, "--async", "--markdown")
    check(report, is_async=True)
    assert report["meta"]["async"] is True
    assert stdout.startswith("| scenario | raw aiosqlite")


def test_short_scenarios_repeat_their_work(tmp_path: Path) -> None:
    report, stdout = bench(
        tmp_path, "--orms", "dorm", "--scenarios", "get_by_pk,list_first_n", "--min-run-ms", "5"
    )
    repeats = report["meta"]["repeats"]
    assert set(repeats) == {"get_by_pk", "list_first_n"} and repeats["list_first_n"] > 1
    assert f"list_first_n x{repeats['list_first_n']}" in stdout
    for name in ("raw", "dorm"):  # one figure per run, whatever the repeats
        assert len(report["results"][name]["scenarios"]["list_first_n"]["runs_us"]) == 1


def test_a_missing_peer_is_reported_as_skipped(tmp_path: Path) -> None:
    # sys.modules[name] = None makes the module look uninstalled (find_spec returns None).
    report, stdout = bench(
        tmp_path,
        "--orms",
        "dorm,django",
        "--scenarios",
        "get_by_pk",
        code="""
        import sys
        sys.modules["django"] = None
        from dorm_bench.compare import main
        sys.exit(main(sys.argv[1:]))
        """,
    )
    django = report["results"]["django"]
    assert django["status"] == "skipped: not installed (pip install django)"
    assert report["results"]["dorm"]["scenarios"]["get_by_pk"]["status"] == "ok"
    assert "django: skipped: not installed" in stdout


def test_arguments_are_checked(tmp_path: Path) -> None:
    for args, message in (
        (["--scenarios", "copy"], "need --backend postgresql"),
        (["--orms", "peewee"], "unknown ORM(s) peewee"),
        (["--runs", "0"], "must be positive"),
        (["--min-run-ms", "-1"], "must not be negative"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "dorm_bench.compare", *args],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2 and message in result.stderr, result.stderr


def test_postgresql(tmp_path: Path) -> None:
    dsn = os.environ.get("DORM_TEST_POSTGRES_DSN") or os.environ.get("DORM_BENCH_POSTGRES_DSN")
    if not dsn:
        pytest.skip("set DORM_TEST_POSTGRES_DSN to run the PostgreSQL benchmark smoke test")
    if importlib.util.find_spec("psycopg") is None:
        pytest.skip("psycopg is not installed")
    report, _ = bench(
        tmp_path, "--backend", "postgresql", "--dsn", dsn, "--copy-rows", "200", "--markdown"
    )
    results = report["results"]
    assert results["raw"]["scenarios"]["copy"]["status"] == "ok"
    dorm = results["dorm"]
    if importlib.util.find_spec("dorm_postgres") is None:
        assert dorm["status"].startswith("skipped: not installed")
    else:
        assert dorm["scenarios"]["get_by_pk"]["status"] == "ok"
        copy = dorm["scenarios"]["copy"]["status"]
        assert copy == "ok" or copy == "skipped: not installed", copy
