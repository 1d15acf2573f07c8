"""Acceptance: QuerySet methods return what Django returns for the same query on the same
data; every database call runs sync and async (``run``)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from orm_models import Article, Author, Code, Event, create_tables

import dorm
from dorm import F, Q
from dorm.db import connections
from dorm.exceptions import FieldError, NotSupportedError

UTC = datetime.UTC


@pytest.fixture
async def people(orm: Any) -> list[Any]:
    rows = [
        ("Alice", 30, 4.5),
        ("Bob", 40, 3.0),
        ("Carol", None, 5.0),
        ("Dave", 35, 2.0),
        ("Eve", 30, None),
    ]
    return [Author.objects.create(name=n, age=a, rating=r) for n, a, r in rows]


@pytest.fixture
async def articles(orm: Any) -> list[Any]:
    base = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        ("Zeta", "zeta", 5, base),
        ("Alpha", "alpha", 5, base + datetime.timedelta(days=3)),
        ("Mid", "mid", 7, base + datetime.timedelta(days=1)),
        ("Low", "low", 1, base + datetime.timedelta(days=2)),
    ]
    return [Article.objects.create(title=t, slug=s, score=sc, published=p) for t, s, sc, p in rows]


async def names(run: Any, qs: Any) -> list[str]:
    return list(await run.list(qs.values_list("name", flat=True)))


# Retrieval ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_all_filter_exclude_and_async_for(run: Any) -> None:
    objs = await run.list(Author.objects.all())
    assert [o.name for o in objs] == ["Alice", "Bob", "Carol", "Dave", "Eve"]
    assert all(isinstance(o, Author) for o in objs)
    assert await names(run, Author.objects.filter(age=30).order_by("name")) == ["Alice", "Eve"]
    assert await names(run, Author.objects.exclude(age=30).order_by("name")) == [
        "Bob",
        "Carol",
        "Dave",
    ]
    assert await names(run, Author.objects.all().filter(age__gt=30).all()) == ["Bob", "Dave"]


@pytest.mark.usefixtures("people")
async def test_queryset_is_lazy_and_caches(run: Any, queries: Any) -> None:
    with queries() as log:
        qs = Author.objects.filter(age__gt=0).exclude(name="Bob").order_by("name")
    assert len(log) == 0
    with queries() as log:
        first = await run.list(qs)
        second = await run.list(qs)
    assert len(log) == 1 and first == second
    with queries() as log:
        assert await run(qs.count) == 3  # answered from the cache
        assert len(qs) == 3 and bool(qs)
    assert len(log) == 0


@pytest.mark.usefixtures("people")
async def test_get(run: Any) -> None:
    bob = await run(Author.objects.get, name="Bob")
    assert bob.age == 40
    assert (await run(Author.objects.filter(age=40).get)).name == "Bob"
    assert (await run(Author.objects.get, Q(name="Dave") | Q(name="Nobody"))).age == 35
    with pytest.raises(Author.DoesNotExist, match="name='Nobody'"):
        await run(Author.objects.get, name="Nobody")
    with pytest.raises(Author.MultipleObjectsReturned, match="returned 2") as info:
        await run(Author.objects.get, age=30)
    assert "age=30" in str(info.value)


@pytest.mark.usefixtures("people")
async def test_create(run: Any) -> None:
    obj = await run(Author.objects.create, name="Zed", age=1)
    assert obj.pk is not None and obj._state.adding is False
    assert (await run(Author.objects.get, pk=obj.pk)).name == "Zed"


@pytest.mark.usefixtures("people")
async def test_get_or_create(run: Any) -> None:
    obj, created = await run(Author.objects.get_or_create, name="Bob", defaults={"age": 1})
    assert (created, obj.age) == (False, 40)
    obj, created = await run(
        Author.objects.get_or_create, name="Finn", defaults={"age": lambda: 7, "rating": 1.5}
    )
    assert created is True and (obj.age, obj.rating) == (7, 1.5)
    assert (await run(Author.objects.get, name="Finn")).age == 7
    # Lookups with "__" select but are not used to create.
    obj, created = await run(Author.objects.get_or_create, name__iexact="alice")
    assert (created, obj.name) == (False, "Alice")
    obj, created = await run(
        Author.objects.get_or_create, name__iexact="gus", defaults={"name": "Gus"}
    )
    assert (created, obj.name) == (True, "Gus")
    with pytest.raises(Author.MultipleObjectsReturned):
        await run(Author.objects.get_or_create, age=30)
    with pytest.raises(FieldError, match="nope"):
        await run(Author.objects.get_or_create, name="New", defaults={"nope": 1})


@pytest.mark.usefixtures("people")
async def test_update_or_create(run: Any) -> None:
    obj, created = await run(
        Author.objects.update_or_create, name="Bob", defaults={"age": 41, "rating": 1.0}
    )
    assert created is False and (obj.age, obj.rating) == (41, 1.0)
    fresh = await run(Author.objects.get, name="Bob")
    assert (fresh.age, fresh.rating) == (41, 1.0)
    obj, created = await run(
        Author.objects.update_or_create,
        name="Hal",
        defaults={"age": 50},
        create_defaults={"age": 5},
    )
    assert created is True and obj.age == 5
    obj, created = await run(
        Author.objects.update_or_create,
        name="Hal",
        defaults={"age": 50},
        create_defaults={"age": 5},
    )
    assert created is False and obj.age == 50
    assert await run(Author.objects.filter(name="Hal").count) == 1


@pytest.mark.usefixtures("people")
async def test_update(run: Any) -> None:
    n = await run(Author.objects.filter(age=30).update, rating=9.0, bio="thirty")
    assert n == 2
    assert sorted(
        await run.list(Author.objects.filter(rating=9.0).values_list("name", flat=True))
    ) == [
        "Alice",
        "Eve",
    ]
    assert await run(Author.objects.filter(name="Nobody").update, age=1) == 0
    assert await run(Author.objects.update, active=False) == 5
    assert await run(Author.objects.filter(active=True).count) == 0
    with pytest.raises(FieldError, match="nope"):
        await run(Author.objects.update, nope=1)
    with pytest.raises(TypeError, match="slice"):
        await run(Author.objects.all()[:2].update, age=1)


@pytest.mark.usefixtures("people")
async def test_update_does_not_touch_auto_now(run: Any) -> None:
    from orm_models import Note

    note = await run(Note.objects.create, text="a")
    await run(Note.objects.filter(pk=note.pk).update, text="b")
    fresh = await run(Note.objects.get, pk=note.pk)
    assert fresh.text == "b" and fresh.updated == note.updated  # as Django: no auto_now


@pytest.mark.usefixtures("people")
async def test_delete(run: Any) -> None:
    assert await run(Author.objects.filter(age=30).delete) == (2, {"testapp.Author": 2})
    assert await run(Author.objects.filter(name="Nobody").delete) == (0, {})
    assert await run(Author.objects.count) == 3
    assert await run(Author.objects.all().delete) == (3, {"testapp.Author": 3})
    with pytest.raises(TypeError):
        await run(Author.objects.values("name").delete)


@pytest.mark.usefixtures("people")
async def test_count_and_exists(run: Any) -> None:
    assert await run(Author.objects.count) == 5
    assert await run(Author.objects.filter(age__gte=35).count) == 2
    assert await run(Author.objects.all()[1:3].count) == 2
    assert await run(Author.objects.all()[3:].count) == 2
    assert await run(Author.objects.values("age").distinct().count) == 4
    assert await run(Author.objects.filter(name="Bob").exists) is True
    assert await run(Author.objects.filter(name="Nobody").exists) is False
    assert await run(Author.objects.all()[5:].exists) is False


# first / last / earliest / latest -------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_first_and_last_order_by_pk_when_unordered(run: Any, people: list[Any]) -> None:
    assert (await run(Author.objects.first)).name == "Alice"
    assert (await run(Author.objects.last)).name == "Eve"
    assert (await run(Author.objects.filter(age=30).last)).name == "Eve"
    # With an ordering, that ordering (where NULLs sort is up to the database, as Django).
    aged = Author.objects.filter(age__isnull=False)
    assert (await run(aged.order_by("-age").first)).name == "Bob"
    aged = aged.order_by("age", "name")
    assert (await run(aged.first)).name == "Alice"
    assert (await run(aged.last)).name == "Bob"
    assert await run(Author.objects.filter(name="Nobody").first) is None
    assert await run(Author.objects.filter(name="Nobody").last) is None


@pytest.mark.usefixtures("articles")
async def test_first_and_last_use_meta_ordering(run: Any) -> None:
    # Meta.ordering = ["-score", "title"]
    assert (await run(Article.objects.first)).title == "Mid"
    assert (await run(Article.objects.last)).title == "Low"
    assert [a.title for a in await run.list(Article.objects.all())] == [
        "Mid",
        "Alpha",
        "Zeta",
        "Low",
    ]


@pytest.mark.usefixtures("articles")
async def test_earliest_and_latest(run: Any) -> None:
    assert (await run(Article.objects.latest)).title == "Alpha"  # Meta.get_latest_by
    assert (await run(Article.objects.earliest)).title == "Zeta"
    assert (await run(Article.objects.latest, "score")).title == "Mid"
    assert (await run(Article.objects.earliest, "score", "title")).title == "Low"
    assert (await run(Article.objects.latest, "-title")).title == "Alpha"
    assert (await run(Article.objects.filter(score=5).latest, "title")).title == "Zeta"
    with pytest.raises(Article.DoesNotExist):
        await run(Article.objects.filter(score=100).latest)
    with pytest.raises(ValueError, match="get_latest_by"):
        await run(Author.objects.latest)


@pytest.mark.usefixtures("people")
async def test_in_bulk(run: Any, people: list[Any], queries: Any) -> None:
    a, b = people[0], people[1]
    assert await run(Author.objects.in_bulk, [a.pk, b.pk, 999]) == {a.pk: a, b.pk: b}
    assert len(await run(Author.objects.in_bulk)) == 5
    with queries() as log:
        assert await run(Author.objects.in_bulk, []) == {}
    assert len(log) == 0
    await run(Code.objects.create, code="K1", value=1)
    assert list(await run(Code.objects.in_bulk, ["K1"])) == ["K1"]
    await run(Article.objects.create, title="T", slug="t-1")
    assert list(await run(Article.objects.in_bulk, ["t-1"], field_name="slug")) == ["t-1"]
    with pytest.raises(ValueError, match="unique"):
        await run(Author.objects.in_bulk, ["Bob"], field_name="name")


@pytest.mark.usefixtures("people")
async def test_iterator_streams_in_chunks_without_caching(run: Any) -> None:
    qs = Author.objects.order_by("name")
    objs = await run.iterator(qs, chunk_size=2)
    assert [o.name for o in objs] == ["Alice", "Bob", "Carol", "Dave", "Eve"]
    assert qs._result_cache is None
    assert [o.name for o in await run.iterator(qs)] == ["Alice", "Bob", "Carol", "Dave", "Eve"]
    assert await run.iterator(Author.objects.filter(name__in=[])) == []
    values = await run.iterator(Author.objects.order_by("name").values_list("age", flat=True), 3)
    assert values == [30, 40, None, 35, 30]
    with pytest.raises(ValueError):
        await run.iterator(qs, chunk_size=0)


# Ordering -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_order_by(run: Any) -> None:
    assert await names(run, Author.objects.order_by("name")) == [
        "Alice",
        "Bob",
        "Carol",
        "Dave",
        "Eve",
    ]
    assert await names(run, Author.objects.order_by("-name")) == [
        "Eve",
        "Dave",
        "Carol",
        "Bob",
        "Alice",
    ]
    assert await names(run, Author.objects.filter(age__isnull=False).order_by("-age", "name")) == [
        "Bob",
        "Dave",
        "Alice",
        "Eve",
    ]
    assert await names(run, Author.objects.order_by("-pk")) == [
        "Eve",
        "Dave",
        "Carol",
        "Bob",
        "Alice",
    ]
    # A later order_by() replaces the earlier one.
    assert (await names(run, Author.objects.order_by("-name").order_by("name")))[0] == "Alice"
    assert sorted(await names(run, Author.objects.order_by("?"))) == [
        "Alice",
        "Bob",
        "Carol",
        "Dave",
        "Eve",
    ]
    with pytest.raises(FieldError, match="nope"):
        Author.objects.order_by("nope")


@pytest.mark.usefixtures("people")
async def test_order_by_expressions_with_nulls_placement(run: Any) -> None:
    qs = Author.objects.order_by(F("age").asc(nulls_last=True), "name")
    assert await names(run, qs) == ["Alice", "Eve", "Dave", "Bob", "Carol"]
    qs = Author.objects.order_by(F("age").asc(nulls_first=True), "name")
    assert await names(run, qs) == ["Carol", "Alice", "Eve", "Dave", "Bob"]
    qs = Author.objects.order_by(F("age").desc(nulls_last=True), "name")
    assert await names(run, qs) == ["Bob", "Dave", "Alice", "Eve", "Carol"]
    qs = Author.objects.order_by(F("rating").desc(nulls_first=True))
    assert await names(run, qs) == ["Eve", "Carol", "Alice", "Bob", "Dave"]
    qs = Author.objects.order_by((F("age") * -1).asc(nulls_last=True), "name")
    assert await names(run, qs) == ["Bob", "Dave", "Alice", "Eve", "Carol"]


@pytest.mark.usefixtures("articles")
async def test_order_by_without_arguments_clears_meta_ordering(run: Any) -> None:
    titles = [a.title for a in await run.list(Article.objects.order_by())]
    assert sorted(titles) == ["Alpha", "Low", "Mid", "Zeta"]
    assert Article.objects.order_by().query.order_by == ()


@pytest.mark.usefixtures("articles")
async def test_reverse(run: Any) -> None:
    titles = [a.title for a in await run.list(Article.objects.reverse())]
    assert titles == ["Low", "Zeta", "Alpha", "Mid"]  # Meta.ordering reversed
    qs = Article.objects.order_by("title").reverse()
    assert [a.title for a in await run.list(qs)] == ["Zeta", "Mid", "Low", "Alpha"]
    assert [a.title for a in await run.list(qs.reverse())] == ["Alpha", "Low", "Mid", "Zeta"]
    assert (await run(Article.objects.order_by("title").reverse().first)).title == "Zeta"


@pytest.mark.usefixtures("people")
async def test_distinct(run: Any) -> None:
    ages = await run.list(Author.objects.values_list("age", flat=True).distinct().order_by("age"))
    assert ages == [None, 30, 35, 40] or ages == [30, 35, 40, None]
    assert len(await run.list(Author.objects.distinct())) == 5


# values / values_list / only / defer --------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_values(run: Any) -> None:
    rows = await run.list(Author.objects.filter(name="Bob").values())
    assert rows == [
        {
            "id": 2,
            "name": "Bob",
            "age": 40,
            "email": None,
            "rating": 3.0,
            "active": True,
            "bio": "",
        }
    ]
    assert list(rows[0]) == ["id", "name", "age", "email", "rating", "active", "bio"]
    rows = await run.list(Author.objects.filter(age=30).order_by("name").values("name", "age"))
    assert rows == [{"name": "Alice", "age": 30}, {"name": "Eve", "age": 30}]
    rows = await run.list(Author.objects.filter(name="Bob").values("name", double=F("age") * 2))
    assert rows == [{"name": "Bob", "double": 80}]
    rows = await run.list(Author.objects.filter(name="Bob").values("pk"))
    assert rows == [{"pk": 2}]
    with pytest.raises(FieldError, match="nope"):
        Author.objects.values("nope")


@pytest.mark.usefixtures("people")
async def test_values_list(run: Any) -> None:
    qs = Author.objects.order_by("name")
    assert (await run.list(qs.values_list("name", "age")))[:2] == [("Alice", 30), ("Bob", 40)]
    assert await run.list(qs.filter(age__gt=30).values_list("name", flat=True)) == ["Bob", "Dave"]
    (row,) = await run.list(qs.filter(name="Bob").values_list("name", "age", named=True))
    assert (row.name, row.age) == ("Bob", 40) and row == ("Bob", 40)
    (full,) = await run.list(qs.filter(name="Bob").values_list())
    assert full == (2, "Bob", 40, None, 3.0, True, "")
    with pytest.raises(TypeError):
        qs.values_list("name", "age", flat=True)
    with pytest.raises(TypeError):
        qs.values_list("name", flat=True, named=True)
    assert await run(qs.values_list("name", flat=True).get, pk=1) == "Alice"
    assert await run(qs.values_list("name", flat=True).first) == "Alice"


@pytest.mark.usefixtures("people")
async def test_only_and_defer(run: Any, queries: Any) -> None:
    (obj,) = await run.list(Author.objects.filter(name="Bob").only("name"))
    assert obj.get_deferred_fields() == {"age", "email", "rating", "active", "bio"}
    assert obj.pk == 2 and obj.name == "Bob"
    with queries() as log:
        assert obj.age == 40  # one query to load the deferred field
    assert len(log) == 1
    (obj,) = await run.list(Author.objects.filter(name="Bob").defer("bio", "rating"))
    assert obj.get_deferred_fields() == {"bio", "rating"}
    (obj,) = await run.list(Author.objects.filter(name="Bob").defer("bio").defer(None))
    assert obj.get_deferred_fields() == set()
    (obj,) = await run.list(Author.objects.filter(name="Bob").only("name").only("age"))
    assert obj.get_deferred_fields() == {"name", "email", "rating", "active", "bio"}
    # Saving a deferred instance writes only the loaded fields.
    obj.age = 41
    await run(obj.save)
    fresh = await run(Author.objects.get, name="Bob")
    assert (fresh.age, fresh.rating) == (41, 3.0)
    with pytest.raises(FieldError):
        await run.list(Author.objects.only("nope"))


@pytest.mark.usefixtures("people")
async def test_none(run: Any, queries: Any) -> None:
    with queries() as log:
        qs = Author.objects.none()
        assert await run.list(qs) == []
        assert await run(qs.count) == 0
        assert await run(qs.exists) is False
        assert await run(qs.first) is None
        assert await run.list(qs.filter(name="Bob")) == []
        assert await run(qs.aggregate, n=dorm.Count("id"), s=dorm.Sum("age")) == {
            "n": 0,
            "s": None,
        }
        assert await run(qs.update, age=1) == 0
    assert len(log) == 0
    with pytest.raises(Author.DoesNotExist):
        await run(qs.get)


# Set operations -------------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_union_intersection_difference(run: Any) -> None:
    thirty = Author.objects.filter(age=30)
    old = Author.objects.filter(age__gte=30)
    rated = Author.objects.filter(rating__gte=4)
    union = thirty.union(rated).order_by("name")
    assert [o.name for o in await run.list(union)] == ["Alice", "Carol", "Eve"]
    assert await run(thirty.union(rated).count) == 3
    assert await run(thirty.union(rated, all=True).count) == 4  # Alice twice
    inter = old.intersection(rated).order_by("name")
    assert [o.name for o in await run.list(inter)] == ["Alice"]
    diff = old.difference(thirty).order_by("-name")
    assert [o.name for o in await run.list(diff)] == ["Dave", "Bob"]
    flat = thirty.values_list("name", flat=True).union(rated.values_list("name", flat=True))
    assert sorted(await run.list(flat)) == ["Alice", "Carol", "Eve"]
    assert await run.list(thirty.union(rated).order_by("name")[:1]) == [
        await run(Author.objects.get, name="Alice")
    ]
    # An empty side drops out of a union.
    assert await run(Author.objects.none().union(thirty).count) == 2
    # first()/last() order a compound statement by pk; reverse() flips its ordering.
    assert (await run(thirty.union(rated).first)).name == "Alice"
    assert (await run(thirty.union(rated).last)).name == "Eve"
    assert [o.name for o in await run.list(thirty.union(rated).order_by("name").reverse())] == [
        "Eve",
        "Carol",
        "Alice",
    ]
    with pytest.raises(NotSupportedError, match=r"get\(...\) with filters after union"):
        await run(thirty.union(rated).get, name="y")
    union = thirty.union(rated)
    for method, call in [
        ("filter", lambda: union.filter(name="x")),
        ("exclude", lambda: union.exclude(name="x")),
        ("annotate", lambda: union.annotate(n=dorm.Count("id"))),
        ("distinct", lambda: union.distinct()),
        ("only", lambda: union.only("name")),
        ("defer", lambda: union.defer("name")),
    ]:
        with pytest.raises(NotSupportedError, match=rf"{method}\(\) after union"):
            call()
    with pytest.raises(NotSupportedError):
        await run(thirty.union(rated).update, age=1)


@pytest.mark.usefixtures("articles")
async def test_union_of_models_with_meta_ordering(run: Any) -> None:
    # The parts of a compound statement drop their (Meta) ordering, as Django.
    union = Article.objects.filter(score=5).union(Article.objects.filter(score=1))
    assert sorted(a.title for a in await run.list(union)) == ["Alpha", "Low", "Zeta"]
    top = Article.objects.order_by("-score")[:1]  # a sliced part keeps its ordering
    union = Article.objects.filter(score=1).union(top).order_by("title")
    assert [a.title for a in await run.list(union)] == ["Low", "Mid"]


# Slicing ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_slicing(run: Any, queries: Any) -> None:
    qs = Author.objects.order_by("name")
    assert await names(run, qs[1:3]) == ["Bob", "Carol"]
    assert await names(run, qs[:2]) == ["Alice", "Bob"]
    assert await names(run, qs[3:]) == ["Dave", "Eve"]
    assert await names(run, qs[1:][:2]) == ["Bob", "Carol"]
    assert await names(run, qs[1:4][1:]) == ["Carol", "Dave"]
    assert await names(run, qs[4:2]) == []
    assert await names(run, qs[10:]) == []
    with queries() as log:
        assert (await run.list(qs[1:3]))[0].name == "Bob"
    assert len(log) == 1 and "LIMIT" in log.queries[0].upper()
    assert qs[0].name == "Alice" and qs[4].name == "Eve"
    with pytest.raises(IndexError):
        qs[5]
    assert [o.name for o in qs[::2]] == ["Alice", "Carol", "Eve"]  # a step evaluates: a list


@pytest.mark.usefixtures("people")
def test_negative_indexing_is_an_error() -> None:
    qs = Author.objects.all()
    with pytest.raises(ValueError, match="Negative indexing is not supported"):
        qs[-1]
    with pytest.raises(ValueError, match="Negative indexing is not supported"):
        qs[-3:]
    with pytest.raises(ValueError, match="Negative indexing is not supported"):
        qs[:-1]
    with pytest.raises(TypeError):
        qs["a"]  # type: ignore[call-overload]


@pytest.mark.usefixtures("people")
def test_a_sliced_queryset_cannot_be_filtered_or_reordered() -> None:
    qs = Author.objects.all()[:2]
    with pytest.raises(TypeError, match="slice"):
        qs.filter(name="Bob")
    with pytest.raises(TypeError, match="slice"):
        qs.order_by("name")
    with pytest.raises(TypeError, match="slice"):
        qs.last()


# using() and select_for_update() ---------------------------------------------------------------


async def test_using_another_alias(orm: Any, run: Any, tmp_path: Any) -> None:
    if not orm.is_sqlite:
        pytest.skip("a second database is only set up for SQLite here")
    dorm.configure(
        DATABASES={
            "default": orm.settings,
            "other": {"ENGINE": "sqlite", "NAME": str(tmp_path / "other.sqlite3")},
        }
    )
    try:
        create_tables(alias="other")
        obj = await run(Author.objects.using("other").create, name="Remote")
        assert obj._state.db == "other"
        assert await run(Author.objects.count) == 0
        assert await run(Author.objects.using("other").count) == 1
        fetched = await run(Author.objects.using("other").get, name="Remote")
        assert fetched._state.db == "other"
        fetched.age = 3
        await run(fetched.save)  # saves back to the alias it came from
        assert (await run(Author.objects.using("other").get, pk=obj.pk)).age == 3
        local = Author(name="Local")
        await run(local.save, using="other")
        assert await run(Author.objects.using("other").count) == 2
        await run(local.delete, using="other")
        assert await run(Author.objects.db_manager("other").count) == 1
    finally:
        from dorm.db import aclose_all, close_all

        await aclose_all()
        close_all()
        dorm.configure(DATABASES={"default": orm.settings})


@pytest.mark.usefixtures("people")
async def test_select_for_update(run: Any) -> None:
    async with run.atomic():
        qs = Author.objects.select_for_update().filter(age=30).order_by("name")
        assert await names(run, qs) == ["Alice", "Eve"]
        for options in ({"nowait": True}, {"skip_locked": True}, {"of": ("self",)}):
            if connections["default"].vendor == "sqlite":
                # Ignored on SQLite, as in Django.
                assert await run(Author.objects.select_for_update(**options).count) == 5
        assert await names(run, Author.objects.select_for_update(no_key=True).filter(pk=2)) == [
            "Bob"
        ]
        obj = await run(Author.objects.select_for_update().get, name="Bob")
        assert obj.age == 40
    with pytest.raises(ValueError):
        Author.objects.select_for_update(nowait=True, skip_locked=True)


@pytest.mark.usefixtures("people")
async def test_select_for_update_outside_a_transaction(run: Any, vendor: str) -> None:
    if vendor == "sqlite":
        # No row locks: the clause is ignored, as in Django.
        assert len(await run.list(Author.objects.select_for_update())) == 5
        return
    with pytest.raises(
        dorm.exceptions.TransactionManagementError, match="outside of a transaction"
    ):
        await run.list(Author.objects.select_for_update())


# Aggregates and misc --------------------------------------------------------------------------


@pytest.mark.usefixtures("people")
async def test_aggregate(run: Any) -> None:
    result = await run(
        Author.objects.aggregate,
        n=dorm.Count("id"),
        ages=dorm.Count("age"),
        total=dorm.Sum("age"),
        avg=dorm.Avg("age"),
        low=dorm.Min("age"),
        high=dorm.Max("rating"),
    )
    assert result == {"n": 5, "ages": 4, "total": 135, "avg": 33.75, "low": 30, "high": 5.0}
    assert await run(Author.objects.filter(age__gt=100).aggregate, s=dorm.Sum("age")) == {"s": None}
    assert await run(
        Author.objects.filter(age__gt=100).aggregate, s=dorm.Sum("age", default=0)
    ) == {"s": 0}
    assert await run(Author.objects.aggregate, dorm.Max("age")) == {"age__max": 40}
    assert await run(Author.objects.order_by("name")[:2].aggregate, s=dorm.Sum("age")) == {"s": 70}
    assert await run(Author.objects.aggregate, d=dorm.Count("age", distinct=True)) == {"d": 3}


@pytest.mark.usefixtures("people")
def test_repr() -> None:
    assert repr(Author.objects.filter(name="Bob")) == "<QuerySet [<Author: Bob>]>"
    assert repr(Author.objects.none()) == "<QuerySet []>"


@pytest.mark.usefixtures("orm")
async def test_datetime_filters_round_trip(run: Any) -> None:
    when = datetime.datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
    await run(Event.objects.create, name="x", when=when)
    assert (await run(Event.objects.get, when=when)).name == "x"
    assert await run(Event.objects.filter(when__lt=when).count) == 0
