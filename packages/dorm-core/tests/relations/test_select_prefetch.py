"""select_related (joins in the same query) and prefetch_related (one query per relation level),
Prefetch(...) and prefetch_related_objects — N+1 proven gone with the query-counting helper."""

from __future__ import annotations

from typing import Any

import pytest
from rel_models import (
    Author,
    Book,
    Country,
    Group,
    Person,
    Place,
    Publisher,
    Restaurant,
    Review,
    Tag,
)

from dorm import Prefetch, aprefetch_related_objects, prefetch_related_objects
from dorm.exceptions import FieldError
from dorm.testing import CaptureQueries, assert_num_queries


@pytest.fixture
def shelf(rel: Any) -> dict[str, Any]:
    """100 books by 10 authors (3 publishers, one without a country; one author without a
    publisher), each book with 2 of 5 tags."""
    fr = Country.objects.create(code="FR", name="France")
    pubs = [
        Publisher.objects.create(name="Ace", country=fr),
        Publisher.objects.create(name="Bantam", country=fr),
        Publisher.objects.create(name="Corgi"),
    ]
    authors = [
        Author.objects.create(name=f"A{i}", publisher=pubs[i % 3] if i else None) for i in range(10)
    ]
    tags = [Tag.objects.create(name=f"t{i}") for i in range(5)]
    through = Book.tags.rel.through
    books = Book.objects.bulk_create(
        [Book(title=f"B{i:03}", author=authors[i % 10], pages=i) for i in range(100)]
    )
    through.objects.bulk_create(
        [
            through(book_id=b.pk, tag_id=tags[(i + k) % 5].pk)
            for i, b in enumerate(books)
            for k in (0, 1)
        ]
    )
    return {"authors": authors, "tags": tags, "pubs": pubs}


# select_related ----------------------------------------------------------------------------


async def test_select_related_nested_path_is_one_query(run: Any, shelf: Any) -> None:
    async with assert_num_queries(1):
        books = await run.list(Book.objects.select_related("author__publisher"))
        assert len(books) == 100
        seen = set()
        for book in books:
            author = book.author
            assert author.pk == book.author_id
            seen.add((author.name, author.publisher.name if author.publisher else None))
    assert ("A0", None) in seen and ("A1", "Bantam") in seen and ("A3", "Ace") in seen


async def test_select_related_nullable_fk_is_a_left_join_giving_none(run: Any, shelf: Any) -> None:
    qs = Author.objects.select_related("publisher__country")
    assert "LEFT OUTER JOIN" in _sql(qs)
    async with assert_num_queries(1):
        authors = {a.name: a for a in await run.list(qs)}
        assert len(authors) == 10  # A0 (no publisher) is kept
        assert authors["A0"].publisher is None
        assert authors["A1"].publisher.name == "Bantam"
        assert authors["A1"].publisher.country.name == "France"
        assert authors["A2"].publisher.name == "Corgi"
        assert authors["A2"].publisher.country is None


def _sql(qs: Any) -> str:
    from dorm.db import connections

    return qs.query.get_compiler(connections["default"]).as_sql()[0]  # type: ignore[no-any-return]


async def test_select_related_non_null_fk_is_an_inner_join(run: Any, shelf: Any) -> None:
    sql = _sql(Book.objects.select_related("author"))
    assert "INNER JOIN" in sql and "LEFT OUTER" not in sql
    sql = _sql(Book.objects.select_related("author__publisher"))
    assert "INNER JOIN" in sql and "LEFT OUTER JOIN" in sql


async def test_select_related_two_fks_to_one_table_and_self(run: Any, shelf: Any) -> None:
    a0, a1 = shelf["authors"][:2]
    await run(Book.objects.filter(author=a1).update, editor=a0)
    await run(Author.objects.filter(pk=a1.pk).update, mentor=a0)
    async with assert_num_queries(1):
        books = await run.list(Book.objects.filter(author=a1).select_related("author", "editor"))
        assert {(b.author.name, b.editor.name) for b in books} == {("A1", "A0")}
    async with assert_num_queries(1):
        authors = await run.list(Author.objects.select_related("mentor").filter(pk=a1.pk))
        assert authors[0].mentor.name == "A0"
    async with assert_num_queries(1):
        books = await run.list(Book.objects.filter(author=a0).select_related("editor"))
        assert all(b.editor is None for b in books)


async def test_select_related_variants(run: Any, shelf: Any) -> None:
    # No arguments: every non-null FK (Book.author), not the nullable ones.
    async with assert_num_queries(1):
        book = await run(Book.objects.select_related().get, title="B001")
        assert book.author.name == "A1"
        assert not Book.editor.is_cached(book)
    # Chained calls accumulate; None clears.
    qs = Book.objects.select_related("author").select_related("editor")
    assert set(qs.query.select_related) == {"author", "editor"}
    assert Book.objects.select_related("author").select_related(None).query.select_related is False
    # With filters and ordering on the same relation, slicing, and to_field FKs.
    async with assert_num_queries(1):
        books = await run.list(
            Book.objects.select_related("author")
            .filter(author__name="A3")
            .order_by("-author__name", "title")[:3]
        )
        assert [(b.title, b.author.name) for b in books] == [
            ("B003", "A3"),
            ("B013", "A3"),
            ("B023", "A3"),
        ]
    async with assert_num_queries(1):
        pubs = await run.list(Publisher.objects.select_related("country").order_by("name"))
        assert [p.country.code if p.country else None for p in pubs] == ["FR", "FR", None]
    assert await run(Book.objects.select_related("author").count) == 100
    rows = await run.list(Book.objects.select_related("author").values_list("title", flat=True))
    assert len(rows) == 100


async def test_select_related_one_to_one_caches_both_sides(run: Any, rel: Any) -> None:
    place = await run(Place.objects.create, name="p")
    await run(Restaurant.objects.create, place=place)
    async with assert_num_queries(1):
        restaurant = (await run.list(Restaurant.objects.select_related("place")))[0]
        assert restaurant.place.name == "p"
        assert restaurant.place.restaurant is restaurant


def test_select_related_rejects_non_forward_names(rel: Any) -> None:
    with pytest.raises(FieldError, match=r"Invalid field name.*'books'.*Choices are: .*publisher"):
        Author.objects.select_related("books")
    with pytest.raises(FieldError, match="'nope'"):
        Book.objects.select_related("author__nope")
    with pytest.raises(FieldError):
        Book.objects.select_related("title")


async def test_select_related_in_async_iteration_and_aiterator(rel: Any, shelf: Any) -> None:
    async with assert_num_queries(1):
        books = [b async for b in Book.objects.select_related("author__publisher")]
        assert all(b.author.name for b in books)
    async with assert_num_queries(1):
        titles = [
            (b.title, b.author.name)
            async for b in Book.objects.select_related("author").aiterator(chunk_size=30)
        ]
    assert len(titles) == 100


# prefetch_related -----------------------------------------------------------------------------


async def test_prefetch_m2m_and_fk_over_100_books_is_three_queries(run: Any, shelf: Any) -> None:
    async with CaptureQueries() as ctx:
        books = await run.list(Book.objects.prefetch_related("tags", "author"))
        pairs = {
            (b.title, b.author.name, tuple(t.name for t in await run.list(b.tags.all())))
            for b in books
        }
    assert len(ctx) == 3, ctx.queries
    assert ("B007", "A7", ("t2", "t3")) in pairs
    assert len(pairs) == 100


async def test_prefetch_reverse_fk(run: Any, shelf: Any) -> None:
    async with assert_num_queries(2):
        authors = await run.list(Author.objects.prefetch_related("books"))
        counts = {a.name: len(await run.list(a.books.all())) for a in authors}
        assert await run(authors[0].books.count) == 10  # answered from the cache
    assert counts == {f"A{i}": 10 for i in range(10)}
    a0 = authors[0]
    books = await run.list(a0.books.all())
    assert all(b.author is a0 for b in books)  # the back-reference is set


async def test_prefetched_manager_filters_still_query_the_right_rows(run: Any, shelf: Any) -> None:
    authors = await run.list(Author.objects.prefetch_related("books", "books__tags"))
    a3 = next(a for a in authors if a.name == "A3")
    async with assert_num_queries(1):
        long_ones = await run.list(a3.books.filter(pages__gt=50))
    assert [b.title for b in long_ones] == ["B053", "B063", "B073", "B083", "B093"]
    book = (await run.list(a3.books.all()))[0]
    async with assert_num_queries(1):
        assert [t.name for t in await run.list(book.tags.filter(name="t3"))] == ["t3"]
    async with assert_num_queries(1):
        assert await run.list(book.tags.exclude(name__in=["t3", "t4"])) == []


async def test_writes_through_a_manager_clear_its_prefetched_cache(run: Any, shelf: Any) -> None:
    book = (await run.list(Book.objects.filter(title="B000").prefetch_related("tags")))[0]
    new = await run(Tag.objects.create, name="new")
    await run(book.tags.add, new)
    assert "new" in [t.name for t in await run.list(book.tags.all())]
    await run(book.tags.clear)
    assert await run.list(book.tags.all()) == []
    book = (await run.list(Book.objects.filter(title="B000").prefetch_related("tags")))[0]
    tag = await run(Tag.objects.create, name="other")
    await run(tag.books.add, book)  # the other side's cache is not touched, as Django
    assert "other" not in [t.name for t in await run.list(book.tags.all())]
    author = (await run.list(Author.objects.filter(name="A0").prefetch_related("books")))[0]
    extra = await run(Book.objects.create, title="Extra", author=shelf["authors"][1])
    await run(author.books.add, extra)
    assert await run(author.books.count) == 11


async def test_prefetch_nested_lookups(run: Any, shelf: Any) -> None:
    async with assert_num_queries(3):
        authors = await run.list(Author.objects.prefetch_related("books__tags"))
        tag_names = set()
        for a in authors:
            for b in await run.list(a.books.all()):
                tag_names.update(t.name for t in await run.list(b.tags.all()))
    assert tag_names == {f"t{i}" for i in range(5)}
    async with assert_num_queries(3):  # books, authors, publishers
        books = await run.list(Book.objects.prefetch_related("author__publisher"))
        names = {b.author.publisher.name for b in books if b.author.publisher}
    assert names == {"Ace", "Bantam", "Corgi"}
    async with assert_num_queries(3):  # publishers, authors, books
        pubs = await run.list(Publisher.objects.prefetch_related("authors__books"))
        n = 0
        for p in pubs:
            for a in await run.list(p.authors.all()):
                n += len(await run.list(a.books.all()))
    assert n == 90  # A0 has no publisher


async def test_prefetch_object_with_queryset_and_to_attr(run: Any, shelf: Any) -> None:
    long_books = Book.objects.filter(pages__gte=90).order_by("-pages")
    async with assert_num_queries(2):
        authors = await run.list(
            Author.objects.prefetch_related(Prefetch("books", queryset=long_books, to_attr="long"))
        )
        by_name = {a.name: [b.title for b in a.long] for a in authors}
    assert by_name["A9"] == ["B099"] and by_name["A0"] == ["B090"]
    assert not hasattr(authors[0], "_prefetched_objects_cache") or "books" not in (
        authors[0]._prefetched_objects_cache
    )
    # A custom queryset without to_attr replaces the manager's cached rows.
    async with assert_num_queries(2):
        authors = await run.list(
            Author.objects.prefetch_related(Prefetch("books", queryset=long_books))
        )
        assert [b.title for b in await run.list(authors[0].books.all())] == ["B090"]
    # The Prefetch queryset may select_related and prefetch further.
    qs = Book.objects.select_related("editor").prefetch_related("tags")
    async with assert_num_queries(3):
        authors = await run.list(Author.objects.prefetch_related(Prefetch("books", queryset=qs)))
        first = (await run.list(authors[0].books.all()))[0]
        assert first.editor is None
        assert len(await run.list(first.tags.all())) == 2
    # A forward FK with to_attr.
    async with assert_num_queries(2):
        books = await run.list(
            Book.objects.filter(pages__lt=3).prefetch_related(
                Prefetch("author", queryset=Author.objects.all(), to_attr="writer")
            )
        )
        assert [b.writer.name for b in books] == ["A0", "A1", "A2"]


async def test_prefetch_reverse_m2m_one_to_one_self_and_through(run: Any, shelf: Any) -> None:
    async with assert_num_queries(2):
        tags = await run.list(Tag.objects.prefetch_related("books"))
        assert {t.name: len(await run.list(t.books.all())) for t in tags} == {
            f"t{i}": 40 for i in range(5)
        }
    a = await run(Place.objects.create, name="a")
    await run(Place.objects.create, name="b")
    await run(Restaurant.objects.create, place=a, serves_pizza=True)
    async with assert_num_queries(2):
        places = await run.list(Place.objects.order_by("name").prefetch_related("restaurant"))
        assert places[0].restaurant.serves_pizza
        with pytest.raises(Restaurant.DoesNotExist):
            _ = places[1].restaurant
    john, paul = (
        await run(Person.objects.create, name="John"),
        await run(Person.objects.create, name="Paul"),
    )
    await run(john.friends.add, paul)
    group = await run(Group.objects.create, name="Beatles")
    await run(group.members.add, john, paul)
    async with assert_num_queries(2):
        people = await run.list(Person.objects.prefetch_related("friends"))
        assert {p.name: [f.name for f in await run.list(p.friends.all())] for p in people} == {
            "John": ["Paul"],
            "Paul": ["John"],
        }
    async with assert_num_queries(3):
        groups = await run.list(Group.objects.prefetch_related("members", "members__groups"))
        members = await run.list(groups[0].members.all())
        assert [m.name for m in members] == ["John", "Paul"]
        assert [g.name for g in await run.list(members[0].groups.all())] == ["Beatles"]


async def test_prefetch_related_objects_on_loaded_instances(run: Any, shelf: Any) -> None:
    books = await run.list(Book.objects.filter(pages__lt=10))
    async with assert_num_queries(2):
        if run.is_async:
            await aprefetch_related_objects(books, "author", "tags")
        else:
            prefetch_related_objects(books, "author", "tags")
    async with assert_num_queries(0):
        assert [b.author.name for b in books] == [f"A{i}" for i in range(10)]
        for b in books:
            assert len(await run.list(b.tags.all())) == 2
    # Already cached relations are not fetched again; an empty list runs nothing.
    async with assert_num_queries(0):
        if run.is_async:
            await aprefetch_related_objects([], "author")
        else:
            prefetch_related_objects([], "author")


async def test_prefetch_works_with_chunked_iteration(run: Any, shelf: Any) -> None:
    qs = Book.objects.prefetch_related("author", "tags")
    async with CaptureQueries() as ctx:
        books = await run.iterator(qs, chunk_size=50)
        for b in books:
            assert b.author.name and len(await run.list(b.tags.all())) == 2
    assert len(books) == 100
    assert len(ctx) == 1 + 2 * 2  # the SELECT, then 2 prefetch queries per chunk


async def test_prefetch_rejects_unknown_names(run: Any, shelf: Any) -> None:
    with pytest.raises((FieldError, AttributeError), match=r"'nope'.*prefetch_related"):
        await run.list(Book.objects.prefetch_related("nope"))


async def test_reverse_fk_filter_stays_correct_with_review_rows(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    b1 = await run(Book.objects.create, title="One", author=ann)
    b2 = await run(Book.objects.create, title="Two", author=ann)
    for book, stars in [(b1, 1), (b1, 2), (b2, 5)]:
        await run(Review.objects.create, book=book, stars=stars)
    books = await run.list(Book.objects.prefetch_related("review_set").order_by("title"))
    assert [[r.stars for r in await run.list(b.review_set.all())] for b in books] == [[1, 2], [5]]


async def test_select_related_reverse_one_to_one(run: Any, rel: Any) -> None:
    # Django: select_related() also follows the reverse side of a OneToOneField.
    a = await run(Place.objects.create, name="a")
    await run(Place.objects.create, name="b")
    await run(Restaurant.objects.create, place=a, serves_pizza=True)
    async with assert_num_queries(1):
        places = await run.list(Place.objects.select_related("restaurant").order_by("name"))
        assert places[0].restaurant.serves_pizza
        assert places[0].restaurant.place is places[0]
        with pytest.raises(Restaurant.DoesNotExist):
            _ = places[1].restaurant
    assert "LEFT OUTER JOIN" in _sql(Place.objects.select_related("restaurant"))


async def test_relations_already_loaded_are_not_fetched_again(run: Any, shelf: Any) -> None:
    async with assert_num_queries(2):  # books+authors joined; then the authors' publishers
        books = await run.list(
            Book.objects.select_related("author").prefetch_related("author", "author__publisher")
        )
        assert {b.author.publisher.name for b in books if b.author.publisher} == {
            "Ace",
            "Bantam",
            "Corgi",
        }
    book = books[0]
    async with assert_num_queries(0):
        await book.afetch_related("author")
        prefetch_related_objects(books, "author")
    authors = await run.list(Author.objects.prefetch_related("books"))
    async with assert_num_queries(0):
        await aprefetch_related_objects(authors, "books")


async def test_lookups_may_traverse_a_to_attr(run: Any, shelf: Any) -> None:
    long_books = Book.objects.filter(pages__gte=95)
    async with assert_num_queries(3):
        authors = await run.list(
            Author.objects.prefetch_related(
                Prefetch("books", queryset=long_books, to_attr="long"), "long__tags"
            )
        )
        a5 = next(a for a in authors if a.name == "A5")
        assert [b.title for b in a5.long] == ["B095"]
        assert [t.name for t in await run.list(a5.long[0].tags.all())] == ["t0", "t1"]
