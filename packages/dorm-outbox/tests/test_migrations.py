"""The outbox table comes from makemigrations: a user's app subclassing OutboxEvent."""

from __future__ import annotations

import io
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import dorm
from dorm import transaction
from dorm.apps import apps
from dorm.db import close_all, connections

APP = "outbox_shop"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / APP
    package.mkdir()
    (package / "__init__.py").touch()
    (package / "models.py").write_text(
        textwrap.dedent(
            """
            import dorm
            from dorm.contrib.outbox import OutboxEvent


            class Order(dorm.Model):
                customer = dorm.CharField(max_length=100)


            class Outbox(OutboxEvent):
                class Meta:
                    db_table = "outbox"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    close_all()
    dorm.configure(
        DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "db.sqlite3")}},
        INSTALLED_APPS=[APP],
    )
    try:
        yield package
    finally:
        close_all()
        apps.all_models.pop(APP, None)
        for name in [m for m in sys.modules if m == APP or m.startswith(APP + ".")]:
            del sys.modules[name]


def test_makemigrations_writes_the_outbox_table_and_its_index(project: Path) -> None:
    out = io.StringIO()
    dorm.call_command("makemigrations", stdout=out)
    (migration,) = sorted((project / "migrations").glob("0*.py"))
    source = migration.read_text()
    assert "db_table': 'outbox'" in source or 'db_table": "outbox"' in source
    assert "outbox_status_created_at_id_idx" in source
    assert "uuid.uuid4" in source

    dorm.call_command("migrate", stdout=out)
    conn = connections["default"]
    columns = {row[1] for row in conn.fetchall('PRAGMA table_info("outbox")')}
    assert columns == {
        "id",
        "event_type",
        "payload",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "available_at",
        "published_at",
    }
    indexes = {row[1] for row in conn.fetchall('PRAGMA index_list("outbox")')}
    assert "outbox_status_created_at_id_idx" in indexes

    # No change detected afterwards: the abstract model's fields serialize stably.
    out = io.StringIO()
    dorm.call_command("makemigrations", "--check", stdout=out)

    from dorm.contrib.outbox import OutboxRelay, record_event

    models = sys.modules[f"{APP}.models"]
    with transaction.atomic():
        order = models.Order.objects.create(customer="ann")
        record_event(models.Outbox, "order.created", {"order_id": order.id})
    sent: list[object] = []
    assert OutboxRelay(models.Outbox).drain_once(lambda row: sent.append(row.payload) or True) == 1
    assert sent == [{"order_id": order.id}]
