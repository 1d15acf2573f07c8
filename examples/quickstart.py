"""dorm in five minutes: models, a database, CRUD and queries — sync and async.

Run it with ``hatch run demo`` (or ``python examples/quickstart.py`` with dorm-core and
dorm-sqlite installed). It works in a temporary directory and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import decimal
import os
import shutil
import tempfile

import dorm
from dorm import Count, F, Q, Sum, transaction
from dorm.db import aclose_all, close_all, connections

workdir = tempfile.mkdtemp(prefix="dorm-quickstart-")
dorm.configure(
    DATABASES={"default": {"ENGINE": "sqlite", "NAME": os.path.join(workdir, "shop.sqlite3")}}
)


class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    email = dorm.EmailField(unique=True)

    class Meta:
        app_label = "shop"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(dorm.Model):
    name = dorm.SlugField(unique=True)

    class Meta:
        app_label = "shop"


class Book(dorm.Model):
    title = dorm.CharField(max_length=200)
    price = dorm.DecimalField(max_digits=6, decimal_places=2)
    in_print = dorm.BooleanField(default=True)
    published = dorm.DateField(null=True)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    tags = dorm.ManyToManyField(Tag, related_name="books")

    class Meta:
        app_label = "shop"

    def __str__(self) -> str:
        return self.title


def create_tables() -> None:
    with connections["default"].schema_editor() as editor:
        for model in (Author, Tag, Book):
            editor.create_model(model)


def sync_part() -> None:
    ann = Author.objects.create(name="Ann Leckie", email="ann@example.com")
    ted = Author.objects.create(name="Ted Chiang", email="ted@example.com")
    scifi, short = Tag.objects.create(name="scifi"), Tag.objects.create(name="short")

    with transaction.atomic():
        b1 = Book.objects.create(title="Ancillary Justice", price=decimal.Decimal("9.99"), author=ann)
        b2 = Book.objects.create(title="Exhalation", price=decimal.Decimal("14.50"), author=ted)
        b3 = Book.objects.create(title="Stories of Your Life", price=decimal.Decimal("12.00"), author=ted)
        b1.tags.add(scifi)
        b2.tags.add(scifi, short)
        b3.tags.add(short)

    print("authors:", list(Author.objects.values_list("name", flat=True)))
    print("cheap books:", [str(b) for b in Book.objects.filter(price__lt=13).order_by("price")])
    print("Ted's short stories:", Book.objects.filter(author__name__startswith="Ted", tags__name="short").count())
    print("scifi or under 10:", Book.objects.filter(Q(tags__name="scifi") | Q(price__lt=10)).distinct().count())

    per_author = Author.objects.annotate(n=Count("books"), total=Sum("books__price")).order_by("-n")
    for author in per_author:
        print(f"  {author.name}: {author.n} book(s), {author.total} total")

    Book.objects.filter(author=ted).update(price=F("price") + 1)
    b2.refresh_from_db()
    print("Exhalation after the price rise:", b2.price)

    for book in Book.objects.select_related("author").prefetch_related("tags"):
        print(f"  {book.title} by {book.author.name}: {[t.name for t in book.tags.all()]}")

    deleted, per_model = ted.delete()
    print("deleting Ted removed", deleted, "rows:", per_model)


async def async_part() -> None:
    author = await Author.objects.acreate(name="Becky Chambers", email="becky@example.com")
    async with transaction.aatomic():
        book = await Book.objects.acreate(
            title="A Psalm for the Wild-Built", price=decimal.Decimal("11.00"), author=author
        )
    print("async count:", await Book.objects.acount())
    async for b in Book.objects.filter(price__gte=10).order_by("title"):
        await b.afetch_related("author")
        print(f"  async: {b.title} by {b.author.name}")
    fetched = await Book.objects.aget(pk=book.pk)
    print("async get:", fetched.title)
    await aclose_all()


def main() -> None:
    create_tables()
    sync_part()
    asyncio.run(async_part())
    close_all()
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
