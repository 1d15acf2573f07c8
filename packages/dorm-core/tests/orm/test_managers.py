"""Acceptance: the default ``objects`` manager, custom ``Manager`` subclasses and
``Manager.from_queryset``; queries through them run sync and async."""

from __future__ import annotations

from typing import Any

import pytest
from orm_models import Author, Note, Tag, TagQuerySet

import dorm

pytestmark = pytest.mark.usefixtures("orm")


@pytest.fixture
async def tags(orm: Any) -> None:
    for name, hidden in [("alpha", False), ("alpine", True), ("beta", False), ("gamma", True)]:
        Tag.objects.create(name=name, hidden=hidden)


def test_default_manager_is_objects() -> None:
    assert isinstance(Author.objects, dorm.Manager)
    assert Author.objects.model is Author
    assert Author._default_manager.model is Author
    assert Note.objects.model is Note  # inherited from the abstract parent
    assert isinstance(Author.objects.all(), dorm.QuerySet)


def test_managers_are_not_reachable_from_instances() -> None:
    with pytest.raises(AttributeError, match="isn't accessible via Author instances"):
        Author(name="x").objects  # noqa: B018


def test_from_queryset_builds_a_manager_class() -> None:
    manager_class = type(Tag.objects)
    assert issubclass(manager_class, dorm.Manager)
    assert manager_class.__name__ == "ManagerFromTagQuerySet"
    assert isinstance(Tag.objects.all(), TagQuerySet)
    assert Tag._default_manager is not None and type(Tag._default_manager) is manager_class


@pytest.mark.usefixtures("tags")
async def test_queryset_methods_on_the_manager_and_chained(run: Any) -> None:
    visible = Tag.objects.visible()
    assert isinstance(visible, TagQuerySet)
    assert sorted(await run.list(visible.values_list("name", flat=True))) == ["alpha", "beta"]
    # Custom methods chain in any order with the built-in ones.
    assert await run(Tag.objects.named("alp").visible().count) == 1
    assert await run(Tag.objects.filter(hidden=True).named("g").count) == 1
    assert (await run(Tag.objects.visible().named("b").get)).name == "beta"


@pytest.mark.usefixtures("tags")
async def test_custom_get_queryset(run: Any) -> None:
    assert await run(Tag.visible_only.count) == 2
    assert sorted(t.name for t in await run.list(Tag.visible_only.all())) == ["alpha", "beta"]
    assert await run(Tag.visible_only.filter(name__startswith="alp").count) == 1
    assert (await run(Tag.visible_only.first)).name == "alpha"
    with pytest.raises(Tag.DoesNotExist):
        await run(Tag.visible_only.get, name="gamma")  # filtered out by the manager
    assert await run(Tag.objects.count) == 4  # the default manager sees everything
    tag = await run(Tag.visible_only.create, name="delta")
    assert tag.pk is not None and await run(Tag.objects.count) == 5


@pytest.mark.usefixtures("tags")
async def test_manager_proxies_every_async_twin(run: Any) -> None:
    assert await run(Tag.objects.exists) is True
    assert (await run(Tag.objects.last)).name == "gamma"
    assert (await run(Tag.objects.get_or_create, name="alpha"))[1] is False
    assert await run(Tag.objects.aggregate, n=dorm.Count("id")) == {"n": 4}
    assert sorted(await run(Tag.objects.in_bulk, [1, 2])) == [1, 2]
