"""Side by side: dorm vs Django ORM vs SQLAlchemy vs Tortoise ORM, and the raw driver.

    python -m dorm_bench.compare --runs 3 --ops 1000
    python -m dorm_bench.compare --async --markdown
    python -m dorm_bench.compare --backend postgresql --dsn postgresql://postgres@127.0.0.1/postgres

Every ORM does the same work on its own fresh table (SQLite: a temporary file per ORM, with
the same PRAGMAs as the raw driver). The table shows the median µs per operation over
``--runs`` and its ratio to the raw driver measured in the same run. ORMs that are not
installed are reported as skipped. Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from dorm_bench.core import (
    ALL_SCENARIOS,
    PG_SCENARIOS,
    SYNC_SCENARIOS,
    OrmResult,
    Plan,
    PostgresTarget,
    Session,
    SQLiteTarget,
    progress,
    run_sessions,
)
from dorm_bench.orms import ORMS, Skip, load_runner, version_of
from dorm_bench.report import Report, machine

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dorm-bench",
        description="Benchmark dorm against Django ORM, SQLAlchemy and Tortoise ORM.",
    )
    p.add_argument("--runs", type=int, default=3, help="timed runs per scenario (default 3)")
    p.add_argument(
        "--ops", type=int, default=1000, help="N, operations per scenario run (default 1000)"
    )
    p.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--dsn",
        default=None,
        help=f"PostgreSQL conninfo/URL for --backend postgresql (default {DEFAULT_DSN})",
    )
    p.add_argument(
        "--async",
        dest="is_async",
        action="store_true",
        help="the async APIs (dorm a*, Tortoise, SQLAlchemy AsyncSession, Django a*)",
    )
    p.add_argument(
        "--orms",
        type=_names,
        default=list(ORMS),
        help=f"comma-separated subset of {','.join(ORMS)} (the raw driver always runs)",
    )
    p.add_argument(
        "--scenarios",
        type=_names,
        default=None,
        help=f"comma-separated subset of {','.join(ALL_SCENARIOS)} "
        "(default: the five, plus copy,copy_bulk_create on PostgreSQL)",
    )
    p.add_argument(
        "--copy-rows",
        type=int,
        default=50_000,
        help="rows of the PostgreSQL copy scenarios (default 50000)",
    )
    p.add_argument("--json", metavar="PATH", help="write every figure (median, best, runs)")
    p.add_argument(
        "--markdown",
        nargs="?",
        const="-",
        metavar="PATH",
        help="print (or write to PATH) a Markdown table for the docs instead of the text table",
    )
    p.add_argument("--plot", metavar="PATH.png", help="grouped bar chart, log scale (matplotlib)")
    p.add_argument(
        "--no-warmup",
        action="store_true",
        help="skip the untimed warm-up pass (and with it the repeats of short scenarios)",
    )
    p.add_argument(
        "--min-run-ms",
        type=float,
        default=50.0,
        help="a run of a short scenario repeats its work, the same number of times for every "
        "ORM, until it lasts this long for the fastest in the warm-up (default 50; 0: never)",
    )
    p.add_argument(
        "--workdir", help="directory for the SQLite files (default: a temporary directory)"
    )
    return p


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.runs < 1 or args.ops < 1 or args.copy_rows < 1:
        parser.error("--runs, --ops and --copy-rows must be positive")
    if args.min_run_ms < 0:
        parser.error("--min-run-ms must not be negative")
    unknown = [o for o in args.orms if o not in ORMS]
    if unknown:
        parser.error(f"unknown ORM(s) {', '.join(unknown)}; choose from {', '.join(ORMS)}")
    if args.scenarios is None:
        args.scenarios = list(SYNC_SCENARIOS)
        if args.backend == "postgresql":
            args.scenarios += list(PG_SCENARIOS)
    unknown = [s for s in args.scenarios if s not in ALL_SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(ALL_SCENARIOS)}"
        )
    if args.backend == "sqlite" and any(s in PG_SCENARIOS for s in args.scenarios):
        parser.error(f"{', '.join(PG_SCENARIOS)} need --backend postgresql")
    if args.backend == "postgresql" and args.dsn is None:
        args.dsn = DEFAULT_DSN


def run(args: argparse.Namespace) -> Report:
    """Open every selected runner (raw first), time them side by side, close them."""
    plan = Plan(
        scenarios=args.scenarios,
        ops=args.ops,
        runs=args.runs,
        copy_rows=args.copy_rows,
        warmup=not args.no_warmup,
        min_run_s=args.min_run_ms / 1000,
    )
    results: list[OrmResult] = []
    repeats: dict[str, int] = {}
    sessions: list[Session] = []
    shared: PostgresTarget | None = None
    database = ""
    with tempfile.TemporaryDirectory(prefix="dorm-bench-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            if args.backend == "postgresql":
                shared = PostgresTarget(args.dsn)
                shared.create()
                database = shared.describe()
            for orm in ["raw", *[o for o in ORMS if o in args.orms]]:
                result = OrmResult(name=orm, label=orm)
                results.append(result)
                try:
                    runner = load_runner(orm, args.backend, args.is_async)
                except Skip as exc:
                    result.status = f"skipped: {exc}"
                    progress(f"[{orm}] {result.status}")
                    continue
                result.label = runner.label
                if runner.is_async and not args.is_async:
                    result.notes.append(
                        "async-only: its async API ran inside an event loop for the sync table"
                    )
                if args.is_async and orm == "django":
                    result.notes.append("Django's a* methods run the sync ORM in a thread")
                target = shared or SQLiteTarget(workdir / f"{orm}.sqlite3")
                session = Session(runner, target, result, owns_target=shared is None)
                try:
                    session.open()
                except Exception as exc:
                    result.status = f"error: {type(exc).__name__}: {exc}"
                    progress(f"[{orm}] {result.status}")
                    with contextlib.suppress(Exception):
                        session.close()
                    continue
                database = database or target.describe()
                progress(f"[{orm}] {result.label}: ready")
                sessions.append(session)
            repeats = run_sessions(sessions, plan)
            for session in sessions:
                try:
                    session.result.settings = session.settings()
                except Exception as exc:
                    session.result.notes.append(f"could not read settings back: {exc}")
        finally:
            for session in sessions:
                try:
                    session.close()
                except Exception as exc:
                    progress(f"[{session.result.name}] close failed: {exc}")
            if shared is not None:
                shared.close()
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": args.backend,
        "database": database or args.backend,
        "async": args.is_async,
        "ops": args.ops,
        "runs": args.runs,
        "repeats": repeats,
        "copy_rows": args.copy_rows if args.backend == "postgresql" else None,
        "scenarios": list(args.scenarios),
        "machine": machine(),
        "versions": {r.name: r.label for r in results if r.status == "ok" or r.label != r.name},
        "dorm_bench": version_of("dorm-bench"),
        "command": "python -m dorm_bench.compare " + " ".join(sys.argv[1:]),
    }
    return Report(meta, results)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    report = run(args)
    if args.markdown:
        if args.markdown == "-":
            sys.stdout.write(report.markdown())
        else:
            Path(args.markdown).write_text(report.markdown(), encoding="utf-8")
            sys.stdout.write(report.text())
    else:
        sys.stdout.write(report.text())
    if args.json:
        report.write_json(args.json)
        progress(f"wrote {args.json}")
    if args.plot:
        problem = report.plot(args.plot)
        progress(f"plot skipped: {problem}" if problem else f"wrote {args.plot}")
    return 0 if all(not r.status.startswith("error") for r in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
