"""Query expressions: ``F`` (arithmetic, ordering with NULLS FIRST/LAST), ``Value``,
``ExpressionWrapper``, ``Func`` subclasses, ``Case``/``When``, ``RawSQL``; output-field
resolution and its errors; backends overriding a function's SQL. Every query runs sync and async.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from expr_models import Author, Book, Number

from dorm import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    ExpressionWrapper,
    F,
    FieldError,
    FloatField,
    Func,
    IntegerField,
    Q,
    RawSQL,
    Sum,
    Value,
    When,
)
from dorm.db import async_connections, connections


async def names(run: Any, qs: Any) -> list[str]:
    return list(await run.list(qs.values_list("name", flat=True)))


# F() ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("books")
async def test_f_arithmetic_in_annotations(run: Any) -> None:
    qs = Book.objects.filter(name="Django Deep").annotate(
        plus=F("pages") + 1,
        minus=F("pages") - F("rating"),
        times=2 * F("pages"),
        div=F("pages") / 3,  # integer / integer stays an integer division
        fdiv=F("rating") / 2,
        mod=F("pages") % 7,
        power=F("pages") ** 2,
        neg=-F("pages"),
        nested=(F("pages") + 100) * (F("rating") - 0.5),
    )
    row = (await run.list(qs.values()))[0]
    assert row["plus"] == 501
    assert row["minus"] == pytest.approx(495.5)
    assert row["times"] == 1000
    assert row["div"] == 166
    assert row["fdiv"] == pytest.approx(2.25)
    assert row["mod"] == 3
    assert row["power"] == 250000
    assert row["neg"] == -500
    assert row["nested"] == pytest.approx(2400.0)


@pytest.mark.usefixtures("books")
async def test_output_field_of_mixed_numeric_arithmetic(run: Any) -> None:
    # Integer with Decimal is a Decimal, integer with float a float (Django's combinations).
    qs = Book.objects.filter(name="Async IO").annotate(
        dec=F("price") + F("pages"),
        dec_times=F("price") * 2,
        dec_div=F("price") / F("pages"),
        flt=F("rating") + F("pages"),
    )
    row = (await run.list(qs.values("dec", "dec_times", "dec_div", "flt")))[0]
    assert row["dec"] == Decimal("495.00") and isinstance(row["dec"], Decimal)
    assert row["dec_times"] == Decimal("90.00") and isinstance(row["dec_times"], Decimal)
    # A decimal quotient even when the stored decimal is a whole number (45.00 / 450).
    assert row["dec_div"] == Decimal("0.1") and isinstance(row["dec_div"], Decimal)
    assert row["flt"] == 455.0 and isinstance(row["flt"], float)


@pytest.mark.usefixtures("books")
async def test_mixing_types_that_cannot_combine_is_a_field_error(run: Any) -> None:
    with pytest.raises(FieldError, match="CharField and IntegerField"):
        await run.list(Book.objects.annotate(x=F("name") + F("pages")))
    with pytest.raises(FieldError, match="output_field"):
        await run.list(Book.objects.annotate(x=F("pubdate") * F("pages")).values("x"))
    # Filtering on such an annotation fails the same way, before reaching the database.
    with pytest.raises(FieldError):
        Book.objects.annotate(x=F("name") + F("pages")).filter(x=1)
    # ExpressionWrapper says what the result is.
    wrapped = Book.objects.annotate(
        x=ExpressionWrapper(F("pages") * F("rating"), output_field=FloatField())
    ).order_by("name")
    assert await run.list(wrapped.values_list("x", flat=True)) == [2250.0, 2250.0, 1200.0, 600.0]


@pytest.mark.usefixtures("books")
async def test_f_in_filters_and_updates(run: Any) -> None:
    # Compare two fields of the same row; arithmetic on the right-hand side.
    assert await names(run, Book.objects.filter(pages__gt=F("rating") * 100)) == ["Django Deep"]
    assert await names(run, Book.objects.filter(pages__lt=F("price") * 10)) == ["Django Deep"]
    # Across a relation.
    qs = Book.objects.filter(publisher__num_awards__gt=F("rating") - 2)
    assert await names(run, qs) == ["Django Deep", "Python Basics"]
    # update() evaluates in the database, row by row.
    assert await run(Book.objects.filter(name="SQL Guide").update, pages=F("pages") + 10) == 1
    assert await run(Book.objects.get, name="SQL Guide") is not None
    book = await run(Book.objects.get, name="SQL Guide")
    assert book.pages == 210


@pytest.mark.usefixtures("books")
async def test_f_on_a_related_field_and_on_an_annotation(run: Any) -> None:
    qs = Book.objects.annotate(pub=F("publisher__name"), awards=F("publisher__num_awards") * 10)
    rows = await run.list(qs.order_by("name").values_list("name", "pub", "awards"))
    assert rows == [
        ("Async IO", "Sams", 10),
        ("Django Deep", "Apress", 30),
        ("Python Basics", "Apress", 30),
        ("SQL Guide", "Sams", 10),
    ]
    chained = Book.objects.annotate(double=F("pages") * 2).annotate(quad=F("double") * 2)
    assert await run.list(chained.order_by("pages").values_list("quad", flat=True)) == [
        800,
        1200,
        1800,
        2000,
    ]


def test_f_outside_a_query_cannot_be_resolved() -> None:
    with pytest.raises(FieldError, match="inside a query"):
        F("x").resolve_expression(None)


# Ordering ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("books")
async def test_asc_desc_with_nulls_first_and_last(run: Any) -> None:
    # Ratings: Ann 4.0, Bob 3.0, Cid 5.0, Dee 2.0, Eve NULL.
    def by(order: Any) -> Any:
        return Author.objects.order_by(order, "name")

    assert await names(run, by(F("rating").desc(nulls_last=True))) == [
        "Cid",
        "Ann",
        "Bob",
        "Dee",
        "Eve",
    ]
    assert await names(run, by(F("rating").desc(nulls_first=True))) == [
        "Eve",
        "Cid",
        "Ann",
        "Bob",
        "Dee",
    ]
    assert await names(run, by(F("rating").asc(nulls_first=True))) == [
        "Eve",
        "Dee",
        "Bob",
        "Ann",
        "Cid",
    ]
    assert await names(run, by(F("rating").asc(nulls_last=True))) == [
        "Dee",
        "Bob",
        "Ann",
        "Cid",
        "Eve",
    ]
    # reverse() flips the direction and the NULLs placement.
    reverse = Author.objects.order_by(F("rating").asc(nulls_last=True)).reverse()
    assert await names(run, reverse) == ["Eve", "Cid", "Ann", "Bob", "Dee"]
    with pytest.raises(ValueError, match="mutually exclusive"):
        F("rating").asc(nulls_first=True, nulls_last=True)


@pytest.mark.usefixtures("books")
async def test_order_by_expressions_and_related_fields(run: Any) -> None:
    qs = Book.objects.order_by(F("publisher__num_awards").desc(), "name")
    assert await names(run, qs) == ["Django Deep", "Python Basics", "Async IO", "SQL Guide"]
    by_ratio = Book.objects.order_by((F("pages") / F("rating")).desc())
    assert await names(run, by_ratio) == ["Django Deep", "Async IO", "Python Basics", "SQL Guide"]


# Value ----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("books")
async def test_value_output_field_follows_the_python_type(run: Any) -> None:
    qs = Author.objects.filter(name="Ann").annotate(
        i=Value(5),
        s=Value("text"),
        d=Value(Decimal("1.5")),
        f=Value(2.5),
        b=Value(True),
        day=Value(datetime.date(2020, 1, 2)),
        none=Value(None, output_field=IntegerField()),
        typed=Value("2021-03-04", output_field=DateField()),
    )
    row = (await run.list(qs.values("i", "s", "d", "f", "b", "day", "none", "typed")))[0]
    assert row == {
        "i": 5,
        "s": "text",
        "d": Decimal("1.5"),
        "f": 2.5,
        "b": True,
        "day": datetime.date(2020, 1, 2),
        "none": None,
        "typed": datetime.date(2021, 3, 4),
    }
    assert isinstance(row["d"], Decimal) and row["b"] is True


@pytest.mark.usefixtures("books")
async def test_value_in_arithmetic_and_filters(run: Any) -> None:
    qs = Book.objects.annotate(cheaper=F("price") - Value(Decimal("10.00")))
    row = await run(qs.filter(name="Async IO").values_list("cheaper", flat=True).get)
    assert row == Decimal("35.00")
    assert await names(run, Book.objects.filter(name=Value("SQL Guide"))) == ["SQL Guide"]


# Case / When ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("books")
async def test_case_when_annotation(run: Any) -> None:
    qs = Book.objects.annotate(
        size=Case(
            When(pages__gte=450, then=Value("long")),
            When(pages__lt=250, then=Value("short")),
            default=Value("medium"),
        )
    ).order_by("name")
    assert await run.list(qs.values_list("name", "size")) == [
        ("Async IO", "long"),
        ("Django Deep", "long"),
        ("Python Basics", "medium"),
        ("SQL Guide", "short"),
    ]


@pytest.mark.usefixtures("books")
async def test_case_with_q_conditions_field_results_and_no_default(run: Any) -> None:
    qs = Author.objects.annotate(
        flag=Case(When(Q(age__lt=32) | Q(rating__isnull=True), then=1), default=0),
        score=Case(When(rating__gte=4, then=F("rating") * 10)),  # no default: NULL
        grade=Case(When(rating__gte=4, then=Value("A")), When(rating__gte=3, then=Value("B"))),
    ).order_by("name")
    assert await run.list(qs.values_list("name", "flag", "score", "grade")) == [
        ("Ann", 1, 40.0, "A"),
        ("Bob", 0, None, "B"),
        ("Cid", 0, 50.0, "A"),
        ("Dee", 1, None, None),
        ("Eve", 1, None, None),
    ]


@pytest.mark.usefixtures("books")
async def test_conditional_aggregation_and_filter_on_case(run: Any) -> None:
    result = await run(
        Author.objects.aggregate,
        young=Sum(Case(When(age__lt=35, then=1), default=0)),
        rated=Count(Case(When(rating__isnull=False, then=F("id")))),
    )
    assert result == {"young": 2, "rated": 4}
    bands = Author.objects.annotate(
        band=Case(When(age__gte=40, then=Value("senior")), default=Value("junior"))
    )
    assert await names(run, bands.filter(band="senior").order_by("name")) == ["Bob", "Eve"]
    # Case as a condition of filter(): a boolean output field.
    is_young = Case(When(age__lt=35, then=True), default=False, output_field=BooleanField())
    assert await names(run, Author.objects.filter(is_young).order_by("name")) == ["Ann", "Dee"]


@pytest.mark.usefixtures("books")
async def test_conditional_update(run: Any, books: dict[str, Any]) -> None:
    updated = await run(
        Book.objects.update,
        price=Case(
            When(pages__gte=450, then=F("price") * 2),
            When(publisher=books["sams"], then=Value(Decimal("1.00"))),
            default=F("price"),
        ),
    )
    assert updated == 4
    prices = await run.list(Book.objects.order_by("name").values_list("price", flat=True))
    assert prices == [Decimal("90.00"), Decimal("119.98"), Decimal("29.69"), Decimal("1.00")]
    # As Django: update() cannot join, not even in a condition.
    joined = Case(When(publisher__name="Sams", then=Value(Decimal("2.00"))), default=F("price"))
    with pytest.raises(FieldError, match=r"[Jj]oin"):
        await run(Book.objects.update, price=joined)


def test_when_needs_a_condition_and_case_needs_whens() -> None:
    with pytest.raises(TypeError, match="condition"):
        When(then=1)
    with pytest.raises(TypeError, match="When"):
        Case("not a when")  # type: ignore[arg-type]


# Func ------------------------------------------------------------------------------------------


class Upper(Func):
    """A custom function, the documented way: a subclass naming the SQL function."""

    function = "UPPER"
    arity = 1

    def _resolve_output_field(self) -> Any:
        return CharField()


class Times(Func):
    """A custom template."""

    template = "(%(expressions)s * %(factor)s)"


@pytest.mark.usefixtures("books")
async def test_custom_func_subclasses(run: Any) -> None:
    qs = Author.objects.filter(name="Ann").annotate(
        up=Upper("name"),
        generic=Func(F("name"), function="LOWER", output_field=CharField()),
        times=Times("age", factor=3, output_field=IntegerField()),
        nested=Upper(Func(F("name"), function="LOWER")),
    )
    row = (await run.list(qs.values("up", "generic", "times", "nested")))[0]
    assert row == {"up": "ANN", "generic": "ann", "times": 90, "nested": "ANN"}
    # A Func in a filter and in ordering.
    assert await names(run, Author.objects.filter(name=Upper(Value("bob")))) == []
    assert await names(run, Author.objects.annotate(u=Upper("name")).filter(u="BOB")) == ["Bob"]
    with pytest.raises(TypeError, match="exactly 1 argument"):
        Upper("a", "b")


@pytest.mark.usefixtures("books")
async def test_custom_func_with_arg_joiner(run: Any) -> None:
    both = Func(
        F("name"),
        Value("-"),
        F("name"),
        template="(%(expressions)s)",
        arg_joiner=" || ",
        output_field=CharField(),
    )
    qs = Author.objects.filter(name="Ann").annotate(x=both).values_list("x", flat=True)
    assert await run.list(qs) == ["Ann-Ann"]


@pytest.mark.usefixtures("books")
async def test_backend_function_templates_override_the_sql(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dorm import Greatest, Lower

    qs = Author.objects.filter(name="Ann").annotate(
        low=Lower("name"), big=Greatest("age", Value(1))
    )
    assert await run.list(qs.values_list("low", "big")) == [("ann", 30)]
    # A backend lists a template (or a callable) by the function's class name.
    for conn in (connections["default"], async_connections["default"]):
        ops_cls = type(conn.ops)
        monkeypatch.setattr(
            ops_cls,
            "function_templates",
            {
                **ops_cls.function_templates,
                "Lower": "UPPER(%(expressions)s)",
                "Greatest": lambda func, compiler, connection: ("42", []),
            },
        )
    qs2 = Author.objects.filter(name__startswith="Bo").annotate(
        low=Lower("name"), big=Greatest("age", Value(1))
    )
    assert await run.list(qs2.values_list("low", "big")) == [("BOB", 42)]


# RawSQL --------------------------------------------------------------------------------------


@pytest.mark.usefixtures("books")
async def test_raw_sql_annotation_and_filter(run: Any) -> None:
    qs = Book.objects.annotate(
        double=RawSQL("pages * %s", [2]),
        typed=RawSQL("pages + %s", [1], output_field=IntegerField()),
    ).order_by("name")
    assert await run.list(qs.values_list("double", "typed")) == [
        (900, 451),
        (1000, 501),
        (600, 301),
        (400, 201),
    ]
    table = connections["default"].ops.quote_name(Book._meta.db_table)
    inner = RawSQL(f"SELECT id FROM {table} WHERE pages > %s", [400])
    assert await names(run, Book.objects.filter(id__in=inner)) == ["Async IO", "Django Deep"]
    # Values travel as parameters, never spliced into the SQL.
    hostile = "x'); DROP TABLE exprapp_book; --"
    raw = RawSQL("%s", [hostile], output_field=CharField())
    assert len(await names(run, Book.objects.annotate(v=raw).filter(v=hostile))) == 4
    assert await run(Book.objects.count) == 4
    # Without an output_field a RawSQL value cannot be filtered on (its type is unknown).
    with pytest.raises(FieldError, match="output_field"):
        Book.objects.annotate(v=RawSQL("%s", [1])).filter(v=1)


# Output fields ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("expr")
async def test_decimal_results_are_decimals(run: Any) -> None:
    Number.objects.create(dec=Decimal("12.345"), integer=3, flt=0.5)
    qs = Number.objects.annotate(
        twice=F("dec") * 2,
        plus_int=F("dec") + F("integer"),
        wrapped=ExpressionWrapper(
            F("dec") * 1, output_field=DecimalField(max_digits=8, decimal_places=1)
        ),
    )
    row = (await run.list(qs.values("twice", "plus_int", "wrapped")))[0]
    assert row == {
        "twice": Decimal("24.69"),
        "plus_int": Decimal("15.345"),
        "wrapped": Decimal("12.3"),
    }
    assert all(isinstance(v, Decimal) for v in row.values())


def test_unresolvable_output_field_is_a_field_error() -> None:
    expr = Func(Value(None), function="COALESCE")
    with pytest.raises(FieldError, match="output_field"):
        expr.output_field  # noqa: B018
    mixed = Func(Value("a"), Value(1), function="COALESCE")
    with pytest.raises(FieldError, match="CharField and IntegerField"):
        mixed.output_field  # noqa: B018
    assert Func(Value(1), Value(2.5), function="X").output_field.get_internal_type() == (
        "FloatField"
    )
    assert Func(Value(1), Value(Decimal(1)), function="X").output_field.get_internal_type() == (
        "DecimalField"
    )


# Date and time arithmetic ------------------------------------------------------------------


@pytest.fixture
def event(expr: Any) -> Any:
    from expr_models import Event

    return Event.objects.create(
        name="launch",
        start=datetime.datetime(2024, 5, 17, 13, 45, 30, tzinfo=datetime.UTC),
        day=datetime.date(2024, 5, 17),
        clock=datetime.time(13, 45, 30),
        length=datetime.timedelta(hours=2),
    )


async def test_adding_durations_to_dates_and_times(run: Any, event: Any) -> None:
    from expr_models import Event

    utc = datetime.UTC
    qs = Event.objects.annotate(
        end=F("start") + F("length"),
        end2=F("length") + F("start"),
        earlier=F("start") - datetime.timedelta(days=1, microseconds=5),
        next_day=F("day") + datetime.timedelta(days=1),  # a date moved: a datetime (Django)
        later=F("clock") + datetime.timedelta(hours=11),  # a time wraps around midnight
        double=F("length") * 2,
        quarter=F("length") / 4,
    )
    row = (
        await run.list(
            qs.values("end", "end2", "earlier", "next_day", "later", "double", "quarter")
        )
    )[0]
    # date + interval is a timestamp without time zone in SQL: compare it naive.
    assert row.pop("next_day").replace(tzinfo=None) == datetime.datetime(2024, 5, 18)
    assert row == {
        "end": datetime.datetime(2024, 5, 17, 15, 45, 30, tzinfo=utc),
        "end2": datetime.datetime(2024, 5, 17, 15, 45, 30, tzinfo=utc),
        "earlier": datetime.datetime(2024, 5, 16, 13, 45, 29, 999995, tzinfo=utc),
        "later": datetime.time(0, 45, 30),
        "double": datetime.timedelta(hours=4),
        "quarter": datetime.timedelta(minutes=30),
    }


async def test_differences_between_dates_and_times(run: Any, event: Any) -> None:
    from expr_models import Event

    qs = Event.objects.annotate(
        since=F("start") - Value(datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)),
        days=F("day") - Value(datetime.date(2024, 5, 1)),
        clock_diff=F("clock") - Value(datetime.time(12)),
    )
    row = (await run.list(qs.values("since", "days", "clock_diff")))[0]
    assert row == {
        "since": datetime.timedelta(days=16, hours=13, minutes=45, seconds=30),
        "days": datetime.timedelta(days=16),
        "clock_diff": datetime.timedelta(hours=1, minutes=45, seconds=30),
    }


async def test_date_arithmetic_in_filters_and_updates(run: Any, event: Any) -> None:
    from expr_models import Event

    # Django's documented example: mod_date__gt=F("pub_date") + timedelta(days=3).
    assert (
        await run(Event.objects.filter(start__gt=F("day") + datetime.timedelta(hours=12)).count)
        == 1
    )
    assert (
        await run(Event.objects.filter(start__gt=F("day") + datetime.timedelta(hours=14)).count)
        == 0
    )
    await run(Event.objects.update, start=F("start") + datetime.timedelta(hours=1))
    moved = await run(Event.objects.get)
    assert moved.start == datetime.datetime(2024, 5, 17, 14, 45, 30, tzinfo=datetime.UTC)
