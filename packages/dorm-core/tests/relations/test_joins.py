"""Lookups across relations in filter/exclude/order_by/values/annotate: join choice (INNER vs
LEFT OUTER), Django's multi-valued semantics (one ``filter()`` call = one related row; chained
calls may match different rows), ``exclude()`` over multi-valued relations, ``distinct()``."""

from __future__ import annotations

from typing import Any

import pytest
from rel_models import (
    Album,
    Author,
    Book,
    Country,
    Group,
    Membership,
    Person,
    Place,
    Publisher,
    Restaurant,
    Review,
    Tag,
)

from dorm import Count, F, Q
from dorm.exceptions import FieldError


@pytest.fixture
def lib(rel: Any) -> dict[str, Any]:
    """Authors with books, reviews and tags (Django's Blog/Entry examples, recast)."""
    fr = Country.objects.create(code="FR", name="France")
    uk = Country.objects.create(code="UK", name="United Kingdom")
    ace = Publisher.objects.create(name="Ace", country=fr)
    bantam = Publisher.objects.create(name="Bantam", country=uk)
    corgi = Publisher.objects.create(name="Corgi")
    ann = Author.objects.create(name="Ann", age=40, publisher=ace)
    bob = Author.objects.create(name="Bob", age=50, publisher=bantam, mentor=ann)
    cid = Author.objects.create(name="Cid", age=60)
    dee = Author.objects.create(name="Dee", age=30, publisher=corgi, mentor=ann)
    sf, classic, bio = (Tag.objects.create(name=n) for n in ("sf", "classic", "bio"))
    books = {}
    for title, author, year, pages, tags, editor in [
        ("Lennon Bio", ann, 2005, 300, [bio], bob),
        ("Other", ann, 2008, 120, [sf], None),
        ("Lennon 2008", bob, 2008, 80, [bio, classic], None),
        ("Dune", dee, 2001, 600, [sf, classic], bob),
    ]:
        book = Book.objects.create(
            title=title, author=author, year=year, pages=pages, editor=editor
        )
        book.tags.set(tags)
        books[title] = book
    for title, stars in [("Dune", 5), ("Dune", 3), ("Other", 4)]:
        Review.objects.create(book=books[title], stars=stars)
    return {
        "ann": ann,
        "bob": bob,
        "cid": cid,
        "dee": dee,
        "sf": sf,
        "classic": classic,
        "bio": bio,
        **books,
    }


async def names(run: Any, qs: Any) -> list[str]:
    return [str(o) for o in await run.list(qs)]


def joins_of(qs: Any) -> str:
    return str(qs.query)


# Forward (single-valued) relations ---------------------------------------------------------


async def test_filter_across_forward_relations_uses_inner_joins(run: Any, lib: Any) -> None:
    qs = Book.objects.filter(author__publisher__country__name="France")
    assert await names(run, qs) == ["Lennon Bio", "Other"]
    sql = joins_of(qs)
    assert sql.count("INNER JOIN") == 3 and "LEFT OUTER" not in sql
    # A to_field FK compares its own column: no join needed.
    qs = Book.objects.filter(author__publisher__country="FR")
    assert await names(run, qs) == ["Lennon Bio", "Other"]
    assert joins_of(qs).count("JOIN") == 2
    # author__pk / author__id / author=<pk> read the FK column itself.
    qs = Book.objects.filter(author__id=lib["ann"].pk)
    assert "JOIN" not in joins_of(qs)
    assert await run(qs.count) == 2


async def test_self_referencing_fk(run: Any, lib: Any) -> None:
    assert await names(run, Author.objects.filter(mentor__name="Ann")) == ["Bob", "Dee"]
    assert await names(run, Author.objects.filter(mentees__name="Dee")) == ["Ann"]
    assert await names(run, Author.objects.filter(mentor__isnull=True)) == ["Ann", "Cid"]
    assert await names(
        run, Author.objects.filter(mentor__mentor__isnull=True, mentor__isnull=False)
    ) == [
        "Bob",
        "Dee",
    ]


async def test_or_and_isnull_across_a_nullable_fk_use_left_outer_joins(run: Any, lib: Any) -> None:
    qs = Author.objects.filter(Q(publisher__name="Ace") | Q(age__gte=60))
    assert await names(run, qs) == ["Ann", "Cid"]
    assert "LEFT OUTER JOIN" in joins_of(qs)
    qs = Author.objects.filter(publisher__name__isnull=True)
    assert await names(run, qs) == ["Cid"]
    assert "LEFT OUTER JOIN" in joins_of(qs)
    qs = Author.objects.filter(publisher__country__isnull=True)
    assert await names(run, qs) == ["Cid", "Dee"]
    # A plain comparison cannot match NULL rows: INNER.
    qs = Author.objects.filter(publisher__name="Ace")
    assert "INNER JOIN" in joins_of(qs) and "LEFT OUTER" not in joins_of(qs)


async def test_exclude_across_a_nullable_fk_keeps_rows_without_a_target(run: Any, lib: Any) -> None:
    assert await names(run, Author.objects.exclude(publisher__name="Ace")) == ["Bob", "Cid", "Dee"]
    assert await names(run, Author.objects.exclude(publisher__country__name="France")) == [
        "Bob",
        "Cid",
        "Dee",
    ]
    assert await names(run, Author.objects.filter(~Q(publisher__name="Ace"))) == [
        "Bob",
        "Cid",
        "Dee",
    ]


async def test_f_expressions_across_relations(run: Any, lib: Any) -> None:
    qs = Book.objects.filter(year__gt=F("author__age") + 1960)
    assert await names(run, qs) == ["Dune", "Lennon Bio", "Other"]
    rows = await run.list(
        Book.objects.annotate(pub=F("author__publisher__name")).values_list("title", "pub")
    )
    assert sorted(rows) == [
        ("Dune", "Corgi"),
        ("Lennon 2008", "Bantam"),
        ("Lennon Bio", "Ace"),
        ("Other", "Ace"),
    ]


async def test_values_and_values_list_across_relations(run: Any, lib: Any) -> None:
    rows = await run.list(Author.objects.order_by("name").values_list("name", "publisher__name"))
    assert rows == [("Ann", "Ace"), ("Bob", "Bantam"), ("Cid", None), ("Dee", "Corgi")]
    rows = await run.list(
        Book.objects.filter(title="Dune").values("title", "author__name", "author__publisher__name")
    )
    assert rows == [{"title": "Dune", "author__name": "Dee", "author__publisher__name": "Corgi"}]
    # Across a reverse relation: one row per related row, None where there is none.
    rows = await run.list(
        Author.objects.order_by("name", "books__title").values_list("name", "books__title")
    )
    assert rows == [
        ("Ann", "Lennon Bio"),
        ("Ann", "Other"),
        ("Bob", "Lennon 2008"),
        ("Cid", None),
        ("Dee", "Dune"),
    ]
    tags = await run.list(
        Author.objects.filter(name="Dee")
        .order_by("books__tags__name")
        .values_list("books__tags__name", flat=True)
    )
    assert tags == ["classic", "sf"]


async def test_order_by_across_relations(run: Any, lib: Any) -> None:
    ordered = await names(run, Author.objects.order_by("publisher__name", "name"))
    assert len(ordered) == 4  # LEFT OUTER: Cid, with no publisher, is kept
    assert [n for n in ordered if n != "Cid"] == ["Ann", "Bob", "Dee"]
    # Ordering by a multi-valued relation repeats rows (as Django documents).
    by_pages = await names(
        run, Author.objects.filter(books__isnull=False).order_by("-books__pages")
    )
    assert by_pages == ["Dee", "Ann", "Ann", "Bob"]
    assert await names(run, Book.objects.order_by("-author__age", "title")) == [
        "Lennon 2008",
        "Lennon Bio",
        "Other",
        "Dune",
    ]


# Reverse and many-to-many (multi-valued) relations ------------------------------------------


async def test_reverse_fk_filter_repeats_rows_and_distinct_drops_them(run: Any, lib: Any) -> None:
    qs = Author.objects.filter(books__year__gte=2005)
    assert await names(run, qs) == ["Ann", "Ann", "Bob"]
    assert await run(qs.count) == 3
    assert await names(run, qs.distinct()) == ["Ann", "Bob"]
    assert await run(qs.distinct().count) == 2
    assert await names(run, Author.objects.filter(books__pages__gt=500)) == ["Dee"]
    assert await names(run, Author.objects.filter(books=lib["Dune"])) == ["Dee"]


async def test_one_filter_call_matches_one_related_row(run: Any, lib: Any) -> None:
    # Django: "Blog.objects.filter(entry__headline__contains='Lennon', entry__pub_date__year=2008)"
    qs = Author.objects.filter(books__title__contains="Lennon", books__year=2008)
    assert await names(run, qs) == ["Bob"]
    assert joins_of(qs).count("JOIN") == 1
    q = Q(books__title__contains="Lennon") & Q(books__year=2008)
    assert await names(run, Author.objects.filter(q)) == ["Bob"]


async def test_chained_filter_calls_may_match_different_related_rows(run: Any, lib: Any) -> None:
    qs = Author.objects.filter(books__title__contains="Lennon").filter(books__year=2008)
    # Ann: "Lennon Bio" (2005) and "Other" (2008); Bob: "Lennon 2008" matches both.
    assert await names(run, qs.distinct()) == ["Ann", "Bob"]
    assert joins_of(qs).count("JOIN") == 2


async def test_exclude_over_a_multi_valued_relation(run: Any, lib: Any) -> None:
    # Django: the conditions of one exclude() call need not refer to the same related row.
    qs = Author.objects.exclude(books__title__contains="Lennon", books__year=2008)
    assert await names(run, qs) == ["Cid", "Dee"]
    # Excluding authors with a book matching both, the way Django's docs show.
    qs = Author.objects.exclude(books__in=Book.objects.filter(title__contains="Lennon", year=2008))
    assert await names(run, qs) == ["Ann", "Cid", "Dee"]
    # Rows without any related row are kept.
    assert await names(run, Author.objects.exclude(books__title__contains="Lennon")) == [
        "Cid",
        "Dee",
    ]
    assert await names(run, Author.objects.filter(~Q(books__title__contains="Lennon"))) == [
        "Cid",
        "Dee",
    ]
    qs = Author.objects.exclude(books__pages__lt=200)
    assert await names(run, qs) == ["Cid", "Dee"]
    assert "NOT" in joins_of(qs) and "IN (SELECT" in joins_of(qs)  # a subquery, no join


async def test_isnull_on_a_reverse_relation(run: Any, lib: Any) -> None:
    assert await names(run, Author.objects.filter(books__isnull=True)) == ["Cid"]
    assert await names(run, Author.objects.filter(books=None)) == ["Cid"]
    assert await names(run, Author.objects.filter(books__isnull=False).distinct()) == [
        "Ann",
        "Bob",
        "Dee",
    ]
    assert await names(run, Author.objects.exclude(books__isnull=True)) == ["Ann", "Bob", "Dee"]


async def test_m2m_filters(run: Any, lib: Any) -> None:
    sf, classic = lib["sf"], lib["classic"]
    assert await names(run, Book.objects.filter(tags__name="classic")) == ["Dune", "Lennon 2008"]
    assert await names(run, Book.objects.filter(tags=sf)) == ["Dune", "Other"]
    assert await names(run, Book.objects.filter(tags__in=[sf, classic]).distinct()) == [
        "Dune",
        "Lennon 2008",
        "Other",
    ]
    assert await names(run, Tag.objects.filter(books__author__name="Ann")) == ["bio", "sf"]
    assert await names(run, Tag.objects.filter(books__isnull=True)) == []
    # One tag row cannot be named both; two filter() calls may use two tag rows.
    both = Q(tags__name="sf") & Q(tags__name="classic")
    assert await names(run, Book.objects.filter(both)) == []
    chained = Book.objects.filter(tags__name="sf").filter(tags__name="classic")
    assert await names(run, chained) == ["Dune"]
    assert await names(run, Book.objects.exclude(tags__name="sf")) == ["Lennon 2008", "Lennon Bio"]
    authors = Author.objects.filter(books__tags__name="classic").order_by("-name")
    assert await names(run, authors) == ["Dee", "Bob"]


async def test_reverse_query_names(run: Any, lib: Any) -> None:
    # related_query_name differs from the accessor ("edited").
    assert await names(run, Author.objects.filter(edited_book__title="Dune")) == ["Bob"]
    with pytest.raises(FieldError, match="Cannot resolve keyword 'edited'"):
        await run.list(Author.objects.filter(edited__title="Dune"))
    # No related_name: the model name.
    assert await names(run, Book.objects.filter(review__stars__gte=4)) == ["Dune", "Other"]
    assert await names(run, Book.objects.filter(review__stars__gte=3, review__stars__lt=4)) == [
        "Dune"
    ]


async def test_reverse_one_to_one_lookups(run: Any, rel: Any) -> None:
    a = await run(Place.objects.create, name="A")
    await run(Place.objects.create, name="B")
    await run(Restaurant.objects.create, place=a, serves_pizza=True)
    rows = await run.list(
        Place.objects.filter(restaurant__serves_pizza=True).values_list("name", flat=True)
    )
    assert rows == ["A"]
    rows = await run.list(
        Place.objects.filter(restaurant__isnull=True).values_list("name", flat=True)
    )
    assert rows == ["B"]
    rows = await run.list(Restaurant.objects.filter(place__name="A"))
    assert len(rows) == 1


async def test_lookups_through_an_explicit_through_model(run: Any, rel: Any) -> None:
    beatles = await run(Group.objects.create, name="Beatles")
    stones = await run(Group.objects.create, name="Stones")
    john, mick = [await run(Person.objects.create, name=n) for n in ("John", "Mick")]
    await run(Membership.objects.create, group=beatles, person=john, role="lead", inviter=mick)
    await run(Membership.objects.create, group=stones, person=mick, role="lead")
    await run(Membership.objects.create, group=beatles, person=mick, role="guest")
    assert await names(run, Person.objects.filter(groups__name="Beatles")) == ["John", "Mick"]
    assert await names(run, Group.objects.filter(members__name="John")) == ["Beatles"]
    assert await names(run, Group.objects.filter(membership__role="guest")) == ["Beatles"]
    assert await names(run, Person.objects.filter(membership__role="lead")) == ["John", "Mick"]
    assert await names(run, Person.objects.filter(invitations__person__name="John")) == ["Mick"]
    leads = Group.objects.filter(membership__role="lead", membership__person__name="Mick")
    assert await names(run, leads) == ["Stones"]


# Annotations, updates, subqueries ---------------------------------------------------------------


async def test_annotate_count_across_a_reverse_relation(run: Any, lib: Any) -> None:
    qs = Author.objects.annotate(n=Count("books")).order_by("name")
    assert [(a.name, a.n) for a in await run.list(qs)] == [
        ("Ann", 2),
        ("Bob", 1),
        ("Cid", 0),
        ("Dee", 1),
    ]
    # Filter then annotate: the count sees only the filtered books (Django's docs).
    qs = Author.objects.filter(books__year=2008).annotate(n=Count("books")).order_by("name")
    assert [(a.name, a.n) for a in await run.list(qs)] == [("Ann", 1), ("Bob", 1)]
    # Annotate then filter: the filter is a separate join; the count is over all books.
    qs = (
        Author.objects.annotate(n=Count("books", distinct=True))
        .filter(books__year=2008)
        .order_by("name")
    )
    assert [(a.name, a.n) for a in await run.list(qs)] == [("Ann", 2), ("Bob", 1)]
    rows = await run.list(
        Tag.objects.annotate(n=Count("books")).order_by("name").values_list("name", "n")
    )
    assert rows == [("bio", 2), ("classic", 2), ("sf", 2)]


async def test_update_and_subqueries_across_relations(run: Any, lib: Any) -> None:
    n = await run(Book.objects.filter(author__name="Ann").update, pages=1)
    assert n == 2
    assert await names(run, Book.objects.filter(pages=1)) == ["Lennon Bio", "Other"]
    n = await run(Book.objects.filter(tags__name="classic").update, year=1999)
    assert n == 2
    older = Author.objects.filter(age__gte=50)
    assert await names(run, Book.objects.filter(author__in=older)) == ["Lennon 2008"]
    assert await names(run, Author.objects.filter(books__in=Book.objects.filter(year=1999))) == [
        "Bob",
        "Dee",
    ]


def test_unknown_names_in_relation_paths_are_reported(rel: Any) -> None:
    with pytest.raises(FieldError, match="'nope'"):  # Django: "Related Field got invalid lookup"
        Book.objects.filter(author__nope=1)
    with pytest.raises(FieldError, match="Choices are"):
        Author.objects.filter(book__title="x")  # the accessor is "books"
    with pytest.raises(FieldError):
        Book.objects.filter(author__name__nolookup="x")


async def test_negated_multi_valued_conditions_inside_a_filter_call(run: Any, lib: Any) -> None:
    # ~Q over a multi-valued path is a subquery: "has a 2008 book and no Lennon book".
    qs = Author.objects.filter(Q(books__year__gte=2001) & ~Q(books__title__contains="Lennon"))
    assert await names(run, qs) == ["Dee"]
    qs = Author.objects.filter(books__year=2008).exclude(books__title__contains="Bio")
    assert await names(run, qs) == ["Bob"]
    qs = Book.objects.filter(Q(tags__name="bio") | Q(review__stars=5)).distinct()
    assert await names(run, qs) == ["Dune", "Lennon 2008", "Lennon Bio"]


async def test_multi_level_paths_mixing_forward_and_reverse_joins(run: Any, lib: Any) -> None:
    assert await names(run, Publisher.objects.exclude(authors__books__title="Dune")) == [
        "Ace",
        "Bantam",
    ]
    qs = Country.objects.filter(publishers__authors__books__pages__gt=100).distinct()
    assert [c.code for c in await run.list(qs)] == ["FR"]
    qs = Country.objects.filter(publishers__authors__books__pages__gt=500)
    assert await run.list(qs) == []  # Dune's publisher has no country
    assert await names(run, Book.objects.exclude(tags__name="sf").exclude(review__stars=4)) == [
        "Lennon 2008",
        "Lennon Bio",
    ]


async def test_group_by_and_aggregates_across_relations(run: Any, lib: Any) -> None:
    from dorm import Sum

    rows = await run.list(
        Book.objects.values("author__name").annotate(n=Count("id")).order_by("author__name")
    )
    assert rows == [
        {"author__name": "Ann", "n": 2},
        {"author__name": "Bob", "n": 1},
        {"author__name": "Dee", "n": 1},
    ]
    total = await run(Author.objects.aggregate, total=Sum("books__pages"))
    assert total == {"total": 1100}
    tags = await run(
        Author.objects.filter(name="Ann").aggregate, n=Count("books__tags", distinct=True)
    )
    assert tags == {"n": 2}


async def test_ordering_by_a_relation_uses_the_related_models_ordering(run: Any, rel: Any) -> None:
    # Django: "order by a field that is a relation to another model" -> the related model's
    # Meta.ordering (Author is ordered by name); the *_id column orders by the key itself.
    zed = await run(Author.objects.create, name="Zed")
    amy = await run(Author.objects.create, name="Amy")
    await run(Book.objects.create, title="by zed", author=zed)
    await run(Book.objects.create, title="by amy", author=amy)
    assert await names(run, Book.objects.order_by("author")) == ["by amy", "by zed"]
    assert await names(run, Book.objects.order_by("-author")) == ["by zed", "by amy"]
    assert await names(run, Book.objects.order_by("author_id")) == ["by zed", "by amy"]
    assert await names(run, Book.objects.order_by("author__pk")) == ["by zed", "by amy"]
    assert await names(run, Book.objects.order_by("author").reverse()) == ["by zed", "by amy"]
    # A relation to an unordered model orders by the key column, without a join.
    assert "JOIN" not in str(Album.objects.order_by("artist").query)


def test_ordering_loop_through_relations_is_reported(rel: Any) -> None:
    import dorm

    class Node(dorm.Model):
        parent = dorm.ForeignKey("self", on_delete=dorm.CASCADE, null=True)

        class Meta:
            app_label = "relapp_loop"
            ordering = ["parent"]

    with pytest.raises(FieldError, match="Infinite loop caused by ordering"):
        str(Node.objects.all().query)
