"""The hot-path shortcuts (see dorm-bench) answer exactly as the general path does.

``get(pk=...)`` reuses the statement compiled for the shape, ``filter(field=value)`` rebuilds
a lookup from a learnt resolution (or, on a manager's queryset, keeps it pending until a Query
is needed), ``count()`` keys its cache on what the COUNT depends on, instances are built by a
generated function, single-row INSERTs come from a cache, and saves skip the conversion chain
for plain values. Each test runs the same calls with the shortcuts switched off (``general``)
and compares the results and the statements sent, parameters included.
"""

from __future__ import annotations

import contextlib
import decimal
from collections.abc import Iterator
from typing import Any

import pytest
from orm_models import AllTypes, Article, Author, MixedShoutField, Product, Shout, ShoutField

import dorm.models.base as model_base
import dorm.models.fields as fields_module
import dorm.models.manager as manager_module
import dorm.query as query_module
import dorm.sql.compiler as compiler_module
from dorm import QuerySet, Sum
from dorm.exceptions import FieldError
from dorm.testing import CaptureQueries

pytestmark = pytest.mark.usefixtures("orm")


class _NoCache(dict):  # type: ignore[type-arg]
    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def __setitem__(self, key: Any, value: Any) -> None:
        pass


@contextlib.contextmanager
def general() -> Iterator[None]:
    """Switch every shortcut off for the block."""
    mp = pytest.MonkeyPatch()
    mp.setattr(query_module, "_pk_get", lambda qs, conn, kwargs: None)
    mp.setattr(query_module, "_plain_filter", lambda query, key, value: None)
    mp.setattr(query_module, "_instance_factory", lambda names, convs: None)
    mp.setattr(compiler_module, "_count_cache_key", compiler_module.select_cache_key)
    mp.setattr(model_base, "_INSERT_SQL", _NoCache())
    mp.setattr(model_base, "_DIRECT_INSERT", False)
    mp.setattr(manager_module, "_DIRECT_CREATE", False)
    mp.setattr(query_module, "_pending_filter_entry", lambda model, key, value: None)
    mp.setattr(query_module, "_pending_count", lambda qs, conn: None)
    for module in (fields_module, model_base):
        mp.setattr(module, "db_prep_plan", lambda field, ops: (frozenset(), None))
    mp.setattr(model_base, "_SAVE_PLANS", _NoCache())

    async def not_taken(*args: Any) -> Any:
        return query_module._NOT_TAKEN

    mp.setattr(manager_module, "manager_get", lambda *args: query_module._NOT_TAKEN)
    mp.setattr(manager_module, "amanager_get", not_taken)
    mp.setattr(manager_module, "manager_filter", lambda *args: None)
    try:
        yield
    finally:
        mp.undo()


async def both(call: Any) -> tuple[Any, Any]:
    """``(result, [(sql, params)])`` of ``await call()`` with the shortcuts on, then off."""
    out = []
    for ctx in (contextlib.nullcontext(), general()):
        with ctx:
            async with CaptureQueries() as log:
                try:
                    value: Any = await call()
                except Exception as exc:
                    value = (type(exc), str(exc))
            out.append((value, [(q["sql"], list(q["params"] or ())) for q in log.captured]))
    return out[0], out[1]


def state(obj: Any) -> Any:
    if isinstance(obj, list):
        return [state(o) for o in obj]
    if hasattr(obj, "_state"):
        return (type(obj), {k: v for k, v in obj.__dict__.items() if k != "_state"})
    return obj


@pytest.fixture
async def people(run: Any) -> list[Any]:
    return [
        await run(Author.objects.create, name=n, age=a, rating=r, active=x)
        for n, a, r, x in [("Ann", 30, 4.5, True), ("Bob", 41, None, False), ("Cy", 30, 2.0, True)]
    ]


async def test_get_by_primary_key(run: Any, people: list[Any]) -> None:
    ann = people[0]
    calls = [
        lambda: run(Author.objects.get, pk=ann.pk),
        lambda: run(Author.objects.get, id=ann.pk),
        lambda: run(Author.objects.get, pk__exact=ann.pk),
        lambda: run(Author.objects.get, pk=str(ann.pk)),  # prepared like the general path
        lambda: run(Author.objects.get, pk=10_000),  # DoesNotExist, same message
        lambda: run(Author.objects.get, pk="nope"),  # the same conversion error
        lambda: run(Author.objects.filter(active=False).get, pk=ann.pk),
        lambda: run(Author.objects.only("name").get, pk=ann.pk),
        lambda: run(Author.objects.values("name").get, pk=ann.pk),
        lambda: run(Author.objects.using("default").get, pk=ann.pk),
        lambda: run(Author.objects.get, name="Ann"),
    ]
    for call in calls:
        for _ in range(2):  # the second call uses what the first one cached
            (fast, fast_sql), (slow, slow_sql) = await both(call)
            assert state(fast) == state(slow)
            assert fast_sql == slow_sql
    found = await run(Author.objects.get, pk=ann.pk)
    assert found._state.db == "default" and not found._state.adding
    # A manager changing get_queryset() is not bypassed by the manager-level shortcut.
    from orm_models import Tag

    hidden = await run(Tag.objects.create, name="h", hidden=True)
    await run(QuerySet(model=Tag).get, pk=hidden.pk)  # caches the shape for Tag
    with pytest.raises(Tag.DoesNotExist):
        await run(Tag.visible_only.get, pk=hidden.pk)
    assert found.active is True and found.rating == 4.5


async def test_single_keyword_filters(run: Any, people: list[Any]) -> None:
    for key, value in [
        ("name", "Ann"),
        ("name", "nobody"),
        ("age", 30),
        ("age", "30"),  # converted by the field: not kept pending
        ("age", True),  # not the field's own type: not kept pending
        ("age__gt", 35),
        ("age__gte", 41),
        ("age__lt", 35),
        ("age__lte", 30),
        ("active", True),
        ("active", False),
        ("rating", 2.0),
        ("email", "x@example.com"),
        ("bio", ""),
        ("name__icontains", "b"),
        ("pk", people[1].pk),
        ("id__in", [people[0].pk]),  # not a plain value: general path
    ]:
        for _ in range(2):
            (fast, fast_sql), (slow, slow_sql) = await both(
                lambda key=key, value=value: run.list(
                    Author.objects.filter(**{key: value}).order_by("pk")
                )
            )
            assert state(fast) == state(slow), key
            assert fast_sql == slow_sql, key
            (fast, fast_sql), (slow, slow_sql) = await both(
                lambda key=key, value=value: run(Author.objects.filter(**{key: value}).count)
            )
            assert (fast, fast_sql) == (slow, slow_sql), key
    # A key an annotation shadows, and chained filters, resolve as before.
    qs = Author.objects.filter(age=30).filter(active=True).exclude(name="Cy")
    assert [a.name for a in await run.list(qs)] == ["Ann"]
    with pytest.raises(FieldError):
        Author.objects.filter(nosuchfield=1)
    with pytest.raises(FieldError):
        Author.objects.filter(nosuchfield=1)  # an error is not cached as a resolution


async def test_count_of_ordered_annotated_and_sliced_querysets(run: Any, people: list[Any]) -> None:
    from dorm import F

    for qs in [
        Author.objects.all(),
        Author.objects.filter(age=30).order_by("-name"),
        Author.objects.filter(age=30).annotate(double=F("age") * 2),
        Author.objects.filter(age=30).values("name"),
        Author.objects.order_by("name")[:2],
        Author.objects.filter(age=30).distinct(),
        Article.objects.all(),  # Meta.ordering
    ]:
        (fast, fast_sql), (slow, slow_sql) = await both(lambda qs=qs: run(qs.count))
        assert (fast, fast_sql) == (slow, slow_sql)


async def test_instances_of_every_field_type(run: Any) -> None:
    obj = await run(
        AllTypes.objects.create,
        small=1,
        dec=decimal.Decimal("1.50"),
        flag=False,
        char="x",
        data={"a": [1, 2]},
        blob=b"\x00\x01",
    )
    for call in [
        lambda: run.list(AllTypes.objects.all()),
        lambda: run(AllTypes.objects.get, pk=obj.pk),
        lambda: run.list(AllTypes.objects.defer("data", "blob")),
    ]:
        (fast, _), (slow, _) = await both(call)
        assert state(fast) == state(slow)
    got = await run(AllTypes.objects.get, pk=obj.pk)
    assert got.flag is False and got.dec == decimal.Decimal("1.50") and got.data == {"a": [1, 2]}
    assert got.blob == b"\x00\x01" and got.big is None


async def test_create_with_and_without_database_defaults(run: Any) -> None:
    made = iter(range(100))

    async def create(stock: int | None) -> Any:
        kwargs: dict[str, Any] = {"sku": f"s{next(made)}", "price": decimal.Decimal("1")}
        if stock is not None:
            kwargs["stock"] = stock
        obj = await run(Product.objects.create, **kwargs)
        fresh = await run(Product.objects.get, pk=obj.pk)
        return obj.__dict__.get("stock", "fetched lazily"), fresh.stock

    for stock in [None, 3, None, 5]:
        for _ in range(2):
            (fast, fast_sql), (slow, slow_sql) = await both(lambda stock=stock: create(stock))
            assert fast == slow
            assert [sql for sql, _ in fast_sql] == [sql for sql, _ in slow_sql]
    stocks = sorted(p.stock for p in await run.list(Product.objects.all()))
    assert stocks == [3] * 4 + [5] * 4 + [7] * 8


async def test_create_and_forced_insert_as_the_plan(run: Any) -> None:
    """``create()``/``save(force_insert=True)`` skip the plan runner: same SQL, signals, state."""
    from dorm import signals

    seen: list[Any] = []

    def pre(sender: Any, instance: Any, **kw: Any) -> None:
        seen.append(("pre", sender, instance.pk is None, kw["using"], kw["update_fields"]))

    def post(sender: Any, instance: Any, **kw: Any) -> None:
        seen.append(("post", sender, instance._state.adding, kw["created"], kw["update_fields"]))

    def shape(obj: Any) -> Any:
        values = {k: v for k, v in obj.__dict__.items() if k not in ("_state", "id")}
        return type(obj), values, obj.pk is not None, obj._state.db, obj._state.adding

    async def create() -> Any:
        return shape(await run(Author.objects.create, name="c", age=3))

    async def forced_insert() -> Any:
        obj = Author(name="f", age=4, active=False)
        await run(obj.save, force_insert=True)
        return shape(obj)

    made = iter(range(100))

    async def with_db_default() -> Any:
        obj = await run(Product.objects.create, sku=f"p{next(made)}", price=1)
        return shape(obj)[0], obj.__dict__.get("stock", "fetched lazily"), obj._state.db

    for call in (create, forced_insert, with_db_default):
        for listening in (False, True):
            if listening:
                signals.pre_save.connect(pre)
                signals.post_save.connect(post)
            seen.clear()
            try:
                (fast, fast_sql), (slow, slow_sql) = await both(call)
            finally:
                signals.pre_save.disconnect(pre)
                signals.post_save.disconnect(post)
            assert fast == slow
            assert [sql for sql, _ in fast_sql] == [sql for sql, _ in slow_sql]
            if call is not with_db_default:  # (sku and a random default differ)
                assert [p for _, p in fast_sql] == [p for _, p in slow_sql]
            half = len(seen) // 2
            assert seen[:half] == seen[half:] and len(seen) == (4 if listening else 0)
    # A failing INSERT raises the same translated error either way.
    await run(Product.objects.create, sku="dup", price=1)
    (fast, fast_sql), (slow, slow_sql) = await both(
        lambda: run(Product.objects.create, sku="dup", price=1)
    )
    assert isinstance(fast, tuple) and fast == slow
    assert [sql for sql, _ in fast_sql] == [sql for sql, _ in slow_sql]


async def test_pending_condition_is_a_whole_queryset(run: Any, people: list[Any]) -> None:
    """A manager's ``filter(field=value)`` builds no Query until one is needed; whatever is
    done with it next answers as a queryset built the general way."""
    ann = people[0]
    pending = Author.objects.filter(age=30)
    assert "_query" not in pending.__dict__
    assert await run(pending.count) == 2
    assert await run(Author.objects.filter(age__gt=35).count) == 1
    assert "_query" not in pending.__dict__  # count() of the shape needed none
    follow_ups = [
        lambda qs: run.list(qs.order_by("name")),
        lambda qs: run.list(qs.filter(active=True).order_by("pk")),
        lambda qs: run.list(qs.exclude(name="Ann")),
        lambda qs: run.list(qs.order_by("-name")[:1]),
        lambda qs: run.list(qs.values_list("name", flat=True).order_by("name")),
        lambda qs: run(qs.exists),
        lambda qs: run(qs.get, name="Cy"),
        lambda qs: run(qs.get, pk=ann.pk),
        lambda qs: run(qs.aggregate, total=Sum("age")),
        lambda qs: run.list(Author.objects.filter(pk__in=qs.values("pk")).order_by("pk")),
        lambda qs: run.list((qs | Author.objects.filter(name="Bob")).order_by("pk")),
        lambda qs: run(qs.all().count),
        lambda qs: run.list(qs.all().order_by("pk")),
    ]
    for follow_up in follow_ups:
        (fast, fast_sql), (slow, slow_sql) = await both(
            lambda follow_up=follow_up: follow_up(Author.objects.filter(age=30))
        )
        assert state(fast) == state(slow)
        assert fast_sql == slow_sql
    assert str(Author.objects.filter(age=30).query).endswith('"age" = 30')
    assert repr(Author.objects.filter(age=30).order_by("pk")) == repr(
        Author.objects.all().filter(age=30).order_by("pk")
    )
    # A value the field rejects fails in filter() as before, learnt resolution or not.
    for _ in range(2):
        with pytest.raises(TypeError, match="expected a number"):
            Author.objects.filter(age="thirty")
    assert await run(Author.objects.filter(age=30).update, age=31) == 2
    assert await run(Author.objects.filter(age=31).count) == 2
    assert (await run(Author.objects.filter(name="Bob").delete))[0] == 1
    assert await run(Author.objects.count) == 2


def test_passthrough_is_reset_by_an_overriding_subclass() -> None:
    assert fields_module.CharField.prep_passthrough == frozenset({str})
    assert fields_module.EmailField.prep_passthrough == frozenset({str})  # inherits: no override
    assert fields_module.BooleanField.prep_passthrough == frozenset({bool})
    assert ShoutField.prep_passthrough == frozenset()  # overrides get_prep_value
    assert MixedShoutField.prep_passthrough == frozenset()  # a mixin overrides it
    assert fields_module.JSONField.prep_passthrough == frozenset()


async def test_saves_of_plain_values_as_the_conversion_chain(run: Any) -> None:
    """create() and bulk_create() send what get_db_prep_save gives (an override included)."""

    async def create() -> Any:
        obj = await run(Shout.objects.create, text="hey", loud=False)
        return (await run(Shout.objects.get, pk=obj.pk)).text, obj.loud

    async def bulk() -> Any:
        await run(Shout.objects.bulk_create, [Shout(text="a"), Shout(text="b", loud=False)])
        return [(o.text, o.loud) for o in await run.list(Shout.objects.order_by("-pk")[:2])]

    async def author() -> Any:
        obj = await run(Author.objects.create, name="Dee", age=5, rating=1.5, active=False)
        got = await run(Author.objects.get, pk=obj.pk)
        return {k: v for k, v in state(got)[1].items() if k != "id"}

    for call in (create, bulk, author):
        for _ in range(2):
            (fast, fast_sql), (slow, slow_sql) = await both(call)
            assert fast == slow
            inserts = [
                [q for q in log if q[0].startswith("INSERT")] for log in (fast_sql, slow_sql)
            ]
            assert inserts[0] == inserts[1] and inserts[0]
    stored = await run.list(Shout.objects.filter(text="HEY").values_list("loud", flat=True))
    assert stored == [False] * 4  # both paths upper-cased the text


async def test_a_conversion_from_a_mixin_is_never_skipped(run: Any) -> None:
    await run(Shout.objects.create, text="a", mixed="abc")
    await run(Shout.objects.bulk_create, [Shout(text="b", mixed="def"), Shout(text="c")])
    stored = await run.list(Shout.objects.order_by("pk").values_list("mixed", flat=True))
    assert stored == ["ABC", "DEF", ""]
    for value in ("ABC", "abc", "Abc"):  # the first one must not decide for the others
        assert await run(Shout.objects.filter(mixed=value).count) == 1
        assert (await run(Shout.objects.get, mixed=value)).text == "A"


def test_a_queryset_shared_between_threads_keeps_its_condition(people: list[Any]) -> None:
    import threading

    for _ in range(50):
        shared = Author.objects.filter(age=30)
        results: list[Any] = []

        def build(shared: Any = shared, results: list[Any] = results) -> None:
            results.append(shared.exists())  # builds the shared queryset's Query

        def use(shared: Any = shared, results: list[Any] = results) -> None:
            results.append(shared.all().count())

        threads = [threading.Thread(target=f) for f in (build, use, use, use)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results, key=str) == [2, 2, 2, True]
    # Building the Query leaves the pending condition in place for concurrent readers.
    shared = Author.objects.filter(age=30)
    assert shared.query.where and "_pending_filter" in shared.__dict__


def test_a_queryset_subclass_with_its_own_getattr(people: list[Any]) -> None:
    class DynamicQuerySet(QuerySet[Any]):
        def __getattr__(self, name: str) -> Any:
            if name.startswith("by_"):
                return lambda value: self.filter(**{name[3:]: value})
            raise AttributeError(name)

    assert DynamicQuerySet(model=Author).count() == 3
    assert [a.name for a in DynamicQuerySet(model=Author).order_by("pk")] == ["Ann", "Bob", "Cy"]
    assert DynamicQuerySet(model=Author).by_age(30).count() == 2


def test_routers_are_asked_once_per_get(people: list[Any]) -> None:
    from dorm.db import router

    asked: list[Any] = []

    class Counting:
        def db_for_read(self, model: Any, **hints: Any) -> None:
            asked.append(model)

    query_module._PK_GET_CACHE.clear()
    saved = router._routers
    router._routers = [Counting()]
    try:
        for _ in range(3):
            assert Author.objects.get(pk=people[0].pk).name == "Ann"
    finally:
        router._routers = saved
    assert asked == [Author] * 3
