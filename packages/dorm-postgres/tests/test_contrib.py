"""dorm.contrib.{bulk_copy,listen_notify,task_pool} without a server.

Name and payload validation, the column-kind decisions behind binary COPY, and the
behaviour on a backend that is not PostgreSQL (SQLite). What needs a server is in
``tests-integration/test_{bulk_copy,listen_notify,task_pool,job_queue}.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dorm
from dorm.contrib import bulk_copy, listen_notify, task_pool
from dorm.db import aclose_all, close_all
from dorm.exceptions import NotSupportedError
from dorm_postgres.fields import ArrayField


class Sample(dorm.Model):
    name = dorm.CharField(max_length=10)
    email = dorm.EmailField()
    n = dorm.PositiveIntegerField()
    uid = dorm.UUIDField(default=uuid.uuid4)
    data = dorm.JSONField(null=True)
    when = dorm.DateTimeField(auto_now_add=True)
    tags = ArrayField(dorm.IntegerField(), default=list)
    nested = ArrayField(ArrayField(dorm.IntegerField()), null=True)
    parent = dorm.ForeignKey("self", on_delete=dorm.CASCADE, null=True)

    class Meta:
        app_label = "contrib_unit"


class Upper(dorm.CharField):
    def get_prep_value(self, value: Any) -> Any:
        return None if value is None else str(value).upper()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[None]:
    close_all()
    dorm.configure(DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(tmp_path / "db")}})
    try:
        yield
    finally:
        close_all()


# Shipped in the dorm.contrib namespace ---------------------------------------------------------


def test_modules_are_in_the_contrib_namespace() -> None:
    for name in ("bulk_copy", "listen_notify", "task_pool"):
        module = importlib.import_module(f"dorm.contrib.{name}")
        assert Path(module.__file__ or "").parts[-3:] == ("dorm", "contrib", f"{name}.py")


# LISTEN / NOTIFY validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("orders", '"orders"'),
        ("Orders", '"Orders"'),
        ('x"; DROP TABLE t; --', '"x""; DROP TABLE t; --"'),
        ('"already"', '"""already"""'),
        ("é" * 31, '"' + "é" * 31 + '"'),
    ],
)
def test_channel_names_are_always_quoted(name: str, quoted: str) -> None:
    assert listen_notify.quote_channel(name) == quoted


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("", ValueError),
        ("x" * 64, ValueError),
        ("é" * 32, ValueError),
        ("a\x00", ValueError),
        (b"orders", TypeError),
        (None, TypeError),
    ],
)
def test_invalid_channel_names(name: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        listen_notify.validate_channel(name)
    with pytest.raises(error):
        listen_notify.listen("fine", name)


def test_payloads() -> None:
    assert listen_notify.validate_payload(None) == ""
    assert listen_notify.validate_payload("x" * 7_999) == "x" * 7_999
    for too_long in ("x" * 8_000, "€" * 2_667):
        with pytest.raises(ValueError, match="shorter than 8000 bytes"):
            listen_notify.validate_payload(too_long)
    with pytest.raises(TypeError):
        listen_notify.validate_payload(b"bytes")
    with pytest.raises(ValueError, match="NUL"):
        listen_notify.validate_payload("a\x00")


def test_listen_arguments() -> None:
    with pytest.raises(TypeError, match="at least one channel"):
        listen_notify.listen()
    with pytest.raises(ValueError):
        listen_notify.listen("x", reconnect_delay=0)
    assert listen_notify.listen("a", "b", "a").channels == ("a", "b")


# COPY decisions ------------------------------------------------------------------------------


def kind(name: str) -> str | None:
    return bulk_copy._kind(Sample._meta.get_field(name))


def test_field_kinds() -> None:
    assert kind("name") == "text" and kind("email") == "text"
    assert kind("n") == "int" and kind("id") == "int"
    assert kind("uid") == "uuid" and kind("data") == "json" and kind("when") == "datetime"
    assert kind("tags") == "array" and kind("parent") == "int"
    upper = Upper(max_length=5)
    upper.set_attributes_from_name("upper")
    assert bulk_copy._kind(upper) is None  # a custom conversion: text COPY


def test_binary_columns(pg: Any) -> None:
    def column(name: str, typname: str, elem: str | None = None) -> bool:
        return bulk_copy._Column(Sample._meta.get_field(name), 0, typname, elem).binary

    assert column("name", "varchar") and column("n", "int4") and column("data", "jsonb")
    assert not column("data", "json")  # a str into binary json: not handled, text COPY
    assert column("tags", "_int4", "int4") and not column("nested", "_int4", "int4")
    assert column("when", "timestamptz") and not column("when", "timestamp")


# Other backends -----------------------------------------------------------------------------


def test_not_supported_on_sqlite(sqlite: None) -> None:
    with pytest.raises(NotSupportedError, match="needs PostgreSQL"):
        bulk_copy.bulk_copy_from(Sample, [])
    with pytest.raises(NotSupportedError, match="needs PostgreSQL"):
        bulk_copy.copy_to("SELECT 1")
    with pytest.raises(NotSupportedError, match="needs PostgreSQL"):
        listen_notify.notify("orders", "x")
    with pytest.raises(NotSupportedError, match="needs PostgreSQL"), listen_notify.listen("x"):
        pass


def test_async_on_sqlite(sqlite: None) -> None:
    async def main() -> None:
        try:
            with pytest.raises(NotSupportedError):
                await bulk_copy.abulk_copy_from(Sample, [])
            with pytest.raises(NotSupportedError):
                bulk_copy.acopy_to("SELECT 1")
            with pytest.raises(NotSupportedError):
                await listen_notify.anotify("orders")
            with pytest.warns(RuntimeWarning, match="no connection pool"):
                async with task_pool.pinned_connection() as pin:
                    assert pin is None
            task_pool.assert_no_concurrent_gather()
        finally:
            await aclose_all()

    asyncio.run(main())


def test_bad_arguments(sqlite: None) -> None:
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            bulk_copy.bulk_copy_from(Sample, [], batch_size=bad)
    with pytest.raises(TypeError, match="SQL string or a QuerySet"):
        bulk_copy.copy_to(42)
