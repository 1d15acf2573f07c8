"""Settings: ``dorm.configure()``, validation with useful messages, settings modules."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm.conf import load_settings_module, settings
from dorm.db import async_connections, connections
from dorm.exceptions import ImproperlyConfigured

SQLITE = {"ENGINE": "sqlite", "NAME": ":memory:"}


def configure_error(**options: object) -> str:
    with pytest.raises(ImproperlyConfigured) as info:
        dorm.configure(**options)
    return str(info.value)


# configure() ------------------------------------------------------------------------------


def test_configure_fills_defaults() -> None:
    dorm.configure(DATABASES={"default": dict(SQLITE)})
    assert settings.configured
    entry = settings.DATABASES["default"]
    assert entry["ENGINE"] == "sqlite"
    assert entry["NAME"] == ":memory:"
    assert entry["USER"] == ""
    assert entry["OPTIONS"] == {}
    assert entry["CONN_MAX_AGE"] == 0
    assert settings.USE_TZ is True
    assert settings.DATABASE_ROUTERS == []


def test_configure_does_not_alias_callers_dicts() -> None:
    options = {"busy_timeout": 10}
    conf = {"ENGINE": "sqlite", "NAME": ":memory:", "OPTIONS": options}
    dorm.configure(DATABASES={"default": conf})
    settings.DATABASES["default"]["OPTIONS"]["busy_timeout"] = 99
    assert options == {"busy_timeout": 10}


def test_databases_must_be_set() -> None:
    assert "DATABASES is not set" in configure_error(USE_TZ=False)


def test_databases_must_be_a_dict() -> None:
    assert "DATABASES must be a dict" in configure_error(DATABASES=[SQLITE])


def test_no_default_alias() -> None:
    msg = configure_error(DATABASES={"main": dict(SQLITE)})
    assert "no 'default' alias" in msg
    assert "main" in msg


def test_alias_must_be_an_identifier() -> None:
    msg = configure_error(DATABASES={"default": dict(SQLITE), "my-db": dict(SQLITE)})
    assert "'my-db'" in msg


def test_unknown_database_key_suggests_the_right_one() -> None:
    msg = configure_error(DATABASES={"default": {**SQLITE, "HOTS": "db.example"}})
    assert "unknown key 'HOTS'" in msg
    assert "Did you mean 'HOST'?" in msg
    assert "Valid keys:" in msg


def test_unknown_setting_suggests_the_right_one() -> None:
    msg = configure_error(DATABASES={"default": dict(SQLITE)}, DATABASE_ROUTER=[])
    assert "Unknown setting 'DATABASE_ROUTER'" in msg
    assert "Did you mean 'DATABASE_ROUTERS'?" in msg


def test_missing_engine() -> None:
    msg = configure_error(DATABASES={"default": {"NAME": "app.sqlite3"}})
    assert "DATABASES['default'] has no ENGINE" in msg
    assert "'sqlite'" in msg and "'package.module:Class'" in msg


def test_missing_name() -> None:
    msg = configure_error(DATABASES={"default": {"ENGINE": "sqlite"}})
    assert "DATABASES['default'] has no NAME" in msg
    assert ":memory:" in msg


def test_a_dsn_option_stands_in_for_name() -> None:
    dorm.configure(
        DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": "dbname=x"}}}
    )
    assert settings.DATABASES["default"]["OPTIONS"] == {"conninfo": "dbname=x"}


def test_routers_must_be_a_list() -> None:
    msg = configure_error(DATABASES={"default": dict(SQLITE)}, DATABASE_ROUTERS="x.Router")
    assert "DATABASE_ROUTERS must be a list" in msg


def test_reading_an_unknown_setting_suggests_the_right_one() -> None:
    dorm.configure(DATABASES={"default": dict(SQLITE)})
    with pytest.raises(AttributeError, match="Did you mean 'DATABASES'"):
        _ = settings.DATABASE


def test_an_invalid_configure_keeps_the_previous_settings() -> None:
    dorm.configure(DATABASES={"default": dict(SQLITE)}, TIME_ZONE="Europe/Paris")
    configure_error(DATABASES={"default": {"ENGINE": "sqlite"}})
    assert settings.TIME_ZONE == "Europe/Paris"


def test_unknown_alias(db: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="alias 'other' is not configured") as info:
        connections["other"]
    assert "default" in str(info.value)


# Reconfiguring --------------------------------------------------------------------------


def test_reconfigure_closes_old_sync_connections(db: Any) -> None:
    old = connections["default"]
    old.execute("SELECT 1")
    raw = old.connection
    assert raw is not None

    dorm.configure(DATABASES={"default": db.settings})

    assert old.connection is None
    new = connections["default"]
    assert new is not old
    assert new.fetchone("SELECT 1") == (1,)


def test_reconfigure_closes_connections_of_other_threads(db: Any) -> None:
    import threading

    opened = []

    def work() -> None:
        conn = connections["default"]
        conn.execute("SELECT 1")
        opened.append(conn)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert opened[0].connection is not None

    dorm.configure(DATABASES={"default": db.settings})
    assert opened[0].connection is None


async def test_reconfigure_retires_async_connections(db: Any) -> None:
    old = async_connections["default"]
    assert await old.fetchone("SELECT 1") == (1,)
    assert old.pool._size == 1

    dorm.configure(DATABASES={"default": db.settings})

    new = async_connections["default"]
    assert new is not old
    assert await new.fetchone("SELECT 1") == (1,)
    # Pools belong to their event loop: the retired one is closed by aclose_all().
    await dorm.db.aclose_all()
    assert old.pool._size == 0
    assert new.pool._size == 0


# Settings modules -----------------------------------------------------------------------

SETTINGS_MODULE = """
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).parent          # the module's own constants are ignored
DATABASES = {"default": {"ENGINE": "sqlite", "NAME": str(BASE_DIR / "from_module.sqlite3")}}
TIME_ZONE = "Europe/Paris"
"""


@pytest.fixture
def settings_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, with no settings module in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DORM_SETTINGS_MODULE", raising=False)
    monkeypatch.delitem(sys.modules, "settings", raising=False)
    return tmp_path


def test_settings_module_from_environment(
    settings_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (settings_dir / "proj_settings_env.py").write_text(SETTINGS_MODULE)
    monkeypatch.syspath_prepend(str(settings_dir))
    monkeypatch.delitem(sys.modules, "proj_settings_env", raising=False)
    monkeypatch.setenv("DORM_SETTINGS_MODULE", "proj_settings_env")

    load_settings_module()

    assert settings.TIME_ZONE == "Europe/Paris"
    assert settings.DATABASES["default"]["NAME"] == str(settings_dir / "from_module.sqlite3")
    assert not hasattr(settings, "BASE_DIR")


def test_settings_module_by_dotted_path(
    settings_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = settings_dir / "proj_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS_MODULE)
    monkeypatch.syspath_prepend(str(settings_dir))
    monkeypatch.delitem(sys.modules, "proj_pkg", raising=False)
    monkeypatch.delitem(sys.modules, "proj_pkg.settings", raising=False)

    load_settings_module("proj_pkg.settings")

    assert settings.TIME_ZONE == "Europe/Paris"


def test_settings_py_in_working_directory(settings_dir: Path) -> None:
    (settings_dir / "settings.py").write_text(SETTINGS_MODULE)

    load_settings_module()

    assert settings.TIME_ZONE == "Europe/Paris"
    assert settings.DATABASES["default"]["NAME"].endswith("from_module.sqlite3")


def test_settings_module_that_cannot_be_imported(settings_dir: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="'no_such_settings_module'"):
        load_settings_module("no_such_settings_module")


def test_settings_module_typo_is_reported(settings_dir: Path) -> None:
    (settings_dir / "settings.py").write_text(
        "DATABASES = {'default': {'ENGINE': 'sqlite', 'NAME': ':memory:'}}\nTIME_ZONES = 'UTC'\n"
    )
    with pytest.raises(ImproperlyConfigured, match="Did you mean 'TIME_ZONE'"):
        load_settings_module()


def test_not_configured_at_all(settings_dir: Path) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        load_settings_module()
    msg = str(info.value)
    assert "dorm.configure(DATABASES=...)" in msg
    assert "DORM_SETTINGS_MODULE" in msg
    assert "settings.py" in msg


LAZY_SCRIPT = textwrap.dedent(
    """
    from dorm.conf import settings
    from dorm.db import connections

    assert not settings.configured
    conn = connections["default"]          # first use loads the settings module
    conn.execute("CREATE TABLE t (n integer)")
    conn.execute("INSERT INTO t (n) VALUES (%s)", [7])
    print(settings.TIME_ZONE, conn.fetchall("SELECT n FROM t"))
    """
)


def run_lazy(cwd: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "DORM_SETTINGS_MODULE"}
    result = subprocess.run(
        [sys.executable, "-c", LAZY_SCRIPT],
        cwd=cwd,
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_lazy_loading_of_settings_py(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text(SETTINGS_MODULE)
    assert run_lazy(tmp_path) == "Europe/Paris [(7,)]"
    assert (tmp_path / "from_module.sqlite3").exists()


def test_lazy_loading_of_dorm_settings_module(tmp_path: Path) -> None:
    (tmp_path / "site_settings.py").write_text(SETTINGS_MODULE)
    (tmp_path / "settings.py").write_text("raise SystemExit('settings.py must not be loaded')")
    assert run_lazy(tmp_path, DORM_SETTINGS_MODULE="site_settings") == "Europe/Paris [(7,)]"
