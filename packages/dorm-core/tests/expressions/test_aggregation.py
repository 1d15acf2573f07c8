"""Aggregation as Django's aggregation guide describes it: ``aggregate()``, ``annotate()`` over
relations, ``Count(distinct=)`` across joins, ``filter=``/``default=``, HAVING, ordering on
annotations, ``values().annotate()`` grouping and ``alias()``. Every query runs sync and async.

Data: the ``books`` fixture of ``conftest.py``.
"""

from __future__ import annotations

import datetime
import statistics
from decimal import Decimal
from typing import Any

import pytest
from expr_models import Author, Book, Publisher, Store

from dorm import (
    Avg,
    Count,
    F,
    FieldError,
    FloatField,
    Max,
    Min,
    NotSupportedError,
    Q,
    StdDev,
    Sum,
    Value,
    Variance,
)
from dorm.db import connections

pytestmark = pytest.mark.usefixtures("books")

PAGES = [300, 500, 200, 450]
PRICES = [Decimal("29.69"), Decimal("59.99"), Decimal("19.99"), Decimal("45.00")]


# aggregate() ------------------------------------------------------------------------------


async def test_aggregate_over_the_whole_queryset(run: Any) -> None:
    result = await run(
        Book.objects.aggregate,
        Avg("price"),
        Sum("price"),
        Max("price"),
        Min("pubdate"),
        Count("id"),
        total_pages=Sum("pages"),
        avg_pages=Avg("pages"),
        avg_rating=Avg("rating"),
    )
    # Default aliases are "<field>__<aggregate name>".
    assert result == {
        "price__avg": Decimal("38.6675"),
        "price__sum": Decimal("154.67"),
        "price__max": Decimal("59.99"),
        "pubdate__min": datetime.date(2018, 3, 10),
        "id__count": 4,
        "total_pages": 1450,
        "avg_pages": 362.5,
        "avg_rating": 4.125,
    }
    # Avg of a DecimalField is a Decimal, not rounded to the column's decimal places; Avg of
    # integers is a float; Sum/Max/Min keep the column's type.
    assert isinstance(result["price__avg"], Decimal)
    assert isinstance(result["price__sum"], Decimal)
    assert isinstance(result["avg_pages"], float)
    assert isinstance(result["total_pages"], int)
    assert isinstance(result["pubdate__min"], datetime.date)


async def test_aggregate_of_an_expression_and_arithmetic_between_aggregates(run: Any) -> None:
    result = await run(
        Book.objects.aggregate,
        revenue=Sum(F("price") * F("pages")),
        per_book=Sum("pages") / Count("id"),
        spread=Max("pages") - Min("pages"),
    )
    assert result == {"revenue": Decimal("63150.00"), "per_book": 362, "spread": 300}
    assert isinstance(result["revenue"], Decimal)


async def test_count_star_and_count_distinct(run: Any) -> None:
    result = await run(
        Author.objects.aggregate,
        n=Count("*"),
        ages=Count("age", distinct=True),
        rated=Count("rating"),  # NULLs are not counted
    )
    assert result == {"n": 5, "ages": 4, "rated": 4}


async def test_aggregate_across_relations(run: Any) -> None:
    # Every (book, author) pair is a row of the join; distinct= de-duplicates the values.
    result = await run(
        Book.objects.aggregate,
        pairs=Count("authors"),
        authors=Count("authors", distinct=True),
        ages=Sum("authors__age", distinct=True),
        oldest=Max("authors__age"),
    )
    assert result == {"pairs": 7, "authors": 4, "ages": 105, "oldest": 40}
    assert await run(Publisher.objects.aggregate, n=Count("books")) == {"n": 4}


async def test_aggregate_of_an_empty_queryset_and_default(run: Any) -> None:
    qs = Book.objects.filter(pages__gt=1000)
    result = await run(
        qs.aggregate,
        n=Count("id"),
        total=Sum("pages"),
        avg=Avg("price"),
        total0=Sum("pages", default=0),
        first=Min("pubdate", default=datetime.date(2000, 1, 1)),
        expr_default=Max("rating", default=Value(0.0)),
    )
    # Count is 0 on no rows; the others are None unless default= is given.
    assert result == {
        "n": 0,
        "total": None,
        "avg": None,
        "total0": 0,
        "first": datetime.date(2000, 1, 1),
        "expr_default": 0.0,
    }
    assert await run(Book.objects.none().aggregate, n=Count("id"), s=Sum("pages", default=7)) == {
        "n": 0,
        "s": 7,
    }


def test_count_does_not_allow_default_and_only_some_aggregates_allow_distinct() -> None:
    with pytest.raises(TypeError, match="default"):
        Count("id", default=0)
    with pytest.raises(TypeError, match="distinct"):
        Max("pages", distinct=True)


async def test_aggregate_with_filter(run: Any) -> None:
    result = await run(
        Book.objects.aggregate,
        good=Count("id", filter=Q(rating__gte=4.5)),
        long_pages=Sum("pages", filter=Q(pages__gt=300)),
        sams_avg=Avg("price", filter=Q(publisher__name="Sams")),
        none_match=Sum("pages", filter=Q(pages__gt=1000), default=0),
    )
    assert result == {
        "good": 2,
        "long_pages": 950,
        "sams_avg": Decimal("32.495"),
        "none_match": 0,
    }


async def test_aggregate_filter_without_a_filter_clause_uses_case(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Backends without FILTER (WHERE ...) get FUNC(CASE WHEN ... THEN expr END), as Django.
    for conns in _all_connections():
        monkeypatch.setattr(conns.features, "supports_aggregate_filter_clause", False)
    result = await run(
        Book.objects.aggregate,
        good=Count("id", filter=Q(rating__gte=4.5)),
        distinct_ratings=Count("rating", distinct=True, filter=Q(pages__gt=300)),
        sams_avg=Avg("price", filter=Q(publisher__name="Sams")),
    )
    assert result == {"good": 2, "distinct_ratings": 2, "sams_avg": Decimal("32.495")}


def _all_connections() -> list[Any]:
    from dorm.db import async_connections

    return [connections["default"], async_connections["default"]]


async def test_aggregate_over_annotations(run: Any) -> None:
    qs = Publisher.objects.annotate(n=Count("books"))
    result = await run(qs.aggregate, avg=Avg("n"), most=Max("n"), total=Sum("n"))
    assert result == {"avg": pytest.approx(4 / 3), "most": 2, "total": 4}


async def test_aggregate_over_a_sliced_queryset(run: Any) -> None:
    qs = Book.objects.order_by("-pages")[:2]
    assert await run(qs.aggregate, s=Sum("pages"), c=Count("id")) == {"s": 950, "c": 2}


async def test_stddev_and_variance(run: Any) -> None:
    features = connections["default"].features
    if not features.supports_stddev:
        # SQLite has no such functions: NotSupportedError (as Django), not an SQL error.
        for aggregate in (StdDev("pages"), Variance("pages", sample=True)):
            with pytest.raises(NotSupportedError, match=type(aggregate).__name__):
                await run(Book.objects.aggregate, x=aggregate)
        return
    result = await run(
        Book.objects.aggregate,
        sd=StdDev("pages"),
        sd_sample=StdDev("pages", sample=True),
        var=Variance("pages"),
        var_sample=Variance("pages", sample=True),
        sd_price=StdDev("price"),
    )
    assert result["sd"] == pytest.approx(statistics.pstdev(PAGES))
    assert result["sd_sample"] == pytest.approx(statistics.stdev(PAGES))
    assert result["var"] == pytest.approx(statistics.pvariance(PAGES))
    assert result["var_sample"] == pytest.approx(statistics.variance(PAGES))
    assert isinstance(result["sd"], float)
    assert isinstance(result["sd_price"], Decimal)
    assert float(result["sd_price"]) == pytest.approx(statistics.pstdev(map(float, PRICES)))


# annotate() -------------------------------------------------------------------------------


async def test_annotate_count_over_a_reverse_foreign_key(run: Any) -> None:
    qs = Publisher.objects.annotate(num_books=Count("books")).order_by("name")
    pubs = await run.list(qs)
    assert [(p.name, p.num_books) for p in pubs] == [("Apress", 2), ("Empty", 0), ("Sams", 2)]
    # Without an alias: "<lookup>__count".
    rows = await run.list(Publisher.objects.annotate(Count("books")).order_by("name"))
    assert [p.books__count for p in rows] == [2, 0, 2]


async def test_annotate_over_many_to_many_both_ways(run: Any) -> None:
    authors = await run.list(
        Author.objects.annotate(n=Count("books"), pages=Sum("books__pages")).order_by("name")
    )
    assert [(a.name, a.n, a.pages) for a in authors] == [
        ("Ann", 2, 800),
        ("Bob", 2, 750),
        ("Cid", 2, 650),
        ("Dee", 1, 450),
        ("Eve", 0, None),
    ]
    books = await run.list(
        Book.objects.annotate(n=Count("authors"), oldest=Max("authors__age")).order_by("name")
    )
    assert [(b.name, b.n, b.oldest) for b in books] == [
        ("Async IO", 3, 40),
        ("Django Deep", 1, 30),
        ("Python Basics", 2, 40),
        ("SQL Guide", 1, 35),
    ]


async def test_count_distinct_across_two_joins(run: Any) -> None:
    # Two multi-valued joins multiply rows: Count counts the product unless distinct=True
    # (Django's "Combining multiple aggregations").
    qs = Book.objects.annotate(
        a=Count("authors"),
        s=Count("stores"),
        da=Count("authors", distinct=True),
        ds=Count("stores", distinct=True),
    ).order_by("name")
    rows = await run.list(qs.values_list("name", "a", "s", "da", "ds"))
    assert rows == [
        ("Async IO", 3, 3, 3, 1),
        ("Django Deep", 1, 1, 1, 1),
        ("Python Basics", 4, 4, 2, 2),
        ("SQL Guide", 2, 2, 1, 2),
    ]
    stores = Store.objects.annotate(
        pairs=Count("books__authors"), authors=Count("books__authors", distinct=True)
    ).order_by("name")
    assert await run.list(stores.values_list("name", "pairs", "authors")) == [
        ("Central", 7, 4),
        ("Corner", 3, 3),
    ]


async def test_annotate_with_filter_and_default(run: Any) -> None:
    qs = Author.objects.annotate(
        long=Count("books", filter=Q(books__pages__gte=400)),
        short=Count("books", filter=Q(books__pages__lt=400)),
        pages=Sum("books__pages", default=0),
    ).order_by("name")
    assert await run.list(qs.values_list("name", "long", "short", "pages")) == [
        ("Ann", 1, 1, 800),
        ("Bob", 1, 1, 750),
        ("Cid", 1, 1, 650),
        ("Dee", 1, 0, 450),
        ("Eve", 0, 0, 0),
    ]


async def test_annotate_then_filter_versus_filter_then_annotate(run: Any) -> None:
    # Django's "Order of annotate() and filter() clauses": a filter before the annotation
    # restricts what is counted; after it, it only restricts the publishers.
    before = Publisher.objects.filter(books__rating__gt=4.2).annotate(n=Count("books"))
    assert await run.list(before.order_by("name").values_list("name", "n")) == [
        ("Apress", 1),
        ("Sams", 1),
    ]
    after = Publisher.objects.annotate(n=Count("books", distinct=True)).filter(
        books__rating__gt=4.2
    )
    assert await run.list(after.order_by("name").values_list("name", "n")) == [
        ("Apress", 2),
        ("Sams", 2),
    ]
    # Without distinct the filter's own join multiplies the count (2 x 2 for Apress).
    multiplied = Publisher.objects.annotate(n=Count("books")).filter(books__rating__gt=3.5)
    assert await run.list(multiplied.order_by("name").values_list("name", "n")) == [
        ("Apress", 4),
        ("Sams", 2),
    ]


async def test_filter_on_annotation_is_having(run: Any) -> None:
    qs = Publisher.objects.annotate(n=Count("books"))
    assert await run.list(qs.filter(n__gt=1).order_by("name").values_list("name", flat=True)) == [
        "Apress",
        "Sams",
    ]
    assert await run.list(qs.exclude(n=0).order_by("name").values_list("name", flat=True)) == [
        "Apress",
        "Sams",
    ]
    # HAVING and WHERE together; OR across an aggregate and a column.
    assert await run.list(qs.filter(n__gte=1, num_awards__gt=2).values_list("name", flat=True)) == [
        "Apress"
    ]
    either = qs.filter(Q(n__gt=1) | Q(name="Empty")).order_by("name")
    assert await run.list(either.values_list("name", flat=True)) == ["Apress", "Empty", "Sams"]
    assert await run(qs.filter(n__gt=1).count) == 2
    assert await run(qs.filter(n__gt=5).exists) is False


async def test_filter_on_an_annotation_compared_with_another_aggregate(run: Any) -> None:
    qs = Author.objects.annotate(n=Count("books"), pages=Sum("books__pages"))
    rows = qs.filter(pages__gt=F("n") * 350).order_by("name").values_list("name", flat=True)
    assert await run.list(rows) == ["Ann", "Bob", "Dee"]


async def test_order_by_annotation(run: Any) -> None:
    qs = Author.objects.annotate(n=Count("books"))
    assert await run.list(qs.order_by("-n", "name").values_list("name", "n")) == [
        ("Ann", 2),
        ("Bob", 2),
        ("Cid", 2),
        ("Dee", 1),
        ("Eve", 0),
    ]
    by_expr = qs.order_by(F("n").asc(), "-name").values_list("name", flat=True)
    assert await run.list(by_expr) == ["Eve", "Dee", "Cid", "Bob", "Ann"]


def test_order_by_an_aggregate_not_annotated_is_an_error() -> None:
    with pytest.raises(FieldError, match="annotate"):
        Author.objects.order_by(Count("books").desc())


async def test_annotation_conflicting_with_a_field_is_an_error(run: Any) -> None:
    with pytest.raises(ValueError, match="conflicts with a field"):
        Author.objects.annotate(age=Count("books"))
    with pytest.raises(TypeError, match="aggregate"):
        await run(Author.objects.aggregate, x=F("age"))


# values().annotate() grouping --------------------------------------------------------------


async def test_values_then_annotate_groups_by_the_values(run: Any) -> None:
    qs = Author.objects.values("age").annotate(n=Count("id")).order_by("age")
    assert await run.list(qs) == [
        {"age": 30, "n": 2},
        {"age": 35, "n": 1},
        {"age": 40, "n": 1},
        {"age": 60, "n": 1},
    ]
    # Grouping by a related model's column.
    by_pub = Book.objects.values("publisher__name").annotate(n=Count("id"), avg=Avg("price"))
    assert await run.list(by_pub.order_by("publisher__name")) == [
        {"publisher__name": "Apress", "n": 2, "avg": Decimal("44.84")},
        {"publisher__name": "Sams", "n": 2, "avg": Decimal("32.495")},
    ]
    # The authors join repeats each book once per author: Count and Avg see those rows
    # (distinct=True counts each book once), exactly as in Django.
    joined = Book.objects.values("publisher__name").annotate(
        rows=Count("id"),
        books=Count("id", distinct=True),
        avg=Avg("price"),
        authors=Count("authors", distinct=True),
    )
    assert await run.list(joined.order_by("publisher__name")) == [
        {"publisher__name": "Apress", "rows": 3, "books": 2, "avg": Decimal("39.79"), "authors": 2},
        {"publisher__name": "Sams", "rows": 4, "books": 2, "avg": Decimal("38.7475"), "authors": 3},
    ]


async def test_annotate_then_values_groups_by_each_object(run: Any) -> None:
    # annotate() before values(): one group per author, then only some columns shown.
    qs = Author.objects.annotate(n=Count("books")).values("age", "n").order_by("age", "n")
    assert await run.list(qs) == [
        {"age": 30, "n": 1},
        {"age": 30, "n": 2},
        {"age": 35, "n": 2},
        {"age": 40, "n": 2},
        {"age": 60, "n": 0},
    ]


async def test_values_annotate_then_values_keeps_the_grouping(run: Any) -> None:
    qs = Author.objects.values("age").annotate(n=Count("id")).values("n").order_by("age")
    assert await run.list(qs.values_list("n", flat=True)) == [2, 1, 1, 1]
    # A second aggregate annotation keeps grouping by the values() fields.
    qs2 = Author.objects.values("age").annotate(n=Count("id")).annotate(best=Max("rating"))
    assert await run.list(qs2.order_by("age")) == [
        {"age": 30, "n": 2, "best": 4.0},
        {"age": 35, "n": 1, "best": 5.0},
        {"age": 40, "n": 1, "best": 3.0},
        {"age": 60, "n": 1, "best": None},
    ]


async def test_values_annotate_with_having_and_ordering_on_the_aggregate(run: Any) -> None:
    qs = (
        Author.objects.values("age")
        .annotate(n=Count("id"))
        .filter(n__gte=1, age__lt=60)
        .order_by("-n", "age")
    )
    assert await run.list(qs.values_list("age", "n")) == [(30, 2), (35, 1), (40, 1)]
    assert await run(qs.count) == 3


async def test_values_with_an_expression_then_annotate(run: Any) -> None:
    from dorm import ExtractYear

    qs = (
        Book.objects.values(decade=ExtractYear("pubdate") / 10 * 10)
        .annotate(n=Count("id"), total=Sum("pages"))
        .order_by("decade")
    )
    assert await run.list(qs) == [
        {"decade": 2010, "n": 2, "total": 500},
        {"decade": 2020, "n": 2, "total": 950},
    ]


# alias() ----------------------------------------------------------------------------------


async def test_alias_is_usable_but_not_selected(run: Any) -> None:
    qs = Publisher.objects.alias(n=Count("books"))
    names = await run.list(qs.filter(n__gte=2).order_by("name").values_list("name", flat=True))
    assert names == ["Apress", "Sams"]
    ordered = await run.list(qs.order_by("-n", "name").values_list("name", flat=True))
    assert ordered == ["Apress", "Sams", "Empty"]
    first = await run(qs.order_by("name").first)
    assert first is not None and not hasattr(first, "n")
    assert await run.list(qs.order_by("name").values()) == [
        {"id": p.id, "name": p.name, "num_awards": p.num_awards}
        for p in Publisher.objects.order_by("name")
    ]
    # An alias can feed an annotation.
    scaled = qs.annotate(m=F("n") * 10).order_by("name").values_list("name", "m")
    assert await run.list(scaled) == [("Apress", 20), ("Empty", 0), ("Sams", 20)]


async def test_alias_of_a_plain_expression_in_filter(run: Any) -> None:
    # 29.69/300, 59.99/500, 19.99/200, 45/450: a Decimal expression compared with a Decimal.
    qs = Book.objects.alias(ppp=F("price") / F("pages")).filter(ppp__lt=Decimal("0.1"))
    assert await run.list(qs.order_by("name").values_list("name", flat=True)) == [
        "Python Basics",
        "SQL Guide",
    ]
    having = Publisher.objects.annotate(avg=Avg("books__price")).filter(avg__gt=Decimal("40"))
    assert await run.list(having.values_list("name", flat=True)) == ["Apress"]


async def test_aggregate_with_output_field(run: Any) -> None:
    result = await run(Book.objects.aggregate, m=Max("pages", output_field=FloatField()))
    assert result == {"m": 500.0} and isinstance(result["m"], float)
