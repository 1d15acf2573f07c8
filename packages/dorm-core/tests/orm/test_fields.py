"""Acceptance: every field type round-trips through the database with Django's Python types,
and the field options (null, blank, default, db_default, unique, db_index, choices,
validators, db_column, primary_key, editable, help_text, auto_now/auto_now_add) behave as in
Django. Each database round trip runs sync and async."""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

import pytest
from orm_models import AllTypes, Article, Author, Document, Note, Product, Ticket

import dorm
from dorm.db import connections
from dorm.exceptions import FieldError, IntegrityError, ValidationError

pytestmark = pytest.mark.usefixtures("orm")

UTC = datetime.UTC

VALUES: dict[str, Any] = {
    "small": -32768,
    "big": 2**62 + 1,
    "positive": 2147483647,
    "flt": 2.5,
    "dec": decimal.Decimal("123456.78"),
    "flag": False,
    "char": "héllo wörld",
    "text": "line1\nline2 'quoted' \"double\" %s %% _",
    "email": "a@example.com",
    "slug": "a-slug_1",
    "url": "https://example.com/a?b=c",
    "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "day": datetime.date(2024, 2, 29),
    "moment": datetime.datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC),
    "clock": datetime.time(13, 14, 15, 16),
    "span": datetime.timedelta(days=2, hours=3, microseconds=7),
    "blob": b"\x00\x01binary\xff",
    "data": {"a": [1, 2, {"b": None}], "c": "d", "e": 1.5, "f": True},
    "ip": "192.168.0.1",
}


async def test_every_field_type_round_trips(run: Any) -> None:
    obj = await run(AllTypes.objects.create, **VALUES)
    fetched = await run(AllTypes.objects.get, pk=obj.pk)
    for name, value in VALUES.items():
        got = getattr(fetched, name)
        assert got == value, name
        assert type(got) is type(value), name
    assert fetched.moment.utcoffset() == datetime.timedelta(0)


async def test_every_field_type_filters_by_exact_value(run: Any) -> None:
    await run(AllTypes.objects.create, **VALUES)
    await run(AllTypes.objects.create)
    for name, value in VALUES.items():
        assert await run(AllTypes.objects.filter(**{name: value}).count) == 1, name
        assert await run(AllTypes.objects.filter(**{f"{name}__isnull": True}).count) == 1, name
    assert await run(AllTypes.objects.filter(dec__gt=decimal.Decimal("123456.77")).count) == 1
    assert await run(AllTypes.objects.filter(span__lt=datetime.timedelta(days=3)).count) == 1
    assert await run(AllTypes.objects.filter(clock__gte=datetime.time(13)).count) == 1
    assert await run(AllTypes.objects.filter(uid__in=[VALUES["uid"], uuid.uuid4()]).count) == 1


async def test_nulls_round_trip(run: Any) -> None:
    obj = await run(AllTypes.objects.create)
    fetched = await run(AllTypes.objects.get, pk=obj.pk)
    for name in VALUES:
        assert getattr(fetched, name) is None, name


@pytest.mark.parametrize(
    "data", [[1, "two", 3.0], "just a string", 42, True, {"nested": {"deep": [{}]}}]
)
async def test_json_field_values(run: Any, data: Any) -> None:
    obj = await run(AllTypes.objects.create, data=data)
    assert (await run(AllTypes.objects.get, pk=obj.pk)).data == data


async def test_decimal_is_quantized_to_decimal_places(run: Any) -> None:
    obj = await run(AllTypes.objects.create, dec=decimal.Decimal("1.5"))
    assert (await run(AllTypes.objects.get, pk=obj.pk)).dec == decimal.Decimal("1.50")
    assert str((await run(AllTypes.objects.get, pk=obj.pk)).dec) == "1.50"


async def test_values_are_converted_in_values_and_values_list(run: Any) -> None:
    await run(AllTypes.objects.create, **VALUES)
    (row,) = await run.list(AllTypes.objects.values("uid", "day", "span", "flag", "data"))
    assert row == {k: VALUES[k] for k in ("uid", "day", "span", "flag", "data")}
    (dec,) = await run.list(AllTypes.objects.values_list("dec", flat=True))
    assert dec == VALUES["dec"]


async def test_datetime_is_aware_utc_when_use_tz(run: Any) -> None:
    other_zone = datetime.timezone(datetime.timedelta(hours=5))
    moment = datetime.datetime(2024, 1, 1, 17, 0, tzinfo=other_zone)
    obj = await run(AllTypes.objects.create, moment=moment)
    fetched = await run(AllTypes.objects.get, pk=obj.pk)
    assert fetched.moment == moment  # same instant
    assert fetched.moment.tzinfo is not None and fetched.moment.utcoffset() == datetime.timedelta(0)
    assert fetched.moment.hour == 12
    assert await run(AllTypes.objects.filter(moment=moment).count) == 1


async def test_datetime_is_naive_without_use_tz(orm: Any, run: Any) -> None:
    settings = orm.settings
    dorm.configure(DATABASES={"default": settings}, USE_TZ=False)
    try:
        naive = datetime.datetime(2024, 5, 6, 7, 8, 9)
        obj = await run(AllTypes.objects.create, moment=naive)
        fetched = await run(AllTypes.objects.get, pk=obj.pk)
        assert fetched.moment == naive and fetched.moment.tzinfo is None
        note = await run(Note.objects.create, text="n")
        assert note.created.tzinfo is None
    finally:
        dorm.configure(DATABASES={"default": settings})


async def test_auto_now_and_auto_now_add(run: Any) -> None:
    before = datetime.datetime.now(UTC)
    note = await run(Note.objects.create, text="first")
    assert note.created.tzinfo is not None
    assert before <= note.created <= datetime.datetime.now(UTC)
    created, updated = note.created, note.updated
    note.text = "second"
    await run(note.save)
    fetched = await run(Note.objects.get, pk=note.pk)
    assert fetched.created == created  # auto_now_add: only on insert
    assert fetched.updated >= updated  # auto_now: on every save
    assert fetched.created.tzinfo is not None
    field = Note._meta.get_field("created")
    assert field.editable is False and field.blank is True


async def test_defaults_static_callable_and_db_default(run: Any) -> None:
    p = Product(sku="D1", price=1)
    assert p.region == "eu"  # static default
    assert len(p.code) == 8  # callable default
    await run(p.save)
    assert p.stock == 7  # db_default: computed by the database
    fetched = await run(Product.objects.get, pk=p.pk)
    assert (fetched.region, fetched.stock, fetched.code) == ("eu", 7, p.code)
    explicit = await run(Product.objects.create, sku="D2", price=1, stock=3)
    assert (await run(Product.objects.get, pk=explicit.pk)).stock == 3


async def test_db_column_names_the_column(run: Any) -> None:
    field = Product._meta.get_field("sku")
    assert (field.attname, field.column) == ("sku", "product_sku")
    await run(Product.objects.create, sku="COL", price=1)
    conn = connections["default"]
    rows = conn.fetchall(f"SELECT {conn.ops.quote_name('product_sku')} FROM shop_products")
    assert rows == [("COL",)]
    assert await run(Product.objects.filter(sku="COL").count) == 1
    assert (await run.list(Product.objects.values_list("sku", flat=True))) == ["COL"]


async def test_unique_field(run: Any) -> None:
    await run(Author.objects.create, name="a", email="x@example.com")
    with pytest.raises(IntegrityError):
        await run(Author.objects.create, name="b", email="x@example.com")
    # NULLs never clash.
    await run(Author.objects.create, name="c", email=None)
    await run(Author.objects.create, name="d", email=None)
    assert await run(Author.objects.count) == 3


async def test_null_false_is_enforced_by_the_database(run: Any) -> None:
    with pytest.raises(IntegrityError):
        await run(Author.objects.create, name=None)


async def test_uuid_primary_key(run: Any) -> None:
    doc = await run(Document.objects.create, title="t")
    assert isinstance(doc.pk, uuid.UUID)
    assert (await run(Document.objects.get, pk=str(doc.pk))).pk == doc.pk
    assert (await run(Document.objects.get, pk=doc.pk.hex)).title == "t"


async def test_explicit_auto_field_primary_key(run: Any) -> None:
    pk = Ticket._meta.pk
    assert type(pk) is dorm.AutoField and pk.name == "number"
    assert {f.name for f in Ticket._meta.fields} == {"number", "title"}
    first = await run(Ticket.objects.create, title="a")
    second = await run(Ticket.objects.create, title="b")
    assert (first.pk, second.number) == (1, 2)
    assert (await run(Ticket.objects.get, number=2)).title == "b"


async def test_ip_addresses_are_normalized(run: Any) -> None:
    obj = await run(AllTypes.objects.create, ip="2001:0DB8:0000::0001")
    assert (await run(AllTypes.objects.get, pk=obj.pk)).ip == "2001:db8::1"
    assert await run(AllTypes.objects.filter(ip="2001:db8:0::1").count) == 1


def test_positional_arguments_follow_field_order() -> None:
    a = Author(None, "Ann", 30)
    assert (a.pk, a.name, a.age) == (None, "Ann", 30)
    with pytest.raises(TypeError):
        Author(None, "Ann", name="Bob")


def test_field_options_are_recorded() -> None:
    meta = Product._meta
    assert meta.get_field("label").help_text == "Shown on the shelf"
    assert meta.get_field("label").blank is True
    assert meta.get_field("code").editable is False
    assert meta.get_field("weight").db_index is True
    assert meta.get_field("kind").choices == [("book", "Book"), ("toy", "Toy")]
    assert meta.get_field("kind").flatchoices == [("book", "Book"), ("toy", "Toy")]
    assert meta.get_field("stock").db_default == 7
    assert meta.get_field("price").max_digits == 8
    assert Author._meta.get_field("age").null is True
    assert Author._meta.get_field("email").unique is True
    assert Article._meta.get_field("slug").max_length == 50


def test_field_class_attribute_is_the_field() -> None:
    assert isinstance(Author.name, dorm.CharField)  # type: ignore[misc]
    assert Author.name.max_length == 100  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (dorm.IntegerField(), "x", "'x' value must be an integer."),
        (dorm.FloatField(), "x", "'x' value must be a float."),
        (
            dorm.DecimalField(max_digits=4, decimal_places=1),
            "x",
            "'x' value must be a decimal number.",
        ),
        (dorm.BooleanField(), "maybe", "'maybe' value must be either True or False."),
        (dorm.DateField(), "2024-13-01", "'2024-13-01' value has an invalid date format."),
        (dorm.DateTimeField(), "yesterday", "'yesterday' value has an invalid datetime format."),
        (dorm.TimeField(), "25:00", "'25:00' value has an invalid time format."),
        (dorm.UUIDField(), "nope", "'nope' is not a valid UUID."),
        (dorm.GenericIPAddressField(), "1.2.3", "Enter a valid IPv4 or IPv6 address."),
        (dorm.EmailField(), "no-at-sign", "Enter a valid email address."),
        (dorm.URLField(), "not a url", "Enter a valid URL."),
        (
            dorm.SlugField(),
            "has space",
            "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.",
        ),
        (
            dorm.CharField(max_length=3),
            "long",
            "Ensure this value has at most 3 characters (it has 4).",
        ),
        (
            dorm.DecimalField(max_digits=4, decimal_places=1),
            decimal.Decimal("12.34"),
            "Ensure that there are no more than 1 decimal place.",
        ),
        (
            dorm.DecimalField(max_digits=4, decimal_places=1),
            decimal.Decimal("123.45"),
            "Ensure that there are no more than 4 digits in total.",
        ),
        (
            dorm.DecimalField(max_digits=4, decimal_places=1),
            decimal.Decimal("1234"),
            "Ensure that there are no more than 3 digits before the decimal point.",
        ),
        (dorm.SmallIntegerField(), 40000, "Ensure this value is less than or equal to 32767."),
        (dorm.PositiveIntegerField(), -1, "Ensure this value is greater than or equal to 0."),
        (dorm.CharField(choices=[("a", "A")]), "b", "Value 'b' is not a valid choice."),
    ],
)
def test_field_clean_messages(field: Any, value: Any, message: str) -> None:
    field.name = "f"
    with pytest.raises(ValidationError) as info:
        field.clean(value, None)
    assert info.value.messages == [message]


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (dorm.IntegerField(), "12", 12),
        (dorm.FloatField(), "1.5", 1.5),
        (dorm.DecimalField(max_digits=5, decimal_places=2), "3.14", decimal.Decimal("3.14")),
        (dorm.BooleanField(), "true", True),
        (dorm.DateField(), "2024-01-02", datetime.date(2024, 1, 2)),
        (dorm.TimeField(), "10:11", datetime.time(10, 11)),
        (
            dorm.UUIDField(),
            "12345678123456781234567812345678",
            uuid.UUID(int=0x12345678123456781234567812345678),
        ),
        (dorm.GenericIPAddressField(), "2001:0db8::0001", "2001:db8::1"),
        (dorm.DurationField(), datetime.timedelta(seconds=3), datetime.timedelta(seconds=3)),
    ],
)
def test_to_python_converts(field: Any, raw: Any, expected: Any) -> None:
    assert field.to_python(raw) == expected


def test_validators_run_in_full_clean() -> None:
    p = Product(sku="V1", price=decimal.Decimal("-0.01"))
    with pytest.raises(ValidationError) as info:
        p.full_clean()
    assert info.value.message_dict["price"] == ["Ensure this value is greater than or equal to 0."]


def test_blank_allows_empty_values_in_full_clean() -> None:
    Author(name="x", age=None, email=None).full_clean()  # age/email are blank=True
    with pytest.raises(ValidationError) as info:
        Author(name="").full_clean()
    assert info.value.message_dict == {"name": ["This field cannot be blank."]}


def test_invalid_field_definitions() -> None:
    with pytest.raises(FieldError):
        dorm.CharField(max_length=0)
    with pytest.raises(FieldError):
        dorm.GenericIPAddressField(protocol="ipv5")


async def test_wrong_value_type_names_the_field(run: Any) -> None:
    with pytest.raises((TypeError, ValidationError), match="'age'"):
        await run(Author.objects.create, name="x", age="old")
    with pytest.raises((TypeError, ValidationError), match="'age'"):
        await run(Author.objects.filter(age="old").count)
    with pytest.raises((TypeError, ValidationError), match="'dec'"):
        await run(AllTypes.objects.create, dec="lots")
    with pytest.raises((TypeError, ValidationError), match="'day'"):
        await run(AllTypes.objects.filter(day="someday").count)
    with pytest.raises((TypeError, ValidationError), match="'uid'"):
        await run(AllTypes.objects.filter(uid="not-a-uuid").count)
    with pytest.raises((TypeError, ValidationError), match="'data'"):
        await run(AllTypes.objects.create, data={"x": object()})
    assert await run(AllTypes.objects.count) == 0


async def test_a_project_field_subclass_is_stored_as_the_field_it_extends(run: Any) -> None:
    from orm_models import Shout, ShoutField

    field = ShoutField(max_length=30)
    assert field.get_internal_type() == "CharField"
    assert field.db_type(connections["default"]) == dorm.CharField(max_length=30).db_type(
        connections["default"]
    )
    obj = await run(Shout.objects.create, text="quiet")
    assert (await run(Shout.objects.get, pk=obj.pk)).text == "QUIET"
