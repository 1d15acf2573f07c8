"""Acceptance: field lookups, transforms, ``Q`` and ``F`` give the rows Django gives for the
same query on the same data, run sync and async.

Case sensitivity follows the database as in Django: SQLite's ``LIKE`` ignores ASCII case, so
``contains``/``startswith``/``endswith`` are case-insensitive there (and case-sensitive on
PostgreSQL); ``exact`` and ``regex`` are case-sensitive everywhere.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from orm_models import AllTypes, Author, Event

import dorm
from dorm import F, Q
from dorm.exceptions import FieldError

UTC = datetime.UTC


@pytest.fixture
async def people(orm: Any) -> None:
    for name, age, email, rating in [
        ("Alice", 30, "alice@example.com", 4.5),
        ("alice smith", 25, None, None),
        ("Bob", 40, "bob@example.org", 3.0),
        ("Carol_%", None, None, 5.0),
        ("Dave", 35, "dave@example.com", 2.0),
    ]:
        Author.objects.create(name=name, age=age, email=email, rating=rating)


@pytest.fixture
async def events(orm: Any) -> None:
    for name, when in [
        ("newyear", datetime.datetime(2024, 1, 1, 0, 30, tzinfo=UTC)),  # a Monday
        ("leap", datetime.datetime(2024, 2, 29, 13, 45, 30, tzinfo=UTC)),  # a Thursday
        ("summer", datetime.datetime(2023, 7, 15, 9, 5, 7, tzinfo=UTC)),  # a Saturday
        ("eve", datetime.datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)),  # a Sunday
    ]:
        Event.objects.create(name=name, when=when, day=when.date(), at=when.time())


async def names(run: Any, qs: Any) -> list[str]:
    return sorted(await run.list(qs.values_list("name", flat=True)))


def like_is_case_insensitive(vendor: str) -> bool:
    return vendor == "sqlite"


# Text lookups -----------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_exact_and_iexact(run: Any) -> None:
    assert await names(run, Author.objects.filter(name="Alice")) == ["Alice"]
    assert await names(run, Author.objects.filter(name__exact="alice")) == []
    assert await names(run, Author.objects.filter(name__iexact="ALICE")) == ["Alice"]
    assert await names(run, Author.objects.filter(name__iexact="carol_%")) == ["Carol_%"]
    assert await names(run, Author.objects.filter(name__iexact="carol__")) == []  # no wildcard


@pytest.mark.usefixtures("people")
async def test_contains_and_icontains(run: Any, vendor: str) -> None:
    assert await names(run, Author.objects.filter(name__contains="lic")) == ["Alice", "alice smith"]
    upper = await names(run, Author.objects.filter(name__contains="LIC"))
    assert upper == (["Alice", "alice smith"] if like_is_case_insensitive(vendor) else [])
    assert await names(run, Author.objects.filter(name__icontains="LIC")) == [
        "Alice",
        "alice smith",
    ]


@pytest.mark.usefixtures("people")
async def test_pattern_wildcards_are_escaped(run: Any) -> None:
    assert await names(run, Author.objects.filter(name__contains="_")) == ["Carol_%"]
    assert await names(run, Author.objects.filter(name__contains="%")) == ["Carol_%"]
    assert await names(run, Author.objects.filter(name__endswith="_%")) == ["Carol_%"]
    assert await names(run, Author.objects.filter(name__startswith="Carol_")) == ["Carol_%"]
    assert await names(run, Author.objects.filter(name__icontains="\\")) == []


@pytest.mark.usefixtures("people")
async def test_startswith_endswith(run: Any, vendor: str) -> None:
    ci = like_is_case_insensitive(vendor)
    assert await names(run, Author.objects.filter(name__startswith="Al")) == (
        ["Alice", "alice smith"] if ci else ["Alice"]
    )
    assert await names(run, Author.objects.filter(name__istartswith="al")) == [
        "Alice",
        "alice smith",
    ]
    assert await names(run, Author.objects.filter(name__endswith="ce")) == ["Alice"]
    assert await names(run, Author.objects.filter(name__endswith="TH")) == (
        ["alice smith"] if ci else []
    )
    assert await names(run, Author.objects.filter(name__iendswith="TH")) == ["alice smith"]


@pytest.mark.usefixtures("people")
async def test_regex_and_iregex(run: Any) -> None:
    assert await names(run, Author.objects.filter(name__regex=r"^[AB]")) == ["Alice", "Bob"]
    assert await names(run, Author.objects.filter(name__regex=r"^a")) == ["alice smith"]
    assert await names(run, Author.objects.filter(name__iregex=r"^a")) == ["Alice", "alice smith"]
    assert await names(run, Author.objects.filter(email__regex=r"\.org$")) == ["Bob"]


# Comparisons ------------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_comparisons_skip_nulls(run: Any) -> None:
    assert await names(run, Author.objects.filter(age__gt=30)) == ["Bob", "Dave"]
    assert await names(run, Author.objects.filter(age__gte=30)) == ["Alice", "Bob", "Dave"]
    assert await names(run, Author.objects.filter(age__lt=30)) == ["alice smith"]
    assert await names(run, Author.objects.filter(age__lte=30)) == ["Alice", "alice smith"]
    assert await names(run, Author.objects.filter(rating__gt=4.0)) == ["Alice", "Carol_%"]
    # (bounded on both sides so the result does not depend on the collation's case order)
    assert await names(run, Author.objects.filter(name__gt="Bob", name__lt="Zz")) == [
        "Carol_%",
        "Dave",
    ]


@pytest.mark.usefixtures("people")
async def test_range_is_inclusive(run: Any) -> None:
    assert await names(run, Author.objects.filter(age__range=(30, 35))) == ["Alice", "Dave"]
    assert await names(run, Author.objects.filter(age__range=[36, 30])) == []


@pytest.mark.usefixtures("people")
async def test_in(run: Any) -> None:
    assert await names(run, Author.objects.filter(name__in=["Bob", "Dave", "Zed"])) == [
        "Bob",
        "Dave",
    ]
    assert await names(run, Author.objects.filter(age__in=(25, 40))) == ["Bob", "alice smith"]
    # None in the list never matches (SQL NULL), as Django.
    assert await names(run, Author.objects.filter(age__in=[None, 30])) == ["Alice"]
    assert await names(run, Author.objects.filter(pk__in={1, 3})) == ["Alice", "Bob"]
    # A generator is fine too.
    assert await names(run, Author.objects.filter(age__in=(a for a in [35]))) == ["Dave"]


@pytest.mark.usefixtures("people")
async def test_in_with_empty_list_matches_nothing_without_a_query(run: Any, queries: Any) -> None:
    with queries() as log:
        assert await run.list(Author.objects.filter(name__in=[])) == []
        assert await run(Author.objects.filter(name__in=[]).count) == 0
        assert await run(Author.objects.filter(name__in=[]).exists) is False
        assert await run(Author.objects.filter(name__in=[], age=3).first) is None
        assert await run(Author.objects.filter(pk__in=[]).update, name="x") == 0
    assert len(log) == 0
    # OR-ed with a real condition, the empty IN just drops out.
    qs = Author.objects.filter(Q(name__in=[]) | Q(name="Bob"))
    assert await names(run, qs) == ["Bob"]
    # exclude() of "nothing" is everything.
    assert len(await names(run, Author.objects.exclude(name__in=[]))) == 5


@pytest.mark.usefixtures("people")
async def test_isnull_and_none_means_isnull(run: Any) -> None:
    assert await names(run, Author.objects.filter(age__isnull=True)) == ["Carol_%"]
    assert len(await names(run, Author.objects.filter(age__isnull=False))) == 4
    assert await names(run, Author.objects.filter(age=None)) == ["Carol_%"]
    assert await names(run, Author.objects.filter(email=None)) == ["Carol_%", "alice smith"]
    assert await names(run, Author.objects.filter(age__iexact=None)) == ["Carol_%"]
    assert len(await names(run, Author.objects.exclude(age=None))) == 4
    with pytest.raises(ValueError):
        Author.objects.filter(age__gt=None)


@pytest.mark.usefixtures("people")
async def test_exclude_keeps_null_rows(run: Any) -> None:
    # Django: exclude(age__gt=30) is "not (age > 30)" including rows whose age is NULL.
    assert await names(run, Author.objects.exclude(age__gt=30)) == [
        "Alice",
        "Carol_%",
        "alice smith",
    ]
    assert await names(run, Author.objects.filter(~Q(age=30))) == [
        "Bob",
        "Carol_%",
        "Dave",
        "alice smith",
    ]


# Dates and times ----------------------------------------------------------------------------


@pytest.mark.usefixtures("events")
async def test_date_transform(run: Any) -> None:
    assert await names(run, Event.objects.filter(when__date=datetime.date(2024, 1, 1))) == [
        "newyear"
    ]
    assert await names(run, Event.objects.filter(when__date__gt=datetime.date(2024, 1, 1))) == [
        "leap"
    ]
    assert await names(run, Event.objects.filter(when__date="2023-07-15")) == ["summer"]


@pytest.mark.usefixtures("events")
async def test_year_month_day(run: Any) -> None:
    assert await names(run, Event.objects.filter(when__year=2024)) == ["leap", "newyear"]
    assert await names(run, Event.objects.filter(when__year__lt=2024)) == ["eve", "summer"]
    assert await names(run, Event.objects.filter(when__month=2)) == ["leap"]
    assert await names(run, Event.objects.filter(when__month__in=[1, 12])) == ["eve", "newyear"]
    assert await names(run, Event.objects.filter(when__day=29)) == ["leap"]
    assert await names(run, Event.objects.filter(when__day__gte=29)) == ["eve", "leap"]
    assert await names(run, Event.objects.filter(day__year=2023)) == ["eve", "summer"]
    assert await names(run, Event.objects.filter(day__month=7, day__day=15)) == ["summer"]


@pytest.mark.usefixtures("events")
async def test_week_day_is_sunday_one_to_saturday_seven(run: Any) -> None:
    assert await names(run, Event.objects.filter(when__week_day=1)) == ["eve"]  # Sunday
    assert await names(run, Event.objects.filter(when__week_day=2)) == ["newyear"]  # Monday
    assert await names(run, Event.objects.filter(when__week_day=5)) == ["leap"]  # Thursday
    assert await names(run, Event.objects.filter(when__week_day=7)) == ["summer"]  # Saturday
    assert await names(run, Event.objects.filter(day__week_day=7)) == ["summer"]
    assert await names(run, Event.objects.filter(when__week_day__in=[1, 7])) == ["eve", "summer"]


@pytest.mark.usefixtures("events")
async def test_hour_minute_second(run: Any) -> None:
    assert await names(run, Event.objects.filter(when__hour=13)) == ["leap"]
    assert await names(run, Event.objects.filter(when__hour__lt=1)) == ["newyear"]
    assert await names(run, Event.objects.filter(when__minute=5)) == ["summer"]
    assert await names(run, Event.objects.filter(when__second=59)) == ["eve"]
    assert await names(run, Event.objects.filter(at__hour=23)) == ["eve"]
    assert await names(run, Event.objects.filter(at__minute=45, at__second=30)) == ["leap"]


@pytest.mark.usefixtures("events")
async def test_iso_week_transforms(run: Any) -> None:
    # ISO-8601 week numbers and weekdays (Monday = 1), as Django.
    assert await names(run, Event.objects.filter(when__week=1)) == ["newyear"]
    assert await names(run, Event.objects.filter(when__week=52)) == ["eve"]
    assert await names(run, Event.objects.filter(when__iso_week_day=7)) == ["eve"]
    assert await names(run, Event.objects.filter(when__iso_year=2023)) == ["eve", "summer"]
    assert await names(run, Event.objects.filter(when__quarter=3)) == ["summer"]


@pytest.mark.usefixtures("events")
async def test_datetime_comparisons_and_range(run: Any) -> None:
    start = datetime.datetime(2023, 12, 31, tzinfo=UTC)
    end = datetime.datetime(2024, 1, 31, tzinfo=UTC)
    assert await names(run, Event.objects.filter(when__range=(start, end))) == ["eve", "newyear"]
    assert await names(run, Event.objects.filter(when__gte=end)) == ["leap"]
    assert await names(
        run, Event.objects.filter(day__range=(datetime.date(2024, 1, 1), datetime.date(2024, 3, 1)))
    ) == ["leap", "newyear"]
    assert await names(run, Event.objects.filter(at__lt=datetime.time(9, 30))) == [
        "newyear",
        "summer",
    ]


# JSON key lookups -------------------------------------------------------------------------


@pytest.fixture
async def documents(orm: Any) -> None:
    for data in [
        {"owner": {"name": "Bob", "age": 40}, "tags": ["a", "b"], "n": 3, "ok": True},
        {"owner": {"name": "Ann", "age": 25}, "tags": ["b"], "n": 10, "ok": False},
        {"owner": None, "tags": [], "n": 1},
        {"other": 1},
    ]:
        AllTypes.objects.create(data=data, char=str(len(AllTypes.objects.all())))


async def chars(run: Any, qs: Any) -> list[str]:
    return sorted(await run.list(qs.values_list("char", flat=True)))


@pytest.mark.usefixtures("documents")
async def test_json_key_lookups(run: Any) -> None:
    objs = AllTypes.objects
    assert await chars(run, objs.filter(data__owner__name="Bob")) == ["0"]
    assert await chars(run, objs.filter(data__owner__age__gt=30)) == ["0"]
    assert await chars(run, objs.filter(data__owner__age__lte=30)) == ["1"]
    assert await chars(run, objs.filter(data__n__gte=3)) == ["0", "1"]
    assert await chars(run, objs.filter(data__n=10)) == ["1"]
    assert await chars(run, objs.filter(data__tags__0="a")) == ["0"]
    assert await chars(run, objs.filter(data__tags__1="b")) == ["0"]
    assert await chars(run, objs.filter(data__ok=True)) == ["0"]
    assert await chars(run, objs.filter(data__ok=False)) == ["1"]
    assert await chars(run, objs.filter(data__owner__name__icontains="AN")) == ["1"]
    assert await chars(run, objs.filter(data__owner__name__startswith="B")) == ["0"]
    assert await chars(run, objs.filter(data__owner__name__in=["Ann", "Bob"])) == ["0", "1"]


@pytest.mark.usefixtures("documents")
async def test_json_key_presence_and_null(run: Any) -> None:
    objs = AllTypes.objects
    assert await chars(run, objs.filter(data__has_key="owner")) == ["0", "1", "2"]
    assert await chars(run, objs.filter(data__owner__isnull=True)) == ["3"]  # key missing
    assert await chars(run, objs.filter(data__owner__isnull=False)) == ["0", "1", "2"]
    assert await chars(run, objs.filter(data__owner=None)) == ["2"]  # JSON null
    assert await chars(run, objs.filter(data={"other": 1})) == ["3"]


# Custom lookups and transforms -------------------------------------------------------------


class NotEqual(dorm.Lookup):
    lookup_name = "ne"

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <> {rhs}", [*lhs_params, *rhs_params]


class AbsoluteValue(dorm.Transform):
    lookup_name = "abs"
    function = "ABS"


@pytest.mark.usefixtures("people")
async def test_custom_lookup_and_transform(run: Any) -> None:
    dorm.Field.register_lookup(NotEqual)
    dorm.IntegerField.register_lookup(AbsoluteValue)
    try:
        assert await names(run, Author.objects.filter(name__ne="Alice")) == [
            "Bob",
            "Carol_%",
            "Dave",
            "alice smith",
        ]
        assert await names(run, Author.objects.filter(age__ne=30)) == [
            "Bob",
            "Dave",
            "alice smith",
        ]
        await run(Author.objects.filter(name="Bob").update, age=-40)
        assert await names(run, Author.objects.filter(age__abs=40)) == ["Bob"]
        assert await names(run, Author.objects.filter(age__abs__gte=35)) == ["Bob", "Dave"]
        assert "ne" in dorm.CharField.get_lookups()
    finally:
        dorm.Field._unregister_lookup(NotEqual)
        dorm.IntegerField._unregister_lookup(AbsoluteValue)
    with pytest.raises(FieldError):
        Author.objects.filter(name__ne="x")


# Q and F ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_q_combinations(run: Any) -> None:
    qs = Author.objects.filter(Q(name="Alice") | Q(age__gt=35))
    assert await names(run, qs) == ["Alice", "Bob"]
    qs = Author.objects.filter(Q(age__gte=30) & Q(age__lte=35))
    assert await names(run, qs) == ["Alice", "Dave"]
    qs = Author.objects.filter(Q(age__gte=30), name__startswith="D")
    assert await names(run, qs) == ["Dave"]
    qs = Author.objects.filter(~Q(name__icontains="a"))
    assert await names(run, qs) == ["Bob"]
    nested = (Q(name="Bob") | (Q(age__lt=30) & ~Q(name__icontains="smith"))) | Q(
        Q(age__isnull=True) & Q(rating__gte=5)
    )
    assert await names(run, Author.objects.filter(nested)) == ["Bob", "Carol_%"]
    assert await names(run, Author.objects.filter(Q())) == await names(run, Author.objects.all())
    assert await names(run, Author.objects.filter(Q(name="Bob") ^ Q(age__gte=35))) == ["Dave"]


@pytest.mark.usefixtures("people")
async def test_combining_querysets_with_operators(run: Any) -> None:
    either = Author.objects.filter(name="Bob") | Author.objects.filter(age=30)
    assert await names(run, either) == ["Alice", "Bob"]
    both = Author.objects.filter(age__gte=30) & Author.objects.filter(age__lte=35)
    assert await names(run, both) == ["Alice", "Dave"]


@pytest.mark.usefixtures("people")
async def test_chained_filter_and_exclude(run: Any) -> None:
    qs = (
        Author.objects.filter(age__gte=25)
        .exclude(name__startswith="B")
        .filter(rating__isnull=False)
    )
    assert await names(run, qs) == ["Alice", "Dave"]
    qs = Author.objects.exclude(name="Bob", age=40)  # NOT (a AND b)
    assert "Bob" not in await names(run, qs) and len(await names(run, qs)) == 4
    qs = Author.objects.exclude(name="Bob", age=41)
    assert len(await names(run, qs)) == 5


@pytest.mark.usefixtures("people")
async def test_f_expressions_in_filters(run: Any) -> None:
    # rating * 10 > age: Alice 45 > 30, Bob 30 > 40 no, Dave 20 > 35 no.
    assert await names(run, Author.objects.filter(rating__gt=F("age") / 10.0)) == ["Alice"]
    assert await names(run, Author.objects.filter(age__lt=F("rating") * 10)) == ["Alice"]
    assert await names(run, Author.objects.filter(age=F("age"))) == [
        "Alice",
        "Bob",
        "Dave",
        "alice smith",
    ]
    assert await names(run, Author.objects.filter(age__gte=F("age") + 1)) == []
    assert await names(run, Author.objects.filter(age__gt=(F("rating") + 1) * 6)) == ["Bob", "Dave"]


@pytest.mark.usefixtures("people")
async def test_f_expressions_in_update(run: Any) -> None:
    n = await run(Author.objects.filter(age__isnull=False).update, age=F("age") + 1)
    assert n == 4
    assert await names(run, Author.objects.filter(age=31)) == ["Alice"]
    await run(
        Author.objects.filter(name="Bob").update, rating=F("rating") * 2 - 1, age=F("age") - 1
    )
    bob = await run(Author.objects.get, name="Bob")
    assert (bob.rating, bob.age) == (5.0, 40)
    # NULL stays NULL through arithmetic.
    await run(Author.objects.update, age=F("age") * 2)
    assert await names(run, Author.objects.filter(age__isnull=True)) == ["Carol_%"]


@pytest.mark.usefixtures("people")
async def test_f_expression_assigned_to_instance_then_saved(run: Any) -> None:
    bob = await run(Author.objects.get, name="Bob")
    bob.age = F("age") + 5
    await run(bob.save)
    await run(bob.refresh_from_db)
    assert bob.age == 45
