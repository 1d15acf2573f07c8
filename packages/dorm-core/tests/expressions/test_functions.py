"""Database functions, with Django's documented results: comparison (Coalesce, Greatest, Least,
NullIf, Cast), text (Lower, Upper, Length, Concat, Substr, Left, Right, Trim/LTrim/RTrim,
Replace, StrIndex), math (Abs, Round, Ceil, Floor, Mod, Power, Sqrt), Now, Extract*, Trunc*,
TruncDate/TruncTime. Every query runs sync and async.

Where databases legitimately differ (Django documents Greatest/Least with a NULL argument), the
expectation depends on ``connection.vendor``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from expr_models import Author, Book, Event, Number

from dorm import (
    Abs,
    Cast,
    Ceil,
    CharField,
    Coalesce,
    Concat,
    Count,
    DateField,
    DateTimeField,
    DecimalField,
    Extract,
    ExtractDay,
    ExtractHour,
    ExtractIsoWeekDay,
    ExtractIsoYear,
    ExtractMinute,
    ExtractMonth,
    ExtractQuarter,
    ExtractSecond,
    ExtractWeek,
    ExtractWeekDay,
    ExtractYear,
    FieldError,
    FloatField,
    Floor,
    Greatest,
    IntegerField,
    Least,
    Left,
    Length,
    Lower,
    LTrim,
    Mod,
    Now,
    NullIf,
    Power,
    Replace,
    Right,
    Round,
    RTrim,
    Sqrt,
    StrIndex,
    Substr,
    TextField,
    Trim,
    Trunc,
    TruncDate,
    TruncDay,
    TruncHour,
    TruncMinute,
    TruncMonth,
    TruncQuarter,
    TruncSecond,
    TruncTime,
    TruncWeek,
    TruncYear,
    Upper,
    Value,
)

UTC = datetime.UTC


@pytest.fixture
def numbers(expr: Any) -> None:
    Number.objects.create(
        label="a",
        integer=-7,
        big=10**12,
        dec=Decimal("12.345"),
        flt=2.25,
        text="  Hello World  ",
        other="lo",
    )
    Number.objects.create(
        label="b",
        integer=9,
        big=None,
        dec=Decimal("-1.500"),
        flt=-0.75,
        text="django",
        other=None,
    )
    Number.objects.create(label="c")  # every value NULL


async def annotated(run: Any, **expressions: Any) -> list[tuple[Any, ...]]:
    """One tuple per Number row (ordered by label) of the given annotations."""
    qs = Number.objects.annotate(**expressions).order_by("label").values_list(*expressions)
    return list(await run.list(qs))


# Comparison functions ---------------------------------------------------------------------


@pytest.mark.usefixtures("numbers")
async def test_coalesce(run: Any) -> None:
    assert await annotated(
        run,
        num=Coalesce("integer", "big"),
        txt=Coalesce("text", "other", Value("none")),
        d=Coalesce("dec", Value(Decimal("0"))),
    ) == [
        (-7, "  Hello World  ", Decimal("12.345")),
        (9, "django", Decimal("-1.500")),
        (None, "none", Decimal("0")),
    ]
    with pytest.raises(ValueError, match="at least two"):
        Coalesce("integer")


@pytest.mark.usefixtures("numbers")
async def test_coalesce_as_aggregate_default(run: Any) -> None:
    from dorm import Sum

    result = await run(
        Number.objects.filter(label="zzz").aggregate, total=Coalesce(Sum("integer"), Value(0))
    )
    assert result == {"total": 0}


@pytest.mark.usefixtures("numbers")
async def test_greatest_and_least(run: Any, vendor: str) -> None:
    rows = await annotated(
        run,
        g=Greatest("integer", "big"),
        lo=Least("integer", "big"),
        g0=Greatest("integer", Value(0)),
        l0=Least("flt", Value(0.0)),
    )
    assert rows[0] == (10**12, -7, 0, 0.0)
    # Django: "On PostgreSQL, Greatest/Least return the largest/smallest non-null expression;
    # on SQLite, Oracle and MySQL, if any expression is null, they return null."
    if vendor == "postgresql":
        assert rows[1] == (9, 9, 9, -0.75)
        assert rows[2] == (None, None, 0, 0.0)
    else:
        assert rows[1] == (None, None, 9, -0.75)
        assert rows[2] == (None, None, None, None)


@pytest.mark.usefixtures("numbers")
async def test_nullif(run: Any) -> None:
    assert await annotated(
        run, t=NullIf("text", Value("django")), i=NullIf("integer", Value(9))
    ) == [("  Hello World  ", -7), (None, None), (None, None)]


@pytest.mark.usefixtures("numbers")
async def test_cast(run: Any) -> None:
    rows = await annotated(
        run,
        as_text=Cast("integer", output_field=CharField(max_length=10)),
        as_float=Cast("integer", output_field=FloatField()),
        as_dec=Cast("dec", output_field=DecimalField(max_digits=8, decimal_places=1)),
        as_int=Cast(Value("42"), output_field=IntegerField()),
    )
    assert rows == [
        ("-7", -7.0, Decimal("12.3"), 42),
        ("9", 9.0, Decimal("-1.5"), 42),
        (None, None, None, 42),
    ]
    assert isinstance(rows[0][1], float) and isinstance(rows[0][2], Decimal)
    # Text to a date; a date/datetime to text and back.
    row = await run(
        Number.objects.filter(label="a")
        .annotate(
            day=Cast(Value("2020-01-02"), output_field=DateField()),
            moment=Cast(Value("2020-01-02 03:04:05"), output_field=DateTimeField()),
        )
        .values_list("day", "moment")
        .get
    )
    assert row == (datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC))


# Text functions -------------------------------------------------------------------------------


@pytest.mark.usefixtures("numbers")
async def test_lower_upper_length(run: Any) -> None:
    assert await annotated(run, lo=Lower("text"), up=Upper("text"), n=Length("text")) == [
        ("  hello world  ", "  HELLO WORLD  ", 15),
        ("django", "DJANGO", 6),
        (None, None, None),
    ]


@pytest.mark.usefixtures("books")
async def test_text_functions_in_filters_and_ordering(run: Any) -> None:
    qs = Author.objects.annotate(up=Upper("name")).filter(up__startswith="B")
    assert await run.list(qs.values_list("name", flat=True)) == ["Bob"]
    by_len = Book.objects.order_by(Length("name").desc(), "name")
    assert await run.list(by_len.values_list("name", flat=True)) == [
        "Python Basics",
        "Django Deep",
        "SQL Guide",
        "Async IO",
    ]


@pytest.mark.usefixtures("numbers")
async def test_concat(run: Any) -> None:
    # NULL arguments count as empty strings; non-text arguments with a text output_field.
    assert await annotated(
        run,
        c=Concat("text", Value("-"), "other"),
        mixed=Concat("label", Value(":"), "integer", output_field=TextField()),
    ) == [("  Hello World  -lo", "a:-7"), ("django-", "b:9"), ("-", "c:")]


@pytest.mark.usefixtures("numbers")
async def test_substr_left_right(run: Any) -> None:
    assert await annotated(
        run,
        s=Substr("text", 3, 5),
        rest=Substr("text", 4),
        lft=Left("text", 4),
        rgt=Right("text", 4),
        dyn=Substr("text", 1, Length("other")),
    ) == [
        ("Hello", "ello World  ", "  He", "ld  ", "  "),
        ("ango", "ngo", "djan", "ango", None),
        (None, None, None, None, None),
    ]
    with pytest.raises(ValueError):
        Substr("text", 0)
    with pytest.raises(ValueError):
        Left("text", 0)


@pytest.mark.usefixtures("numbers")
async def test_trim_ltrim_rtrim(run: Any) -> None:
    assert await annotated(run, t=Trim("text"), lt=LTrim("text"), rt=RTrim("text")) == [
        ("Hello World", "Hello World  ", "  Hello World"),
        ("django", "django", "django"),
        (None, None, None),
    ]


@pytest.mark.usefixtures("numbers")
async def test_replace(run: Any) -> None:
    # Literals go in Value(); a plain string names a field, as every function argument.
    assert await annotated(
        run,
        r=Replace("text", Value("o"), Value("0")),
        removed=Replace("text", Value("l")),
        by_field=Replace("text", "other", Value("LO")),
    ) == [
        ("  Hell0 W0rld  ", "  Heo Word  ", "  HelLO World  "),
        ("djang0", "django", None),
        (None, None, None),
    ]


@pytest.mark.usefixtures("numbers")
async def test_strindex(run: Any) -> None:
    # 1-based; 0 when absent; NULL with a NULL argument. Case-sensitive.
    assert await annotated(
        run,
        o=StrIndex("text", Value("o")),
        w=StrIndex("text", Value("W")),
        field=StrIndex("text", "other"),
        missing=StrIndex("text", Value("xyz")),
    ) == [(7, 9, 6, 0), (6, 0, None, 0), (None, None, None, None)]


# Math functions ----------------------------------------------------------------------------


@pytest.mark.usefixtures("numbers")
async def test_abs_ceil_floor(run: Any) -> None:
    rows = await annotated(
        run,
        ai=Abs("integer"),
        ad=Abs("dec"),
        af=Abs("flt"),
        cf=Ceil("flt"),
        ff=Floor("flt"),
        cd=Ceil("dec"),
        fd=Floor("dec"),
    )
    assert rows == [
        (7, Decimal("12.345"), 2.25, 3.0, 2.0, Decimal("13"), Decimal("12")),
        (9, Decimal("1.500"), 0.75, 0.0, -1.0, Decimal("-1"), Decimal("-2")),
        (None,) * 7,
    ]
    assert isinstance(rows[0][0], int) and isinstance(rows[0][1], Decimal)


@pytest.mark.usefixtures("numbers")
async def test_round(run: Any) -> None:
    rows = await annotated(
        run, r=Round("flt"), r1=Round("flt", 1), rd=Round("dec", 1), ri=Round("integer")
    )
    # Halves round away from zero (2.25 and -0.75 are exact in binary).
    assert rows[0] == (2.0, pytest.approx(2.3), Decimal("12.3"), -7)
    assert rows[1] == (-1.0, pytest.approx(-0.8), Decimal("-1.5"), 9)
    assert rows[2] == (None, None, None, None)
    assert isinstance(rows[0][3], int) and isinstance(rows[0][2], Decimal)


@pytest.mark.usefixtures("numbers")
async def test_mod_power_sqrt(run: Any) -> None:
    rows = await annotated(
        run,
        m=Mod("integer", Value(4)),
        md=Mod("dec", Value(5)),
        p=Power("integer", Value(2)),
        pf=Power("flt", Value(2)),
        s=Sqrt("big"),
        sf=Sqrt(Abs("flt")),
    )
    # MOD keeps the dividend's sign.
    assert rows[0] == (-3, Decimal("2.345"), 49, 5.0625, 10**6, 1.5)
    assert rows[1] == (1, Decimal("-1.5"), 81, 0.5625, None, pytest.approx(0.8660254))
    assert rows[2] == (None,) * 6
    assert isinstance(rows[0][1], Decimal) and isinstance(rows[0][4], float)


@pytest.mark.usefixtures("numbers")
async def test_math_in_filters(run: Any) -> None:
    qs = Number.objects.annotate(a=Abs("integer")).filter(a__gt=8)
    assert await run.list(qs.values_list("label", flat=True)) == ["b"]
    odd = Number.objects.annotate(r=Mod("integer", Value(2))).filter(r=1)
    assert await run.list(odd.values_list("label", flat=True)) == ["b"]


# Now ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("numbers")
async def test_now(run: Any) -> None:
    before = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
    after = datetime.datetime.now(UTC) + datetime.timedelta(minutes=5)
    value = await run(
        Number.objects.filter(label="a").annotate(n=Now()).values_list("n", flat=True).get
    )
    assert isinstance(value, datetime.datetime)
    assert before < value < after
    assert await run(Number.objects.annotate(n=Now()).filter(n__gt=before).count) == 3


# Dates and times -------------------------------------------------------------------------------


@pytest.fixture
def events(expr: Any) -> None:
    Event.objects.create(
        name="a",
        start=datetime.datetime(2024, 5, 17, 13, 45, 30, tzinfo=UTC),
        day=datetime.date(2024, 5, 17),
        clock=datetime.time(13, 45, 30),
    )
    Event.objects.create(
        name="b",
        start=datetime.datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),
        day=datetime.date(2023, 1, 1),
        clock=datetime.time(0, 0, 1),
    )


async def on_events(run: Any, **expressions: Any) -> list[tuple[Any, ...]]:
    qs = Event.objects.annotate(**expressions).order_by("name").values_list(*expressions)
    return list(await run.list(qs))


@pytest.mark.usefixtures("events")
async def test_extract_from_a_datetime(run: Any) -> None:
    # 2024-05-17 is a Friday (ISO week 20); 2023-12-31 a Sunday (ISO week 52 of 2023).
    assert await on_events(
        run,
        y=ExtractYear("start"),
        mo=ExtractMonth("start"),
        d=ExtractDay("start"),
        h=ExtractHour("start"),
        mi=ExtractMinute("start"),
        s=ExtractSecond("start"),
        q=ExtractQuarter("start"),
        w=ExtractWeek("start"),
        wd=ExtractWeekDay("start"),
        iwd=ExtractIsoWeekDay("start"),
        iy=ExtractIsoYear("start"),
    ) == [
        (2024, 5, 17, 13, 45, 30, 2, 20, 6, 5, 2024),
        (2023, 12, 31, 23, 59, 59, 4, 52, 1, 7, 2023),
    ]


@pytest.mark.usefixtures("events")
async def test_extract_from_a_date_and_a_time(run: Any) -> None:
    # 2023-01-01 is a Sunday of ISO week 52 of ISO year 2022.
    assert await on_events(
        run,
        y=ExtractYear("day"),
        w=ExtractWeek("day"),
        wd=ExtractWeekDay("day"),
        iy=ExtractIsoYear("day"),
        generic=Extract("day", "month"),
        h=ExtractHour("clock"),
        mi=ExtractMinute("clock"),
        s=ExtractSecond("clock"),
    ) == [
        (2024, 20, 6, 2024, 5, 13, 45, 30),
        (2023, 52, 1, 2022, 1, 0, 0, 1),
    ]


@pytest.mark.usefixtures("events")
async def test_extract_in_filters_and_grouping(run: Any) -> None:
    qs = Event.objects.annotate(y=ExtractYear("start")).filter(y=2024)
    assert await run.list(qs.values_list("name", flat=True)) == ["a"]
    assert await run(Event.objects.filter(start__year=2023).count) == 1
    by_year = Event.objects.values(y=ExtractYear("day")).annotate(n=Count("id")).order_by("y")
    assert await run.list(by_year) == [{"y": 2023, "n": 1}, {"y": 2024, "n": 1}]


@pytest.mark.usefixtures("events")
async def test_trunc_a_datetime(run: Any) -> None:
    def dt(*args: int) -> datetime.datetime:
        return datetime.datetime(*args, tzinfo=UTC)

    rows = await on_events(
        run,
        y=TruncYear("start"),
        q=TruncQuarter("start"),
        m=TruncMonth("start"),
        w=TruncWeek("start"),
        d=TruncDay("start"),
        h=TruncHour("start"),
        mi=TruncMinute("start"),
        s=TruncSecond("start"),
        generic=Trunc("start", "month"),
    )
    assert rows == [
        (
            dt(2024, 1, 1),
            dt(2024, 4, 1),
            dt(2024, 5, 1),
            dt(2024, 5, 13),
            dt(2024, 5, 17),
            dt(2024, 5, 17, 13),
            dt(2024, 5, 17, 13, 45),
            dt(2024, 5, 17, 13, 45, 30),
            dt(2024, 5, 1),
        ),
        (
            dt(2023, 1, 1),
            dt(2023, 10, 1),
            dt(2023, 12, 1),
            dt(2023, 12, 25),
            dt(2023, 12, 31),
            dt(2023, 12, 31, 23),
            dt(2023, 12, 31, 23, 59),
            dt(2023, 12, 31, 23, 59, 59),
            dt(2023, 12, 1),
        ),
    ]


@pytest.mark.usefixtures("events")
async def test_trunc_a_date_gives_dates(run: Any) -> None:
    d = datetime.date
    rows = await on_events(
        run,
        y=TruncYear("day"),
        q=TruncQuarter("day"),
        m=TruncMonth("day"),
        w=TruncWeek("day"),
        dd=TruncDay("day"),
        # A datetime truncated to a date, per output_field.
        as_date=TruncMonth("start", output_field=DateField()),
    )
    assert rows == [
        (
            d(2024, 1, 1),
            d(2024, 4, 1),
            d(2024, 5, 1),
            d(2024, 5, 13),
            d(2024, 5, 17),
            d(2024, 5, 1),
        ),
        (
            d(2023, 1, 1),
            d(2023, 1, 1),
            d(2023, 1, 1),
            d(2022, 12, 26),
            d(2023, 1, 1),
            d(2023, 12, 1),
        ),
    ]
    assert all(type(v) is datetime.date for row in rows for v in row)


@pytest.mark.usefixtures("events")
async def test_trunc_a_time(run: Any) -> None:
    t = datetime.time
    assert await on_events(
        run, h=TruncHour("clock"), mi=TruncMinute("clock"), s=TruncSecond("clock")
    ) == [(t(13), t(13, 45), t(13, 45, 30)), (t(0), t(0), t(0, 0, 1))]


@pytest.mark.usefixtures("events")
async def test_trunc_date_and_trunc_time(run: Any) -> None:
    assert await on_events(run, d=TruncDate("start"), t=TruncTime("start")) == [
        (datetime.date(2024, 5, 17), datetime.time(13, 45, 30)),
        (datetime.date(2023, 12, 31), datetime.time(23, 59, 59)),
    ]
    # The __date transform is the same function in a lookup.
    assert await run(Event.objects.filter(start__date=datetime.date(2024, 5, 17)).count) == 1


@pytest.mark.usefixtures("events")
async def test_trunc_for_grouping(run: Any) -> None:
    Event.objects.create(
        name="c",
        start=datetime.datetime(2024, 5, 2, tzinfo=UTC),
        day=datetime.date(2024, 5, 2),
        clock=datetime.time(1),
    )
    per_month = (
        Event.objects.annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(n=Count("id"))
        .order_by("month")
    )
    assert await run.list(per_month) == [
        {"month": datetime.date(2023, 1, 1), "n": 1},
        {"month": datetime.date(2024, 5, 1), "n": 2},
    ]


def test_trunc_rejects_wrong_types_and_kinds() -> None:
    with pytest.raises(FieldError, match="CharField"):
        Event.objects.annotate(x=TruncYear("name"))
    with pytest.raises(ValueError, match="DateField"):
        Event.objects.annotate(x=TruncHour("day"))
    with pytest.raises(ValueError, match="TimeField"):
        Event.objects.annotate(x=TruncDay("clock"))
    with pytest.raises(ValueError, match="kind"):
        Trunc("start")
