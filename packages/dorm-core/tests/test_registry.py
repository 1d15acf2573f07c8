"""ENGINE resolution: entry points, dotted paths, and what an unknown name tells the user.

The wheel-installed, third-party-distribution version of these checks is in test_packaging.py;
here a distribution is simulated with a ``*.dist-info`` folder on ``sys.path``, which is all
``importlib.metadata`` looks at.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import dorm
from dorm.db import async_connections, connections, registry
from dorm.exceptions import ImproperlyConfigured

BACKEND_MODULE = """
from dorm_sqlite import AsyncDatabaseWrapper, DatabaseWrapper


class Wrapper(DatabaseWrapper):
    vendor = "plugged"


class AsyncWrapper(AsyncDatabaseWrapper):
    vendor = "plugged"
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on ``sys.path`` to put modules and fake installed distributions in."""
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    before = set(sys.modules)
    yield tmp_path
    registry.clear_cache()
    for name in set(sys.modules) - before:
        if name.startswith("plugged_"):
            del sys.modules[name]
    importlib.invalidate_caches()


def install_fake_distribution(site: Path, name: str, entry_points: str) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    importlib.invalidate_caches()


def configure(tmp_path: Path, engine: str) -> None:
    dorm.configure(DATABASES={"default": {"ENGINE": engine, "NAME": str(tmp_path / "db.sqlite3")}})


def engine_error(tmp_path: Path, engine: str) -> str:
    configure(tmp_path, engine)
    with pytest.raises(ImproperlyConfigured) as info:
        connections["default"]
    return str(info.value)


async def async_engine_error(tmp_path: Path, engine: str) -> str:
    configure(tmp_path, engine)
    with pytest.raises(ImproperlyConfigured) as info:
        async_connections["default"]
    return str(info.value)


# First-party backends use the same entry points a third party does -------------------


def test_sqlite_is_registered_in_both_groups() -> None:
    import dorm_sqlite

    assert "sqlite" in registry.installed_engines(registry.SYNC_GROUP)
    assert "sqlite" in registry.installed_engines(registry.ASYNC_GROUP)
    assert registry.load_backend("sqlite") is dorm_sqlite.DatabaseWrapper
    assert registry.load_backend("sqlite", is_async=True) is dorm_sqlite.AsyncDatabaseWrapper


async def test_entry_point_backend_of_a_third_party(tmp_path: Path, site: Path) -> None:
    (site / "plugged_backend.py").write_text(BACKEND_MODULE)
    install_fake_distribution(
        site,
        "plugged_dist",
        """
        [djanorm.backends]
        plugged = plugged_backend:Wrapper

        [djanorm.async_backends]
        plugged = plugged_backend:AsyncWrapper
        """,
    )
    assert "plugged" in registry.installed_engines()
    configure(tmp_path, "plugged")
    try:
        conn = connections["default"]
        assert type(conn).__name__ == "Wrapper" and conn.vendor == "plugged"
        assert conn.fetchone("SELECT 1 + 1") == (2,)
        aconn = async_connections["default"]
        assert type(aconn).__name__ == "AsyncWrapper" and aconn.vendor == "plugged"
        assert await aconn.fetchone("SELECT 2 + 2") == (4,)
    finally:
        await dorm.db.aclose_all()
        dorm.db.close_all()


def test_backend_that_fails_to_load(tmp_path: Path, site: Path) -> None:
    (site / "plugged_broken.py").write_text("raise ImportError('needs libfoo')\n")
    install_fake_distribution(
        site, "plugged_broken_dist", "[djanorm.backends]\nbroken = plugged_broken:Wrapper\n"
    )
    msg = engine_error(tmp_path, "broken")
    assert "'broken' backend is installed but failed to load" in msg
    assert "plugged_broken:Wrapper" in msg
    assert "needs libfoo" in msg


# Dotted paths ---------------------------------------------------------------------------


async def test_dotted_path_engine(tmp_path: Path, site: Path) -> None:
    (site / "plugged_dotted.py").write_text(BACKEND_MODULE)
    configure(tmp_path, "plugged_dotted:Wrapper")
    conn = connections["default"]
    assert type(conn).__module__ == "plugged_dotted"
    assert conn.fetchone("SELECT 3") == (3,)
    # A dotted path names one class: using it from the other side says so.
    msg = await async_engine_error(tmp_path, "plugged_dotted:Wrapper")
    assert "names a sync wrapper class, but async code needs an async one" in msg
    assert "djanorm.async_backends" in msg

    configure(tmp_path, "plugged_dotted:AsyncWrapper")
    try:
        assert await async_connections["default"].fetchone("SELECT 4") == (4,)
    finally:
        await dorm.db.aclose_all()
    msg = engine_error(tmp_path, "plugged_dotted:AsyncWrapper")
    assert "names an async wrapper class, but sync code needs a sync one" in msg
    dorm.db.close_all()


def test_first_party_class_by_dotted_path(tmp_path: Path) -> None:
    configure(tmp_path, "dorm_sqlite.base:DatabaseWrapper")
    try:
        assert connections["default"].fetchone("SELECT 5") == (5,)
    finally:
        dorm.db.close_all()


def test_dotted_path_that_cannot_be_imported(tmp_path: Path) -> None:
    msg = engine_error(tmp_path, "plugged_missing.backend:Wrapper")
    assert "ENGINE 'plugged_missing.backend:Wrapper' could not be imported" in msg
    msg = engine_error(tmp_path, "dorm_sqlite.base:NoSuchWrapper")
    assert "could not be imported" in msg and "NoSuchWrapper" in msg


# Unknown engines ------------------------------------------------------------------------


def test_unknown_engine_names_it_and_lists_installed_engines(tmp_path: Path) -> None:
    msg = engine_error(tmp_path, "nosuchdb")
    assert "Unknown database ENGINE 'nosuchdb'" in msg
    installed = ", ".join(registry.installed_engines())
    assert f"Installed engines: {installed}." in msg
    assert "sqlite" in installed
    assert "'djanorm.backends' entry-point group" in msg


async def test_unknown_async_engine(tmp_path: Path) -> None:
    msg = await async_engine_error(tmp_path, "nosuchdb")
    assert "Unknown async database ENGINE 'nosuchdb'" in msg
    assert "'djanorm.async_backends' entry-point group" in msg


def test_unknown_first_party_engine_names_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Any first-party name that is not installed; "postgresql" itself is checked in a venv
    # without dorm-postgres by test_packaging.py (here it may well be installed).
    monkeypatch.setitem(registry.FIRST_PARTY_ENGINES, "firstpartydb", "dorm-firstpartydb")
    msg = engine_error(tmp_path, "firstpartydb")
    assert "Unknown database ENGINE 'firstpartydb'" in msg
    assert "provided by the 'dorm-firstpartydb' distribution: pip install dorm-firstpartydb" in msg


def test_postgresql_is_provided_by_dorm_postgres() -> None:
    assert registry.FIRST_PARTY_ENGINES["postgresql"] == "dorm-postgres"
    assert registry.FIRST_PARTY_ENGINES["sqlite"] == "dorm-sqlite"


# dorm.contrib ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module", sorted(importlib.import_module("dorm.contrib").FIRST_PARTY_CONTRIB)
)
def test_first_party_contrib_module_imports_or_names_its_distribution(module: str) -> None:
    from dorm.contrib import FIRST_PARTY_CONTRIB

    try:
        importlib.import_module(f"dorm.contrib.{module}")
    except ModuleNotFoundError as exc:
        dist = FIRST_PARTY_CONTRIB[module]
        assert f"provided by the {dist!r} distribution" in str(exc)
        assert f"pip install {dist}" in str(exc)
        assert exc.name == f"dorm.contrib.{module}"


def test_unknown_contrib_module_is_a_plain_import_error() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        importlib.import_module("dorm.contrib.no_such_feature")
    assert "distribution" not in str(info.value)
