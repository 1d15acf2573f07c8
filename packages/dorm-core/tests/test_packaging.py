"""The distributions as a user gets them: built wheels installed into a fresh venv.

Slow (builds every package, creates a venv, installs from PyPI what the wheels depend on),
so all tests share one build and one venv, and carry the ``packaging`` marker
(``pytest -m "not packaging"`` skips them). Nothing here reaches the network except pip's
index for third-party dependencies (aiosqlite, hatchling for the isolated builds).
"""

from __future__ import annotations

import email.parser
import importlib.util
import os
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[3]
BUILD_ALL = ROOT / "scripts" / "build_all.py"
MYBACKEND = Path(__file__).resolve().parent / "fixtures" / "mybackend"
# Only these go into the venv: the tests below rely on dorm-postgres and dorm-outbox missing.
INSTALLED_DISTRIBUTIONS = ("dorm-core", "dorm-sqlite")


def clean_env() -> dict[str, str]:
    """The environment minus anything that could make the venv see the workspace."""
    drop = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DORM_SETTINGS_MODULE", "PYTHONSTARTUP"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(cmd: list[str | Path], cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(
            f"command failed (exit {result.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}",
            pytrace=False,
        )
    return result.stdout


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return email.parser.Parser().parsestr(zf.read(name).decode())


@dataclass
class Built:
    dist: Path
    wheels: dict[str, Path]  # distribution name -> wheel
    sdists: list[Path]
    returncode: int  # of scripts/build_all.py, which builds every package it can
    log: str

    def wheel(self, name: str) -> Path:
        if name not in self.wheels:
            pytest.fail(f"no wheel for {name}; scripts/build_all.py said:\n{self.log}")
        return self.wheels[name]


@dataclass
class Venv:
    python: Path
    workdir: Path

    def run(self, script: str) -> str:
        """Run ``script`` isolated (-I: no cwd, no PYTHONPATH on sys.path) in the venv."""
        return run([self.python, "-I", "-c", textwrap.dedent(script)], cwd=self.workdir)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def venv_python(base: Path) -> Path:
    run([sys.executable, "-m", "venv", base / "venv"], cwd=base)
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return base / "venv" / scripts / ("python.exe" if sys.platform == "win32" else "python")


@pytest.fixture(scope="module")
def built(base: Path, venv_python: Path) -> Built:
    builder = Path(sys.executable)
    if importlib.util.find_spec("build") is None:
        # The test environment lacks the `build` package: build with the venv instead.
        run([venv_python, "-m", "pip", "install", "-q", "build>=1.2"], cwd=base)
        builder = venv_python
    dist = base / "dist"
    # Not run(): one package failing to build fails its own test below, not every test.
    result = subprocess.run(
        [str(builder), str(BUILD_ALL), "--outdir", str(dist)],
        cwd=base,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    wheels = {wheel_metadata(w)["Name"]: w for w in sorted(dist.glob("*.whl"))}
    log = result.stdout
    return Built(dist, wheels, sorted(dist.glob("*.tar.gz")), result.returncode, log)


@pytest.fixture(scope="module")
def venv(base: Path, venv_python: Path, built: Built) -> Venv:
    wheels = [built.wheel(name) for name in INSTALLED_DISTRIBUTIONS]
    run([venv_python, "-m", "pip", "install", "-q", *wheels, MYBACKEND], cwd=base)
    workdir = base / "work"
    workdir.mkdir()
    return Venv(venv_python, workdir)


# The built distributions -------------------------------------------------------------------


def test_build_all_reports_bad_arguments(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, BUILD_ALL, "--outdir", tmp_path, "--only", "dorm-nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown package(s) dorm-nosuch; available: " in result.stderr
    assert "dorm-core" in result.stderr
    assert not list(tmp_path.iterdir())


def test_every_package_builds_a_wheel_and_an_sdist(built: Built) -> None:
    assert built.returncode == 0, f"scripts/build_all.py failed:\n{built.log}"
    packages = sorted(p.parent.name for p in (ROOT / "packages").glob("*/pyproject.toml"))
    assert sorted(built.wheels) == packages
    assert len(built.sdists) == len(packages)


def test_no_two_wheels_ship_the_same_file(built: Built) -> None:
    owners: dict[str, list[str]] = {}
    for name, wheel in built.wheels.items():
        with zipfile.ZipFile(wheel) as zf:
            for path in zf.namelist():
                if ".dist-info/" not in path:
                    owners.setdefault(path, []).append(name)
    shared = {path: names for path, names in owners.items() if len(names) > 1}
    assert not shared, f"files shipped by more than one wheel: {shared}"
    # Only dorm-core ships dorm/ itself; a contrib distribution ships only dorm/contrib/<its>.
    for path, (name,) in owners.items():
        if path.startswith("dorm/") and name != "dorm-core":
            assert path.startswith("dorm/contrib/") and path != "dorm/contrib/__init__.py", (
                f"{name} ships {path}: only dorm-core may ship files under dorm/ "
                "outside dorm/contrib/<module>"
            )


def test_dorm_core_has_no_dependencies(built: Built) -> None:
    core = wheel_metadata(built.wheel("dorm-core"))
    assert core.get_all("Requires-Dist") is None
    sqlite = wheel_metadata(built.wheel("dorm-sqlite"))
    requires = " ".join(sqlite.get_all("Requires-Dist") or [])
    assert "dorm-core" in requires and "aiosqlite" in requires


# The installed distributions ---------------------------------------------------------------


def test_sqlite_from_the_wheels_sync_and_async(venv: Venv) -> None:
    out = venv.run(
        """
        import asyncio, sys
        from pathlib import Path

        import dorm, dorm_sqlite
        from dorm.db import aclose_all, async_connections, close_all, connections
        from dorm.transaction import aatomic, atomic

        for module in (dorm, dorm_sqlite):  # the wheels, not the workspace
            assert Path(module.__file__).is_relative_to(sys.prefix), module.__file__

        dorm.configure(DATABASES={"default": {"ENGINE": "sqlite", "NAME": "app.sqlite3"}})
        conn = connections["default"]
        conn.execute("CREATE TABLE t (n integer)")
        with atomic():
            conn.executemany("INSERT INTO t (n) VALUES (%s)", [(1,), (2,)])
        assert conn.fetchone("PRAGMA journal_mode") == ("wal",)

        async def main():
            aconn = async_connections["default"]
            async with aatomic():
                await aconn.execute("INSERT INTO t (n) VALUES (%s)", [3])
            rows = await aconn.fetchall("SELECT n FROM t ORDER BY n")
            await aclose_all()
            return rows

        print(asyncio.run(main()), conn.fetchall("SELECT COUNT(*) FROM t"))
        close_all()
        """
    )
    assert out.strip() == "[(1,), (2,), (3,)] [(3,)]"


def test_third_party_backend_by_entry_point(venv: Venv) -> None:
    out = venv.run(
        """
        import asyncio

        import dorm
        from dorm.db import aclose_all, async_connections, close_all, connections
        from dorm.db.registry import installed_engines

        print(installed_engines("djanorm.backends"), installed_engines("djanorm.async_backends"))
        dorm.configure(DATABASES={"default": {"ENGINE": "mybackend", "NAME": "my.sqlite3"}})
        conn = connections["default"]
        conn.execute("CREATE TABLE t (n integer)")
        conn.execute("INSERT INTO t (n) VALUES (%s)", [1])
        print(type(conn).__module__, type(conn).__name__, conn.vendor, conn.display_name)

        async def main():
            aconn = async_connections["default"]
            await aconn.execute("INSERT INTO t (n) VALUES (%s)", [2])
            print(type(aconn).__module__, type(aconn).__name__, aconn.vendor)
            print(await aconn.fetchall("SELECT n FROM t ORDER BY n"))
            await aclose_all()

        asyncio.run(main())
        close_all()
        """
    )
    assert out.splitlines() == [
        "['mybackend', 'sqlite'] ['mybackend', 'sqlite']",
        "mybackend.backend MyBackendWrapper mybackend My Backend",
        "mybackend.backend MyAsyncBackendWrapper mybackend",
        "[(1,), (2,)]",
    ]


def test_unknown_engine_messages(venv: Venv) -> None:
    out = venv.run(
        """
        import asyncio

        import dorm
        from dorm.db import async_connections, connections
        from dorm.exceptions import ImproperlyConfigured

        def error(engine, is_async=False):
            dorm.configure(DATABASES={"default": {"ENGINE": engine, "NAME": "x.sqlite3"}})
            try:
                if is_async:
                    async def get():
                        return async_connections["default"]
                    asyncio.run(get())
                else:
                    connections["default"]
            except ImproperlyConfigured as exc:
                return str(exc)
            raise AssertionError(f"no error for {engine!r}")

        print(error("nosuchdb"))
        print(error("nosuchdb", is_async=True))
        print(error("postgresql"))
        print(error("postgresql", is_async=True))
        """
    )
    nosuch, anosuch, pg, apg = out.splitlines()
    assert "Unknown database ENGINE 'nosuchdb'" in nosuch
    assert "Installed engines: mybackend, sqlite." in nosuch
    assert "Unknown async database ENGINE 'nosuchdb'" in anosuch
    assert "Installed engines: mybackend, sqlite." in anosuch
    for msg in (pg, apg):
        assert "ENGINE 'postgresql'" in msg
        assert "Installed engines: mybackend, sqlite." in msg
        assert "'dorm-postgres' distribution: pip install dorm-postgres" in msg


def test_missing_contrib_distribution_is_named(venv: Venv) -> None:
    out = venv.run(
        """
        try:
            import dorm.contrib.outbox
        except ModuleNotFoundError as exc:
            print(type(exc).__name__, exc.name, "|", exc)
        else:
            raise AssertionError("dorm.contrib.outbox imported without dorm-outbox")
        """
    )
    assert out.startswith("ModuleNotFoundError dorm.contrib.outbox | ")
    assert "'dorm-outbox' distribution" in out
    assert "pip install dorm-outbox" in out
