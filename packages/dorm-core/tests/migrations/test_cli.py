"""The ``dorm`` command line: each command's happy path and errors, exit codes, --help."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dorm.cli import COMMANDS, DbShellCommand, main

MODELS = """
class Note(dorm.Model):
    title = dorm.CharField(max_length=200)
"""


@pytest.fixture
def cli(project: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """The project with a settings module (``mig_settings``), the cwd in its root, and
    ``run(*argv) -> (status, stdout, stderr)``."""
    settings = project.root / "mig_settings.py"
    settings.write_text(
        f"DATABASES = {{'default': {project.db.settings!r}}}\n"
        f"INSTALLED_APPS = {project.app_labels!r}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(project.root)
    monkeypatch.delenv("DORM_SETTINGS_MODULE", raising=False)
    project.write_models("mig_shop", MODELS)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            status = main([*argv, "--settings", "mig_settings"] if argv else [])
        except SystemExit as exc:  # argparse (--help, usage errors)
            status = int(exc.code or 0)
        out, err = capsys.readouterr()
        return status, out, err

    project.run = run
    yield project
    sys.modules.pop("mig_settings", None)


def test_help_everywhere(cli: Any) -> None:
    status, out, _ = cli.run("--help")
    assert status == 0 and "makemigrations" in out and "dbshell" in out
    for name in COMMANDS:
        status, out, _ = cli.run(name, "--help")
        assert status == 0, name
        assert "--settings" in out, name
    assert main([]) == 2


def test_makemigrations_migrate_showmigrations_sqlmigrate(cli: Any) -> None:
    status, out, err = cli.run("makemigrations")
    assert status == 0, err
    assert "mig_shop/migrations/0001_initial.py" in out and "- Create model Note" in out
    assert cli.run("makemigrations", "--check")[:2] == (0, "No changes detected\n")

    status, out, _ = cli.run("migrate", "--plan")
    assert status == 0 and "mig_shop.0001_initial" in out and "Create model Note" in out
    status, out, _ = cli.run("showmigrations")
    assert status == 0 and "[ ] 0001_initial" in out and "mig_crm\n (no migrations)" in out
    status, out, _ = cli.run("migrate")
    assert status == 0 and "Applying mig_shop.0001_initial... OK" in out
    status, out, _ = cli.run("showmigrations", "mig_shop")
    assert "[X] 0001_initial" in out and "mig_crm" not in out

    status, out, _ = cli.run("sqlmigrate", "mig_shop", "0001")
    assert status == 0
    assert "CREATE TABLE" in out and "mig_shop_note" in out
    status, out, _ = cli.run("sqlmigrate", "mig_shop", "0001_initial", "--backwards")
    assert "DROP TABLE" in out

    cli.write_models("mig_shop", MODELS + "    body = dorm.TextField(default='')\n")
    status, out, _ = cli.run("makemigrations", "--check")
    assert status == 1 and "Add field body to Note" in out
    status, out, _ = cli.run("makemigrations", "mig_shop", "--dry-run")
    assert status == 0 and "0002_note_body.py" in out
    assert cli.migration_files("mig_shop") == ["0001_initial.py"]
    assert cli.run("makemigrations", "--name", "with_body")[0] == 0
    assert cli.migration_files("mig_shop")[-1] == "0002_with_body.py"
    status, out, _ = cli.run("migrate", "mig_shop", "zero")
    assert status == 0 and "Unapplying mig_shop.0001_initial... OK" in out
    assert cli.app_tables() == set()


def test_errors_have_messages_and_statuses(cli: Any) -> None:
    status, _, err = cli.run("makemigrations", "nope")
    assert status == 1 and "No installed app with label 'nope'" in err
    status, _, err = cli.run("migrate", "mig_shop")
    assert status == 1 and "does not have migrations" in err
    cli.run("makemigrations")
    status, _, err = cli.run("migrate", "mig_shop", "0099")
    assert status == 1 and "Cannot find a migration of 'mig_shop' matching '0099'" in err
    status, _, err = cli.run("sqlmigrate", "mig_shop", "0042")
    assert status == 1 and "0042" in err
    status, _, err = cli.run("migrate", "--database", "elsewhere")
    assert status == 1 and "Unknown database alias 'elsewhere'" in err
    status, _, err = cli.run("makemigrations", "--name", "not valid")
    assert status == 1 and "valid Python identifier" in err
    status, _, err = cli.run("migrate", "--no-such-flag")
    assert status == 2 and "unrecognized arguments" in err
    status, _, err = cli.run("squashmigrations", "mig_shop", "0001")
    assert status == 2 and "not available yet" in err
    status, _, err = main(["migrate", "--settings", "no_such_settings_module"]), "", ""
    assert status == 1


def test_no_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import dorm.conf

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DORM_SETTINGS_MODULE", raising=False)
    monkeypatch.setattr(dorm.conf.settings, "_values", None)
    assert main(["showmigrations"]) == 1
    assert "dorm is not configured" in capsys.readouterr().err


def test_init_then_settings_py_in_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, db: Any
) -> None:
    assert main(["init", str(tmp_path / "site"), "--app", "mig_notes"]) == 0
    assert "dorm makemigrations" in capsys.readouterr().out
    assert (tmp_path / "site/mig_notes/migrations/__init__.py").exists()
    assert main(["init", str(tmp_path / "site")]) == 1
    assert "not empty" in capsys.readouterr().err
    assert main(["init", str(tmp_path / "other"), "--app", "no-dash"]) == 1

    # A subprocess, as a user runs it: python -m dorm in the project directory.
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k != "DORM_SETTINGS_MODULE"}

    def dorm(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dorm", *argv],
            cwd=site,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = dorm("makemigrations")
    assert done.returncode == 0, done.stderr
    assert "Create model Note" in done.stdout
    done = dorm("migrate")
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr
    done = dorm("shell", "-c", "print(Note.objects.count(), dorm.__version__)")
    assert done.returncode == 0 and done.stdout.startswith("0 "), done.stderr
    done = dorm("makemigrations", "--check")
    assert done.returncode == 0 and "No changes detected" in done.stdout
    done = dorm("migrate", "mig_notes", "nope")
    assert done.returncode == 1 and "dorm migrate: error:" in done.stderr
    if shutil.which("sqlite3"):
        done = dorm("dbshell", "--", ".tables")
        assert done.returncode == 0 and "mig_notes_note" in done.stdout, done.stderr


def test_shell_and_dbshell_in_process(cli: Any) -> None:
    cli.run("makemigrations")
    cli.run("migrate")
    status, out, _ = cli.run("shell", "-c", "print(Note.objects.count())")
    assert status == 0 and out == "0\n"
    argv, env = DbShellCommand.client_command(
        {
            "ENGINE": "postgresql",
            "NAME": "shop",
            "HOST": "db",
            "PORT": 5432,
            "USER": "u",
            "PASSWORD": "secret",
            "OPTIONS": {},
        }
    )
    assert argv == ["psql", "-h", "db", "-p", "5432", "-U", "u", "shop"]
    assert env == {"PGPASSWORD": "secret"}
    argv, _ = DbShellCommand.client_command(
        {"ENGINE": "postgresql", "NAME": "", "OPTIONS": {"conninfo": "postgresql://x/y"}}
    )
    assert argv == ["psql", "postgresql://x/y"]
    cli.run("migrate", "mig_shop", "zero")


def test_call_command_validates_options(project: Any) -> None:
    import dorm
    from dorm.cli import CommandError

    with pytest.raises(TypeError, match=r"Unknown option.*bogus"):
        dorm.call_command("migrate", bogus=True)
    with pytest.raises(CommandError, match="Unknown command 'frobnicate'"):
        dorm.call_command("frobnicate")
    with pytest.raises(CommandError, match="Invalid arguments"):
        dorm.call_command("migrate", "a", "b", "c")


def test_console_script() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["dorm"] == "dorm.cli:main"
    script = Path(sys.executable).parent / "dorm"
    if not script.exists():
        pytest.skip("dorm-core is installed without its console script (reinstall it)")
    done = subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "makemigrations" in done.stdout
