"""Acceptance: bad input fails early with messages that say what was wrong — unknown fields
and lookups list the valid choices, wrong value types name the field, ``get()`` names the
lookup — identically from sync and async calls."""

from __future__ import annotations

from typing import Any

import pytest
from orm_models import AllTypes, Author, Event

import dorm
from dorm import F, Q
from dorm.exceptions import FieldError, ObjectDoesNotExist, ValidationError

pytestmark = pytest.mark.usefixtures("orm")

AUTHOR_FIELDS = ["active", "age", "bio", "email", "id", "name", "rating"]


async def test_unknown_field_in_filter_lists_the_choices(run: Any) -> None:
    with pytest.raises(FieldError) as info:
        await run(Author.objects.filter(nam="x").count)
    message = str(info.value)
    assert "Cannot resolve keyword 'nam' into field" in message
    assert "Choices are:" in message
    for name in AUTHOR_FIELDS:
        assert name in message
    assert "Did you mean 'name'?" in message


@pytest.mark.parametrize(
    "build",
    [
        lambda: Author.objects.exclude(nope=1),
        lambda: Author.objects.filter(Q(name="x") | Q(nope=1)),
        lambda: Author.objects.order_by("-nope"),
        lambda: Author.objects.values("nope"),
        lambda: Author.objects.values_list("name", "nope"),
        lambda: Author.objects.filter(age=F("nope")),
        lambda: Author.objects.annotate(x=F("nope")),
        lambda: Author.objects.filter(nope__icontains="x"),
    ],
)
def test_unknown_field_everywhere_raises_field_error(build: Any) -> None:
    with pytest.raises(FieldError, match="nope"):
        build()


async def test_unknown_field_in_writes(run: Any) -> None:
    with pytest.raises(FieldError, match="nope"):
        await run(Author.objects.update, nope=1)
    with pytest.raises(TypeError, match="nope"):
        await run(Author.objects.create, name="x", nope=1)
    with pytest.raises(FieldError, match="nope"):
        await run(Author.objects.get_or_create, name="x", defaults={"nope": 1})
    assert await run(Author.objects.count) == 0


async def test_unknown_lookup_lists_valid_lookups(run: Any) -> None:
    with pytest.raises(FieldError) as info:
        await run(Author.objects.filter(name__icontain="x").count)
    message = str(info.value)
    assert "icontain" in message and "CharField" in message
    assert "icontains" in message  # the hint / the valid choices
    with pytest.raises(FieldError, match="year"):
        Author.objects.filter(name__year=2020)  # a date transform on a text field
    with pytest.raises(FieldError, match="nope"):
        Event.objects.filter(when__year__nope=3)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"age": "old"}, (TypeError, ValidationError)),
        ({"age__gt": "old"}, (TypeError, ValidationError)),
        ({"age__in": ["1", "old"]}, (TypeError, ValidationError)),
        ({"pk": "not-a-number"}, (TypeError, ValidationError)),
        ({"rating__lt": "high"}, (TypeError, ValidationError)),
        ({"active": "maybe"}, (TypeError, ValidationError)),
    ],
)
async def test_wrong_value_types_name_the_field(run: Any, kwargs: Any, error: Any) -> None:
    field = next(iter(kwargs)).split("__")[0]
    field = {"pk": "id"}.get(field, field)
    with pytest.raises(error, match=f"'{field}'"):
        await run(Author.objects.filter(**kwargs).count)


def test_lookup_argument_shapes() -> None:
    with pytest.raises(TypeError, match="iterable"):
        Author.objects.filter(age__in=3)
    with pytest.raises(TypeError, match="iterable"):
        Author.objects.filter(name__in="abc")
    with pytest.raises(TypeError, match="range"):
        Author.objects.filter(age__range=3)
    with pytest.raises(ValueError, match="isnull"):
        Author.objects.filter(age__isnull="yes")
    with pytest.raises(ValueError, match="None"):
        Author.objects.filter(name__contains=None)
    with pytest.raises(TypeError):
        Author.objects.filter(Q(name="x") | "name")  # type: ignore[operator]


async def test_wrong_value_types_on_save_name_the_field(run: Any) -> None:
    with pytest.raises((TypeError, ValidationError), match="'day'"):
        await run(AllTypes.objects.create, day="not a date")
    with pytest.raises((TypeError, ValidationError), match="'uid'"):
        await run(AllTypes.objects.create, uid=1.5)
    with pytest.raises((TypeError, ValidationError), match="'span'"):
        await run(AllTypes.objects.create, span="a while")
    obj = await run(AllTypes.objects.create)
    obj.moment = "someday"
    with pytest.raises((TypeError, ValidationError), match="'moment'"):
        await run(obj.save)
    assert await run(AllTypes.objects.count) == 1


async def test_get_errors_name_the_lookup(run: Any) -> None:
    await run(Author.objects.create, name="Twin", age=1)
    await run(Author.objects.create, name="Twin", age=2)
    with pytest.raises(Author.DoesNotExist) as missing:
        await run(Author.objects.get, name="Nobody", age=3)
    assert "Author matching query does not exist" in str(missing.value)
    assert "name='Nobody'" in str(missing.value) and "age=3" in str(missing.value)
    assert isinstance(missing.value, ObjectDoesNotExist)
    with pytest.raises(Author.MultipleObjectsReturned) as many:
        await run(Author.objects.get, name="Twin")
    assert "returned 2" in str(many.value) and "name='Twin'" in str(many.value)
    with pytest.raises(Author.DoesNotExist, match="pk=99"):
        await run(Author.objects.get, pk=99)


async def test_more_than_twenty_matches(run: Any) -> None:
    await run(Author.objects.bulk_create, [Author(name="same") for _ in range(25)])
    with pytest.raises(Author.MultipleObjectsReturned, match="more than 20"):
        await run(Author.objects.get, name="same")


def test_expression_misuse() -> None:
    with pytest.raises(TypeError):
        Author.objects.aggregate(x=F("age"))  # not an aggregate
    with pytest.raises(ValueError, match="conflicts"):
        Author.objects.annotate(name=F("age"))
    with pytest.raises(TypeError):
        Author.objects.annotate(dorm.Sum(F("age") + 1))  # needs an alias
