"""The integration suite: dorm's packages together, on a real PostgreSQL server.

Where the server comes from, in order:

1. ``DORM_TEST_POSTGRES_DSN`` — a libpq DSN/URL of a server where the suite may create and
   drop databases (``.ci/run`` sets it to the machine's PostgreSQL);
2. else a throwaway ``postgres`` container started through testcontainers, when a Docker
   engine is reachable (what hosted CI runners use);
3. else every test is skipped, loudly (header and summary say why) — unless ``CI`` is set,
   in which case the run fails: CI must never pass by skipping.

A fresh database is created for the session and dropped at its end; more can be made with
``postgres.create_database()`` (for sharding tests). Running ``pytest tests-integration``
also runs dorm-core's own test modules against that database, through the switch of
``packages/dorm-core/tests/conftest.py`` (``DORM_TEST_DATABASE_ENGINE`` /
``DORM_TEST_DATABASE_DSN``): the very same tests, sync and async, not copies. Set
``DORM_INTEGRATION_CORE=0`` to leave them out.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORE_TESTS = ROOT / "packages" / "dorm-core" / "tests"
CONTAINER_IMAGE = os.environ.get("DORM_TEST_POSTGRES_IMAGE", "postgres:16-alpine")

sys.path.insert(0, str(HERE))


def _truthy(value: str | None) -> bool:
    return bool(value) and value.strip().lower() not in ("0", "false", "no", "off")


class PostgresServer:
    """The server the suite runs on, and the databases it created there."""

    def __init__(self, admin_dsn: str, source: str, container: Any = None) -> None:
        self.admin_dsn = admin_dsn
        self.source = source
        self.container = container
        self.databases: list[str] = []
        self.dsn = ""  # the session database, set by create_database()

    def _admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=10)

    def create_database(self, prefix: str = "dorm_it") -> str:
        """Create a fresh, empty database; returns its DSN. Dropped when the session ends."""
        name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
        with self._admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return make_conninfo(self.admin_dsn, dbname=name)

    def drop_databases(self) -> None:
        if not self.databases:
            return
        with self._admin() as conn:
            for name in reversed(self.databases):
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.databases.clear()

    def describe(self) -> str:
        params = conninfo_to_dict(self.dsn or self.admin_dsn)
        return (
            f"PostgreSQL from {self.source}: database {params.get('dbname')!r} at "
            f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
        )


def _start_container() -> tuple[PostgresServer | None, str]:
    """A testcontainers PostgreSQL, or (None, why not)."""
    try:
        import docker  # testcontainers' dependency
    except ImportError:
        return None, "testcontainers is not installed (pip install 'testcontainers[postgres]')"
    try:
        docker.from_env().ping()
    except Exception as exc:
        return None, f"no Docker engine is reachable ({type(exc).__name__}: {exc})"
    try:
        from testcontainers.community.postgres import PostgresContainer  # type: ignore[import-not-found]
    except ImportError:
        from testcontainers.postgres import PostgresContainer
    container = PostgresContainer(CONTAINER_IMAGE, driver=None)
    container.start()
    url = container.get_connection_url()
    url = url.replace("postgresql+psycopg2://", "postgresql://").replace(
        "postgresql+psycopg://", "postgresql://"
    )
    return PostgresServer(url, f"a testcontainers {CONTAINER_IMAGE} container", container), ""


def _resolve_server() -> tuple[PostgresServer | None, str]:
    dsn = os.environ.get("DORM_TEST_POSTGRES_DSN")
    if dsn:
        return PostgresServer(dsn, "DORM_TEST_POSTGRES_DSN"), ""
    return _start_container()


def _is_collecting_whole_suite(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::")[0])
        if not path.is_absolute():
            path = Path(config.invocation_params.dir) / path
        if path.resolve() == HERE:
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long-running integration test")
    server, reason = _resolve_server()
    config._dorm_pg = server  # type: ignore[attr-defined]
    config._dorm_pg_skip = reason  # type: ignore[attr-defined]
    config._dorm_pg_env = {}  # type: ignore[attr-defined]
    if server is None:
        message = (
            "\n" + "!" * 78 + "\n"
            "dorm integration suite: NO POSTGRESQL SERVER, every test is skipped.\n"
            f"Reason: {reason}.\n"
            "Set DORM_TEST_POSTGRES_DSN=postgresql://user@host:port/postgres (a server where "
            "databases may be created) or start a Docker engine.\n" + "!" * 78
        )
        if _truthy(os.environ.get("CI")):
            pytest.exit(message + "\nCI is set: refusing to pass by skipping.", returncode=1)
        config._dorm_pg_skip = message  # type: ignore[attr-defined]
        return
    try:
        server.dsn = server.create_database()
    except psycopg.Error as exc:
        if server.container is not None:
            server.container.stop()
        pytest.exit(f"Cannot create the test database on {server.source}: {exc}", returncode=1)
    env = {
        "DORM_TEST_DATABASE_ENGINE": "postgresql",
        "DORM_TEST_DATABASE_DSN": server.dsn,
    }
    config._dorm_pg_env = {k: os.environ.get(k) for k in env}  # type: ignore[attr-defined]
    os.environ.update(env)
    if (
        _is_collecting_whole_suite(config)
        and _truthy(os.environ.get("DORM_INTEGRATION_CORE", "1"))
        and not any(Path(arg).resolve() == CORE_TESTS for arg in config.args)
    ):
        config.args.append(str(CORE_TESTS))


def pytest_unconfigure(config: pytest.Config) -> None:
    server: PostgresServer | None = getattr(config, "_dorm_pg", None)
    for key, value in getattr(config, "_dorm_pg_env", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if server is None:
        return
    with contextlib.suppress(Exception):
        from dorm.db import close_all
        from dorm_postgres import close_pools

        close_all()
        close_pools()
    try:
        server.drop_databases()
    finally:
        if server.container is not None:
            server.container.stop()


def pytest_report_header(config: pytest.Config) -> str:
    server: PostgresServer | None = getattr(config, "_dorm_pg", None)
    if server is None:
        return str(config._dorm_pg_skip)  # type: ignore[attr-defined]
    return server.describe()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_reason = getattr(config, "_dorm_pg_skip", "")
    if skip_reason:
        marker = pytest.mark.skip(
            reason="no PostgreSQL server: set DORM_TEST_POSTGRES_DSN or start Docker"
        )
        for item in items:
            item.add_marker(marker)
        return
    # dorm-core's packaging tests build wheels; they belong to the unit run, not here.
    deselected = [
        item
        for item in items
        if item.get_closest_marker("packaging") and CORE_TESTS in Path(str(item.path)).parents
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    skip_reason = getattr(config, "_dorm_pg_skip", "")
    if skip_reason:
        terminalreporter.write_line(str(skip_reason), red=True, bold=True)


# Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres(pytestconfig: pytest.Config) -> PostgresServer:
    """The server and the session database (``postgres.dsn``); ``create_database()``."""
    server: PostgresServer | None = getattr(pytestconfig, "_dorm_pg", None)
    if server is None:
        pytest.skip("no PostgreSQL server")
    return server


Configure = Callable[..., dict[str, Any]]


@pytest.fixture
async def configure_pg(postgres: PostgresServer) -> AsyncIterator[Configure]:
    """``configure_pg(**OPTIONS)``: ``default`` on the session database; cleaned up after.

    Extra keyword ``aliases={"other": {...OPTIONS}}`` adds aliases on the same database.
    Sync connections and pools, and the test's event loop's async pools, are closed after.
    """
    import dorm
    from dorm.db import aclose_all, close_all
    from dorm_postgres import close_pools

    def configure(
        aliases: dict[str, dict[str, Any]] | None = None, **options: Any
    ) -> dict[str, Any]:
        entry = {"ENGINE": "postgresql", "OPTIONS": {"conninfo": postgres.dsn, **options}}
        databases = {"default": entry}
        for alias, extra in (aliases or {}).items():
            databases[alias] = {
                "ENGINE": "postgresql",
                "OPTIONS": {"conninfo": postgres.dsn, **extra},
            }
        dorm.configure(DATABASES=databases)
        return entry

    close_all()
    try:
        yield configure
    finally:
        await aclose_all()
        close_all()
        close_pools()


@pytest.fixture
def admin(postgres: PostgresServer) -> Iterator[psycopg.Connection[Any]]:
    """A separate autocommit connection to the session database (server-side inspection)."""
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        # A lock left by a broken test must fail the teardown, not hang the session.
        conn.execute("SET lock_timeout = '20s'")
        yield conn


@pytest.fixture
def tables(admin: psycopg.Connection[Any]) -> Iterator[Callable[..., None]]:
    """``tables(Model, ...)``: create the models' tables (schema editor); dropped after."""
    from dorm.db import connections

    created: list[Any] = []

    def create(*models: Any, alias: str = "default") -> None:
        conn = connections[alias]
        with conn.schema_editor() as editor:
            for model in models:
                conn.execute(
                    f"DROP TABLE IF EXISTS {conn.ops.quote_name(model._meta.db_table)} CASCADE"
                )
                editor.create_model(model)
                created.append(model)

    yield create
    for model in reversed(created):
        admin.execute(f'DROP TABLE IF EXISTS "{model._meta.db_table}" CASCADE')
