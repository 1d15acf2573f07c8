"""User-facing typing of models, checked by ``test_typing.py`` with ``mypy --strict``.

Never imported by the tests: mypy reads it and its ``reveal_type`` lines are asserted on.
"""

from __future__ import annotations

import datetime
import decimal
from typing import reveal_type

import dorm


class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    age = dorm.IntegerField(null=True)
    rating = dorm.DecimalField(max_digits=4, decimal_places=2)
    joined = dorm.DateTimeField(auto_now_add=True)
    active = dorm.BooleanField(default=True)

    class Meta:
        app_label = "typing_example"


def sync_usage() -> None:
    author = Author.objects.get(name="x")
    reveal_type(author)  # R: Author
    reveal_type(author.name)  # R: str
    reveal_type(author.age)  # R: int
    reveal_type(author.rating)  # R: Decimal
    reveal_type(author.joined)  # R: datetime
    reveal_type(author.active)  # R: bool
    reveal_type(author.pk)  # R: Any
    reveal_type(Author.objects.first())  # R: Author | None
    reveal_type(Author.objects.filter(name="x"))  # R: QuerySet[Author]
    reveal_type(
        Author.objects.filter(name="x").exclude(age=3).order_by("name")
    )  # R: QuerySet[Author]
    reveal_type(Author.objects.filter(name="x")[0])  # R: Author
    reveal_type(Author.objects.create(name="y"))  # R: Author
    reveal_type(Author.objects.get_or_create(name="y"))  # R: tuple[Author, bool]
    reveal_type(Author.objects.count())  # R: int
    reveal_type(Author.objects.in_bulk([1]))  # R: dict[Any, Author]
    reveal_type(Author.name)  # R: CharField
    for obj in Author.objects.all():
        reveal_type(obj)  # R: Author
    author.name = "renamed"
    author.save()
    when: datetime.datetime = author.joined
    price: decimal.Decimal = author.rating
    del when, price


async def async_usage() -> None:
    author = await Author.objects.aget(pk=1)
    reveal_type(author)  # R: Author
    reveal_type(author.name)  # R: str
    reveal_type(await Author.objects.afirst())  # R: Author | None
    reveal_type(await Author.objects.acount())  # R: int
    async for obj in Author.objects.filter(age__gt=3):
        reveal_type(obj)  # R: Author
    await author.asave()
