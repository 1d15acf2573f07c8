"""dorm in five minutes: models, a database, CRUD and queries — sync and async.

Run it with ``hatch run demo`` (or ``python examples/quickstart/demo.py`` with dorm-core
and dorm-sqlite installed). The models are in ``shop/models.py``; the demo writes their
migration with ``makemigrations``, applies it with ``migrate``, then uses them — in a
temporary copy of the project, leaving nothing behind.
"""

from __future__ import annotations

import asyncio
import decimal
import shutil
import sys
import tempfile
from pathlib import Path

import dorm
from dorm import Count, F, Q, Sum, transaction
from dorm.db import aclose_all, close_all

HERE = Path(__file__).resolve().parent

# Work on a copy of the project in a temporary directory: the demo writes the app's
# migrations and a database, and leaves nothing behind.
workdir = Path(tempfile.mkdtemp(prefix="dorm-quickstart-"))
shutil.copytree(HERE / "shop", workdir / "shop", ignore=shutil.ignore_patterns("__pycache__"))
sys.path.insert(0, str(workdir))
dorm.configure(
    DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(workdir / "shop.sqlite3")}},
    INSTALLED_APPS=["shop"],
)

from shop.models import Author, Book, Tag  # noqa: E402


def create_tables() -> None:
    """What `dorm makemigrations` and `dorm migrate` do on the command line."""
    dorm.call_command("makemigrations")
    print(
        "wrote", ", ".join(p.name for p in sorted((workdir / "shop" / "migrations").glob("0*.py")))
    )
    dorm.call_command("migrate")


def sync_part() -> None:
    ann = Author.objects.create(name="Ann Leckie", email="ann@example.com")
    ted = Author.objects.create(name="Ted Chiang", email="ted@example.com")
    scifi, short = Tag.objects.create(name="scifi"), Tag.objects.create(name="short")

    with transaction.atomic():
        b1 = Book.objects.create(
            title="Ancillary Justice", price=decimal.Decimal("9.99"), author=ann
        )
        b2 = Book.objects.create(title="Exhalation", price=decimal.Decimal("14.50"), author=ted)
        b3 = Book.objects.create(
            title="Stories of Your Life", price=decimal.Decimal("12.00"), author=ted
        )
        b1.tags.add(scifi)
        b2.tags.add(scifi, short)
        b3.tags.add(short)

    print("authors:", list(Author.objects.values_list("name", flat=True)))
    print("cheap books:", [str(b) for b in Book.objects.filter(price__lt=13).order_by("price")])
    print(
        "Ted's short stories:",
        Book.objects.filter(author__name__startswith="Ted", tags__name="short").count(),
    )
    print(
        "scifi or under 10:",
        Book.objects.filter(Q(tags__name="scifi") | Q(price__lt=10)).distinct().count(),
    )

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
