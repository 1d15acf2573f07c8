"""``dorm migrate --all-shards`` / ``--database 'shard_*'`` migrate every shard alias."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import dorm
from dorm.cli import main
from dorm.contrib.sharding import HashShardRouter
from dorm.db import close_all, connections


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    app = tmp_path / "shardshop"
    (app / "migrations").mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "migrations" / "__init__.py").write_text("")
    (app / "models.py").write_text(
        textwrap.dedent("""
        import dorm

        class Invoice(dorm.Model):
            tenant_id = dorm.IntegerField()

        class Country(dorm.Model):
            code = dorm.CharField(max_length=2)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    databases = {"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "default.sqlite3")}}
    for i in range(3):
        databases[f"shard_{i}"] = {"ENGINE": "sqlite", "NAME": str(tmp_path / f"s{i}.sqlite3")}
    dorm.configure(
        DATABASES=databases,
        INSTALLED_APPS=["shardshop"],
        DATABASE_ROUTERS=[HashShardRouter(3, {"shardshop.Invoice"})],
    )
    dorm.call_command("makemigrations", verbosity=0)
    yield tmp_path
    close_all()
    for name in list(sys.modules):
        if name.startswith("shardshop"):
            del sys.modules[name]


def tables(alias: str) -> set[str]:
    rows = connections[alias].fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows}


def test_all_shards(project: Path) -> None:
    result = dorm.call_command("migrate", all_shards=True, verbosity=0)
    assert list(result) == ["shard_0", "shard_1", "shard_2"]
    for alias in result:
        assert {"shardshop_invoice", "shardshop_country"} <= tables(alias)
    assert "shardshop_invoice" not in tables("default")
    dorm.call_command("migrate", verbosity=0)
    assert "shardshop_invoice" not in tables("default")
    assert "shardshop_country" in tables("default")


def test_database_pattern(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate", "--database", "shard_[01]"]) == 0
    out = capsys.readouterr().out
    assert "(shard_0)" in out and "(shard_1)" in out and "(shard_2)" not in out
    assert "shardshop_invoice" in tables("shard_1")
    assert "shardshop_invoice" not in tables("shard_2")
    assert main(["migrate", "--database", "nope_*"]) != 0
    assert "matches no alias" in capsys.readouterr().err
