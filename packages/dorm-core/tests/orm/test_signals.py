"""Acceptance: ``pre_init post_init pre_save post_save pre_delete post_delete`` fire with
Django's arguments, from sync and async ORM calls; ``connect``/``disconnect``/``receiver``."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from orm_models import Article, Author

from dorm import signals
from dorm.signals import receiver

pytestmark = pytest.mark.usefixtures("orm")

ALL = [
    signals.pre_init,
    signals.post_init,
    signals.pre_save,
    signals.post_save,
    signals.pre_delete,
    signals.post_delete,
]


@pytest.fixture
def record() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every signal sent for ``Author``, as (signal name, keyword arguments)."""
    events: list[tuple[str, dict[str, Any]]] = []

    def listener(signal: Any, sender: Any, **kwargs: Any) -> None:
        assert sender is Author
        if signal is signals.pre_init:  # __init__ consumes its kwargs dict afterwards
            kwargs = {"args": kwargs["args"], "kwargs": dict(kwargs["kwargs"])}
        events.append((signal.name, kwargs))

    for signal in ALL:
        signal.connect(listener, sender=Author, dispatch_uid="test-record")
    try:
        yield events
    finally:
        for signal in ALL:
            signal.disconnect(sender=Author, dispatch_uid="test-record")


def kinds(events: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [name for name, _ in events]


async def test_init_signals(run: Any, record: list[Any]) -> None:
    a = Author(name="x", age=3)
    assert kinds(record) == ["pre_init", "post_init"]
    assert record[0][1] == {"args": (), "kwargs": {"name": "x", "age": 3}}
    assert record[1][1] == {"instance": a}
    await run(Author.objects.bulk_create, [Author(name="y")])
    record.clear()
    (loaded,) = await run.list(Author.objects.all())
    assert kinds(record) == ["pre_init", "post_init"]  # loading from the database too
    assert record[1][1]["instance"] is loaded


async def test_save_signals(run: Any, record: list[Any]) -> None:
    a = Author(name="x")
    record.clear()
    await run(a.save)
    assert kinds(record) == ["pre_save", "post_save"]
    pre, post = record[0][1], record[1][1]
    assert pre == {"instance": a, "raw": False, "using": "default", "update_fields": None}
    assert post == {
        "instance": a,
        "created": True,
        "raw": False,
        "using": "default",
        "update_fields": None,
    }
    record.clear()
    a.name = "y"
    await run(a.save, update_fields=["name"])
    assert record[1][1]["created"] is False
    assert record[1][1]["update_fields"] == frozenset({"name"})
    record.clear()
    await run(Author.objects.create, name="z")
    assert kinds(record) == ["pre_init", "post_init", "pre_save", "post_save"]
    assert record[3][1]["created"] is True


async def test_pre_save_runs_before_the_write(run: Any) -> None:
    seen: list[int] = []

    def before(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(Author.objects.count())
        instance.bio = "set by pre_save"

    signals.pre_save.connect(before, sender=Author)
    try:
        a = await run(Author.objects.create, name="x")
    finally:
        signals.pre_save.disconnect(before, sender=Author)
    assert seen == [0]
    assert (await run(Author.objects.get, pk=a.pk)).bio == "set by pre_save"


async def test_delete_signals(run: Any, record: list[Any]) -> None:
    a = await run(Author.objects.create, name="x")
    pk = a.pk
    seen_pk: list[Any] = []
    record.clear()

    def post(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen_pk.append(instance.pk)

    signals.post_delete.connect(post, sender=Author)
    try:
        await run(a.delete)
    finally:
        signals.post_delete.disconnect(post, sender=Author)
    assert kinds(record) == ["pre_delete", "post_delete"]
    assert record[0][1] == {"instance": a, "using": "default", "origin": a}
    assert seen_pk == [pk]  # the instance still has its pk in post_delete


async def test_queryset_delete_sends_per_instance_signals(run: Any, record: list[Any]) -> None:
    await run(Author.objects.bulk_create, [Author(name=f"a{i}") for i in range(3)])
    record.clear()
    count, _ = await run(Author.objects.filter(name__in=["a0", "a2"]).delete)
    assert count == 2
    deleted = sorted(kw["instance"].name for name, kw in record if name == "post_delete")
    assert deleted == ["a0", "a2"]
    assert kinds(record).count("pre_delete") == 2


async def test_bulk_operations_and_update_send_no_save_signals(run: Any, record: list[Any]) -> None:
    objs = [Author(name="a"), Author(name="b")]
    record.clear()
    await run(Author.objects.bulk_create, objs)
    await run(Author.objects.update, age=1)
    objs = await run.list(Author.objects.all())
    record.clear()
    await run(Author.objects.bulk_update, objs, ["age"])
    assert "pre_save" not in kinds(record) and "post_save" not in kinds(record)


async def test_sender_filtering(run: Any) -> None:
    calls: list[Any] = []

    def on_any(sender: Any, **kwargs: Any) -> None:
        calls.append(sender)

    signals.post_save.connect(on_any)
    try:
        await run(Author.objects.create, name="x")
        await run(Article.objects.create, title="t", slug="t")
    finally:
        assert signals.post_save.disconnect(on_any) is True
    assert calls == [Author, Article]
    assert signals.post_save.disconnect(on_any) is False


async def test_receiver_decorator_and_dispatch_uid(run: Any) -> None:
    calls: list[str] = []

    @receiver([signals.pre_save, signals.post_save], sender=Article)
    def on_article(signal: Any, sender: Any, **kwargs: Any) -> None:
        calls.append(signal.name)

    def counted(sender: Any, **kwargs: Any) -> None:
        calls.append("uid")

    signals.post_save.connect(counted, sender=Article, dispatch_uid="once")
    signals.post_save.connect(counted, sender=Article, dispatch_uid="once")  # ignored
    try:
        await run(Article.objects.create, title="t", slug="t")
        await run(Author.objects.create, name="not an article")
    finally:
        signals.pre_save.disconnect(on_article, sender=Article)
        signals.post_save.disconnect(on_article, sender=Article)
        signals.post_save.disconnect(sender=Article, dispatch_uid="once")
    assert calls == ["pre_save", "post_save", "uid"]
    await run(Article.objects.create, title="u", slug="u")
    assert calls == ["pre_save", "post_save", "uid"]


def test_receivers_are_weak_by_default() -> None:
    calls: list[str] = []

    def make() -> Any:
        def temp(sender: Any, **kwargs: Any) -> None:
            calls.append("weak")

        return temp

    fn = make()
    signals.pre_init.connect(fn, sender=Author)
    Author(name="x")
    del fn
    gc.collect()
    Author(name="y")
    assert calls == ["weak"]
    strong = make()
    signals.pre_init.connect(strong, sender=Author, weak=False, dispatch_uid="strong")
    del strong
    gc.collect()
    Author(name="z")
    assert calls == ["weak", "weak"]
    assert signals.pre_init.disconnect(sender=Author, dispatch_uid="strong") is True
    assert signals.pre_init.has_listeners is False
