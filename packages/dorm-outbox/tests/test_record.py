"""record_event / arecord_event: one insert in the caller's transaction, JSON payloads."""

from __future__ import annotations

import datetime
import decimal
import enum
import math
import uuid

import pytest
from outbox_test_models import Order, Outbox, TenantOutbox

from dorm import transaction
from dorm.contrib.outbox import (
    OutboxEvent,
    OutboxStatus,
    arecord_event,
    notify_channel,
    record_event,
    to_json,
)
from dorm.db import connections

pytestmark = pytest.mark.usefixtures("db")


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def test_the_event_commits_with_the_business_write() -> None:
    with transaction.atomic():
        order = Order.objects.create(customer="ann", total=decimal.Decimal("10.00"))
        event = record_event(Outbox, "order.created", {"order_id": order.id})
    row = Outbox.objects.get()
    assert row.pk == event.pk and isinstance(row.pk, uuid.UUID)
    assert row.event_type == "order.created"
    assert row.payload == {"order_id": order.id}
    assert row.status == OutboxStatus.PENDING == "pending"
    assert row.attempts == 0 and row.last_error == "" and row.published_at is None
    assert row.created_at == row.available_at == event.created_at
    assert row.created_at.tzinfo is not None


def test_rolling_back_the_business_transaction_leaves_no_event() -> None:
    with pytest.raises(RuntimeError, match="payment declined"), transaction.atomic():
        order = Order.objects.create(customer="bob", total=decimal.Decimal("5.00"))
        record_event(Outbox, "order.created", {"order_id": order.id})
        raise RuntimeError("payment declined")
    assert Order.objects.count() == 0
    assert Outbox.objects.count() == 0


def test_a_rolled_back_savepoint_takes_its_event_with_it() -> None:
    with transaction.atomic():
        record_event(Outbox, "kept", {})
        with pytest.raises(ValueError), transaction.atomic():
            record_event(Outbox, "dropped", {})
            raise ValueError
    assert list(Outbox.objects.values_list("event_type", flat=True)) == ["kept"]


def test_record_event_is_one_insert() -> None:
    statements: list[str] = []

    def spy(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return execute(sql, params, many, context)

    conn = connections["default"]
    with transaction.atomic(), conn.execute_wrapper(spy):
        record_event(Outbox, "one", {"n": 1})
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO")


def test_payload_values_are_converted_sensibly() -> None:
    when = datetime.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.UTC)
    key = uuid.UUID("12345678-1234-5678-1234-567812345678")
    payload = {
        "amount": decimal.Decimal("12.50"),
        "id": key,
        "at": when,
        "day": datetime.date(2026, 1, 2),
        "time": datetime.time(3, 4),
        "ttl": datetime.timedelta(hours=1, seconds=2, microseconds=5),
        "color": Color.RED,
        "level": Level.HIGH,
        "pair": (1, "two"),
        7: "int keys become strings",
        "nested": [{"x": decimal.Decimal("0.1")}],
    }
    expected = {
        "amount": "12.50",
        "id": "12345678-1234-5678-1234-567812345678",
        "at": "2026-01-02T03:04:05.600000+00:00",
        "day": "2026-01-02",
        "time": "03:04:00",
        "ttl": "P0DT01H00M02.000005S",
        "color": "red",
        "level": 3,
        "pair": [1, "two"],
        "7": "int keys become strings",
        "nested": [{"x": "0.1"}],
    }
    event = record_event(Outbox, "converted", payload)
    assert event.payload == expected
    assert Outbox.objects.get(pk=event.pk).payload == expected


def test_negative_durations_keep_their_sign() -> None:
    assert to_json(datetime.timedelta(days=-1, hours=23)) == "-P0DT01H00M00S"


@pytest.mark.parametrize("payload", [{}, 1, "text", [1, 2], True, 1.5, [None]])
def test_any_json_value_is_a_payload(payload: object) -> None:
    event = record_event(Outbox, "scalar", payload)
    assert Outbox.objects.get(pk=event.pk).payload == payload


@pytest.mark.parametrize(
    ("payload", "where", "hint"),
    [
        ({"items": [1, 2, object()]}, "payload['items'][2]", "builtins.object"),
        ({"tags": {"a", "b"}}, "payload['tags']", "convert sets to (sorted) lists"),
        ({"blob": b"\x00"}, "payload['blob']", "encode bytes as text"),
        (object(), "payload", "builtins.object"),
        ({(1, 2): "tuple key"}, "the key (1, 2) of payload", "JSON object keys are strings"),
    ],
)
def test_an_unserializable_payload_raises_a_type_error_naming_the_value(
    payload: object, where: str, hint: str
) -> None:
    with pytest.raises(TypeError) as info:
        record_event(Outbox, "bad", payload)
    message = str(info.value)
    assert message.startswith(f"record_event(): {where} is not JSON-serializable: ")
    assert hint in message
    assert Outbox.objects.count() == 0


def test_a_model_instance_in_the_payload_gets_a_hint() -> None:
    order = Order.objects.create(customer="c", total=decimal.Decimal(1))
    with pytest.raises(TypeError, match=r"payload\['order'\] .*record the object's primary key"):
        record_event(Outbox, "bad", {"order": order})


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(number: float) -> None:
    with pytest.raises(ValueError, match=r"record_event\(\): payload\['x'\] is .*JSON cannot"):
        record_event(Outbox, "bad", {"x": number})


def test_extra_sets_other_fields() -> None:
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    event = record_event(TenantOutbox, "tenant.created", {}, tenant="acme", available_at=later)
    row = TenantOutbox.objects.get(pk=event.pk)
    assert row.tenant == "acme"
    assert row.available_at == later
    with pytest.raises(TypeError, match="nope"):
        record_event(Outbox, "x", {}, nope=1)


def test_a_none_payload_is_refused() -> None:
    with pytest.raises(TypeError, match=r"payload is None; use \{\} for an event without data"):
        record_event(Outbox, "x", None)


def test_record_event_needs_a_concrete_outbox_model() -> None:
    with pytest.raises(TypeError, match="concrete outbox model"):
        record_event(OutboxEvent, "x", {})
    with pytest.raises(TypeError, match="subclass of OutboxEvent"):
        record_event(Order, "x", {})  # type: ignore[type-var]
    with pytest.raises(TypeError, match="event_type must be a non-empty str"):
        record_event(Outbox, "", {})


def test_the_notify_channel_is_a_plain_identifier() -> None:
    assert notify_channel(Outbox) == "outbox_outbox"
    assert notify_channel(TenantOutbox) == "outbox_tenant_outbox"


def test_no_notify_on_sqlite_even_with_listen_notify_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The NOTIFY path needs the listen_notify module *and* a PostgreSQL alias."""
    import dorm.contrib.outbox as outbox

    calls: list[tuple[object, ...]] = []

    class FakeListenNotify:
        @staticmethod
        def notify(channel: str, payload: str, using: str | None = None) -> None:
            calls.append((channel, payload, using))

    monkeypatch.setattr(outbox, "_listen_notify_module", FakeListenNotify)
    record_event(Outbox, "x", {})
    assert calls == []


async def test_arecord_event_commits_and_rolls_back_with_aatomic(adb: None) -> None:
    async with transaction.aatomic():
        order = await Order.objects.acreate(customer="ann", total=decimal.Decimal("1.00"))
        event = await arecord_event(Outbox, "order.created", {"order_id": order.id})
    with pytest.raises(RuntimeError):
        async with transaction.aatomic():
            await Order.objects.acreate(customer="bob", total=decimal.Decimal("2.00"))
            await arecord_event(Outbox, "order.created", {"n": decimal.Decimal("2")})
            raise RuntimeError
    rows = [row async for row in Outbox.objects.all()]
    assert [row.pk for row in rows] == [event.pk]
    assert await Order.objects.acount() == 1
    with pytest.raises(TypeError, match=r"^arecord_event\(\): payload\['x'\]"):
        await arecord_event(Outbox, "bad", {"x": object()})
