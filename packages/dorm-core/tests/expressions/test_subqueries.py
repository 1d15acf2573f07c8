"""``Subquery``, ``OuterRef`` and ``Exists``: correlated subqueries in annotations, filters and
ordering, nested subqueries, aggregates inside a subquery. Every query runs sync and async.

Data: the ``books`` fixture of ``conftest.py``.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from expr_models import Author, Book, Publisher

from dorm import Avg, Count, Exists, F, FieldError, OuterRef, Q, Subquery, Sum

pytestmark = pytest.mark.usefixtures("books")


def newest_book() -> Any:
    return Book.objects.filter(publisher=OuterRef("pk")).order_by("-pubdate")


async def test_subquery_annotation_with_outer_ref(run: Any) -> None:
    qs = Publisher.objects.annotate(
        newest=Subquery(newest_book().values("name")[:1]),
        newest_price=Subquery(newest_book().values("price")[:1]),
        newest_date=Subquery(newest_book().values("pubdate")[:1]),
    ).order_by("name")
    rows = await run.list(qs.values_list("name", "newest", "newest_price", "newest_date"))
    # No matching row: NULL. The output field is the selected column's (Decimal, date).
    assert rows == [
        ("Apress", "Django Deep", Decimal("59.99"), datetime.date(2020, 6, 1)),
        ("Empty", None, None, None),
        ("Sams", "Async IO", Decimal("45.00"), datetime.date(2021, 11, 20)),
    ]


async def test_subquery_on_the_same_table(run: Any) -> None:
    # OuterRef to a column of the same table: the inner table gets its own alias.
    same_publisher = Book.objects.filter(publisher=OuterRef("publisher")).exclude(pk=OuterRef("pk"))
    qs = Book.objects.annotate(sibling=Subquery(same_publisher.values("name")[:1]))
    rows = await run.list(qs.order_by("name").values_list("name", "sibling"))
    assert rows == [
        ("Async IO", "SQL Guide"),
        ("Django Deep", "Python Basics"),
        ("Python Basics", "Django Deep"),
        ("SQL Guide", "Async IO"),
    ]


async def test_subquery_with_an_aggregate(run: Any) -> None:
    # Django's documented pattern: values(<group>).annotate(<aggregate>).values(<aggregate>).
    pages = (
        Book.objects.filter(publisher=OuterRef("pk"))
        .order_by()
        .values("publisher")
        .annotate(total=Sum("pages"))
        .values("total")
    )
    qs = Publisher.objects.annotate(pages=Subquery(pages)).order_by("name")
    assert await run.list(qs.values_list("name", "pages")) == [
        ("Apress", 800),
        ("Empty", None),
        ("Sams", 650),
    ]
    # Grouped through a many-to-many join; an author with no book gets NULL, not 0.
    count = (
        Book.objects.filter(authors=OuterRef("pk"))
        .order_by()
        .values("authors")
        .annotate(c=Count("pk"))
        .values("c")
    )
    authors = Author.objects.annotate(n=Subquery(count)).order_by("name")
    assert await run.list(authors.values_list("name", "n")) == [
        ("Ann", 2),
        ("Bob", 2),
        ("Cid", 2),
        ("Dee", 1),
        ("Eve", None),
    ]


async def test_filter_against_a_subquery(run: Any) -> None:
    # Books longer than their publisher's average.
    avg = (
        Book.objects.filter(publisher=OuterRef("publisher"))
        .order_by()
        .values("publisher")
        .annotate(a=Avg("pages"))
        .values("a")
    )
    qs = Book.objects.filter(pages__gt=Subquery(avg)).order_by("name")
    assert await run.list(qs.values_list("name", flat=True)) == ["Async IO", "Django Deep"]
    # An uncorrelated subquery as a value, and __in a subquery.
    top = Publisher.objects.filter(num_awards__gt=2).values("name")[:1]
    assert await run.list(Publisher.objects.filter(name=Subquery(top)).values_list("name")) == [
        ("Apress",)
    ]
    long_authors = Subquery(Book.objects.filter(pages__gt=400).values("authors"))
    qs2 = Author.objects.filter(pk__in=long_authors).order_by("name")
    assert await run.list(qs2.values_list("name", flat=True)) == ["Ann", "Bob", "Cid", "Dee"]


async def test_order_by_a_subquery(run: Any) -> None:
    newest = Subquery(newest_book().values("pubdate")[:1])
    qs = Publisher.objects.order_by(newest.desc(nulls_last=True))
    assert await run.list(qs.values_list("name", flat=True)) == ["Sams", "Apress", "Empty"]


async def test_exists_annotation(run: Any) -> None:
    acclaimed = Book.objects.filter(authors=OuterRef("pk"), rating__gte=4.5)
    qs = Author.objects.annotate(acclaimed=Exists(acclaimed)).order_by("name")
    rows = await run.list(qs.values_list("name", "acclaimed"))
    assert rows == [("Ann", True), ("Bob", True), ("Cid", True), ("Dee", True), ("Eve", False)]
    assert all(isinstance(flag, bool) for _, flag in rows)


async def test_exists_filters(run: Any) -> None:
    wrote = Exists(Book.objects.filter(authors=OuterRef("pk")))

    async def names(qs: Any) -> list[str]:
        return list(await run.list(qs.order_by("name").values_list("name", flat=True)))

    assert await names(Author.objects.filter(wrote)) == ["Ann", "Bob", "Cid", "Dee"]
    assert await names(Author.objects.filter(~wrote)) == ["Eve"]
    assert await names(Author.objects.exclude(wrote)) == ["Eve"]
    # Combined with Q objects and keyword lookups.
    assert await names(Author.objects.filter(wrote & Q(age__gte=35))) == ["Bob", "Cid"]
    assert await names(Author.objects.filter(wrote | Q(age=60))) == [
        "Ann",
        "Bob",
        "Cid",
        "Dee",
        "Eve",
    ]
    assert await names(Author.objects.filter(wrote, age__lt=35)) == ["Ann", "Dee"]
    # An OuterRef in arithmetic.
    big = Exists(
        Book.objects.filter(publisher=OuterRef("pk"), pages__gt=OuterRef("num_awards") * 150)
    )
    assert await names(Publisher.objects.filter(big)) == ["Apress", "Sams"]
    assert await run(Author.objects.filter(wrote).count) == 4


async def test_exists_ignores_the_subquery_selection_and_ordering(run: Any) -> None:
    inner = Book.objects.filter(publisher=OuterRef("pk")).order_by("-name").values("name", "pages")
    qs = Publisher.objects.filter(Exists(inner)).order_by("name")
    assert await run.list(qs.values_list("name", flat=True)) == ["Apress", "Sams"]


async def test_nested_subqueries_and_outer_ref_of_outer_ref(run: Any) -> None:
    # For each publisher, the oldest author of its shortest book.
    oldest_author = Author.objects.filter(books=OuterRef("pk")).order_by("-age").values("name")
    shortest = (
        Book.objects.filter(publisher=OuterRef("pk"))
        .annotate(oldest=Subquery(oldest_author[:1]))
        .order_by("pages")
        .values("oldest")
    )
    qs = Publisher.objects.annotate(x=Subquery(shortest[:1])).order_by("name")
    assert await run.list(qs.values_list("name", "x")) == [
        ("Apress", "Bob"),
        ("Empty", None),
        ("Sams", "Cid"),
    ]
    # OuterRef(OuterRef(...)) reaches two levels out: publishers with a book by an author older
    # than 13 x the publisher's awards.
    old_enough = Author.objects.filter(age__gt=OuterRef(OuterRef("num_awards")) * 13)
    books = Book.objects.filter(
        publisher=OuterRef("pk"), authors__in=Subquery(old_enough.values("pk"))
    )
    awarded = Publisher.objects.filter(Exists(books)).order_by("name")
    assert await run.list(awarded.values_list("name", flat=True)) == ["Apress", "Sams"]
    strict = Author.objects.filter(age__gt=OuterRef(OuterRef("num_awards")) * 20)
    books2 = Book.objects.filter(
        publisher=OuterRef("pk"), authors__in=Subquery(strict.values("pk"))
    )
    assert await run.list(
        Publisher.objects.filter(Exists(books2)).values_list("name", flat=True)
    ) == ["Sams"]


async def test_subquery_in_aggregate_and_in_arithmetic(run: Any) -> None:
    count = Subquery(
        Book.objects.filter(publisher=OuterRef("pk"))
        .order_by()
        .values("publisher")
        .annotate(c=Count("pk"))
        .values("c")
    )
    qs = Publisher.objects.annotate(score=count * 10 + F("num_awards")).order_by("name")
    assert await run.list(qs.values_list("name", "score")) == [
        ("Apress", 23),
        ("Empty", None),
        ("Sams", 21),
    ]


def test_outer_ref_outside_a_subquery_is_an_error() -> None:
    qs = Book.objects.filter(publisher=OuterRef("pk"))
    with pytest.raises(FieldError, match="outer query"):
        list(qs)
