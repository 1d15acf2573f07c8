"""dorm.contrib.bulk_copy on a real PostgreSQL: COPY FROM / COPY TO, sync and async.

The seed's example, every field type in and out (binary and text COPY), bounded memory for a
generator of 2,000,000 rows (measured in a subprocess), atomicity, transactions, sources that
query the database, early exits, and the errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import decimal
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from helpers import Runner

import dorm
from dorm import exceptions, transaction
from dorm.conf import settings
from dorm.contrib.bulk_copy import abulk_copy_from, acopy_to, bulk_copy_from, copy_to
from dorm.db import async_connections, connections
from dorm.models.fields import DATABASE_DEFAULT
from dorm.testing import CaptureQueries
from dorm_postgres.fields import ArrayField

UTC = datetime.UTC
PROBE = Path(__file__).resolve().parent / "probes" / "copy_rss.py"
APP = "pg_it_copy"


class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    age = dorm.IntegerField()

    class Meta:
        app_label = APP
        db_table = "authors"


class Book(dorm.Model):
    """A second table for sources that read ``Author`` while copying."""

    title = dorm.CharField(max_length=100)
    pages = dorm.IntegerField(db_default=100)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, null=True, related_name="books")

    class Meta:
        app_label = APP
        db_table = "pg_it_copy_book"


class Fields(dorm.Model):
    name = dorm.CharField(max_length=40)
    body = dorm.TextField(default="")
    count = dorm.IntegerField(default=7)
    big = dorm.BigIntegerField(null=True)
    small = dorm.SmallIntegerField(null=True)
    flag = dorm.BooleanField(default=False)
    ratio = dorm.FloatField(null=True)
    amount = dorm.DecimalField(max_digits=12, decimal_places=3, null=True)
    created = dorm.DateTimeField(auto_now_add=True)
    moment = dorm.DateTimeField(null=True)
    day = dorm.DateField(null=True)
    clock = dorm.TimeField(null=True)
    span = dorm.DurationField(null=True)
    uid = dorm.UUIDField(default=uuid.uuid4)
    data = dorm.JSONField(null=True)
    tags = ArrayField(dorm.CharField(max_length=20), default=list)
    scores = ArrayField(dorm.IntegerField(), null=True)
    blob = dorm.BinaryField(null=True)

    class Meta:
        abstract = True


class Everything(Fields):
    """Every column type allows binary COPY."""

    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, null=True, related_name="things")

    class Meta:
        app_label = APP
        db_table = "pg_it_copy_everything"


class EverythingText(Fields):
    """An ``inet`` column (a str the binary dumper does not take): the COPY is text."""

    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, null=True, related_name="texts")
    ip = dorm.GenericIPAddressField(null=True)

    class Meta:
        app_label = APP
        db_table = "pg_it_copy_everything_text"


MODELS = [Author, Book, Everything, EverythingText]


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture
def pg(configure_pg: Any, tables: Any) -> Any:
    configure_pg()
    tables(*MODELS)
    return connections["default"]


async def copy_in(run: Runner, model: Any, objs: Any, **kwargs: Any) -> int:
    if run.is_async:
        return await abulk_copy_from(model, objs, **kwargs)
    return bulk_copy_from(model, objs, **kwargs)


async def copy_out(run: Runner, query: Any, params: Any = None, **kwargs: Any) -> list[Any]:
    if run.is_async:
        return [row async for row in acopy_to(query, params, **kwargs)]
    return list(copy_to(query, params, **kwargs))


def count(admin: psycopg.Connection[Any], table: str) -> int:
    row = admin.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


async def agen(items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


# The seed's example ------------------------------------------------------------------------


def test_the_seed_example(pg: Any) -> None:
    rows: list[tuple[Any, ...]] = []

    def process(row: tuple[Any, ...]) -> None:
        rows.append(row)

    # As written in the seed:
    n: int = bulk_copy_from(
        Author,
        [Author(name=f"a-{i}", age=i) for i in range(50_000)],
    )

    for row in copy_to('SELECT id, name FROM "authors"'):
        process(row)

    assert n == 50_000
    assert sorted(rows) == [(i + 1, f"a-{i}") for i in range(50_000)]
    assert Author.objects.filter(age__gte=49_990).count() == 10
    assert Author.objects.get(name="a-123").age == 123


async def test_the_seed_example_async(pg: Any) -> None:
    def generator() -> Iterator[Author]:
        for i in range(50_000):
            yield Author(name=f"a-{i}", age=i)

    assert await abulk_copy_from(Author, generator()) == 50_000
    sql = 'SELECT id, name FROM "authors"'
    rows = [row async for row in acopy_to(sql)]
    assert sorted(rows) == [(i + 1, f"a-{i}") for i in range(50_000)]


# Every field type, 50,000 rows in and out -------------------------------------------------


def make_fields(model: Any, i: int, author_ids: list[int]) -> Any:
    """Row ``i``: every value exact-representable, with NULLs and awkward text mixed in."""
    extra = (
        {"ip": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
        if model is EverythingText
        else {}
    )
    return model(
        name=f"n-{i}",
        body=f"tab\there\nnew line \\ back é {i}" if i % 7 == 0 else f"body {i}",
        count=i,
        big=2**40 + i if i % 5 else None,
        small=i % 30_000 - 15_000,
        flag=i % 2 == 0,
        ratio=i / 7,
        amount=decimal.Decimal(i).scaleb(-3) if i % 11 else None,
        moment=datetime.datetime(2024, 1, 1, tzinfo=UTC)
        + datetime.timedelta(seconds=i, microseconds=i % 1_000_000),
        day=datetime.date(2000, 1, 1) + datetime.timedelta(days=i % 10_000),
        clock=datetime.time(i % 24, i % 60, (i * 7) % 60, i % 1_000_000),
        span=datetime.timedelta(days=i % 3, seconds=i, microseconds=i % 1000),
        data={"i": i, "s": 'é "quoted"\t', "l": [1, None, True, 2.5]} if i % 3 else None,
        tags=[f"t{i % 5}", "x,y", 'q"uote', "", "{brace}"] if i % 4 else [],
        scores=[i, None, -i] if i % 6 else None,
        blob=bytes([i % 256, 0, 255, 10, 92]),
        author_id=author_ids[i % len(author_ids)] if i % 2 else None,
        **extra,
    )


def expected_row(obj: Any, pk: int) -> tuple[Any, ...]:
    values = [pk]
    for field in obj._meta.concrete_fields[1:]:
        values.append(obj.__dict__[field.attname])
    return tuple(values)


@pytest.mark.parametrize("model", [Everything, EverythingText], ids=["binary", "text"])
async def test_every_field_type_50000_rows_in_and_out(pg: Any, run: Runner, model: Any) -> None:
    authors = [Author(name=f"author-{i}", age=i) for i in range(5)]
    Author.objects.bulk_create(authors)
    author_ids = [a.pk for a in authors]
    objs = [make_fields(model, i, author_ids) for i in range(50_000)]
    before = datetime.datetime.now(UTC)
    with CaptureQueries() as captured:
        n = await copy_in(run, model, iter(objs) if run.is_async else (o for o in objs))
    after = datetime.datetime.now(UTC)
    assert n == 50_000
    copies = [q for q in captured.queries if q.startswith("COPY")]
    assert len(copies) == 1
    assert ("FORMAT BINARY" in copies[0]) is (model is Everything), copies[0]

    # auto_now_add and the uuid default were applied to each instance, and sent.
    assert all(before <= o.created <= after for o in objs)
    assert len({o.uid for o in objs}) == 50_000
    assert all(o.pk is None for o in objs)  # COPY returns no primary keys

    out = await copy_out(run, model.objects.order_by("id"))
    assert len(out) == 50_000
    for i, (row, obj) in enumerate(zip(out, objs, strict=True)):
        assert row == expected_row(obj, i + 1), (i, row)

    # The raw-SQL form gives what connection.fetchall() gives for the same SQL.
    sql = f'SELECT id, data, tags, amount, moment FROM "{model._meta.db_table}" ORDER BY id'
    raw_rows = await copy_out(run, sql)
    assert raw_rows[:500] == pg.fetchall(sql + " LIMIT 500")
    assert isinstance(raw_rows[1][1], str)  # JSON as the driver returns it: text
    assert json.loads(raw_rows[1][1]) == objs[1].data

    # And the ORM reads back what went in.
    sample = await run.list(model.objects.filter(pk__in=[1, 2, 8, 13, 49_999]).order_by("pk"))
    for obj in sample:
        source = objs[obj.pk - 1]
        for field in model._meta.concrete_fields[1:]:
            assert getattr(obj, field.attname) == getattr(source, field.attname), field.name


# Memory ------------------------------------------------------------------------------------


@pytest.fixture
def rss_table(postgres: Any) -> Iterator[str]:
    name = "pg_it_copy_rss"
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')
        conn.execute(
            f'CREATE TABLE "{name}" (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, '
            "n integer NOT NULL, label varchar(40) NOT NULL, data jsonb, "
            "created timestamptz NOT NULL)"
        )
    yield name
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{name}"')


def run_probe(dsn: str, table: str, mode: str, rows: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(PROBE), dsn, table, mode, str(rows)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_generator_of_2_million_rows_runs_in_bounded_memory(
    postgres: Any, rss_table: str, admin: psycopg.Connection[Any], mode: str
) -> None:
    rows = 2_000_000
    data = run_probe(postgres.dsn, rss_table, mode, rows)
    print(f"\n{mode} bulk_copy_from(generator of {rows:,} rows): {data}")
    assert data["rows"] == rows
    assert count(admin, rss_table) == rows + 20_000  # + the probe's warm-up
    assert data["growth_mb"] < 50, data


@pytest.mark.slow
def test_the_memory_bound_is_meaningful(postgres: Any, rss_table: str) -> None:
    """Control: a list of a quarter as many instances already exceeds the bound."""
    data = run_probe(postgres.dsn, rss_table, "list", 500_000)
    print(f"\nbulk_copy_from(list of 500,000 instances): {data}")
    assert data["rows"] == 500_000
    assert data["growth_mb"] > 50, data


# Atomicity and transactions ----------------------------------------------------------------


@pytest.mark.parametrize("source", ["list", "generator"])
async def test_a_failing_row_leaves_nothing_behind(
    pg: Any, run: Runner, admin: psycopg.Connection[Any], source: str
) -> None:
    objs = [Author(name=f"a-{i}", age=i) for i in range(5_000)]
    objs[3_000].name = None  # NOT NULL violation in the middle of the stream
    src: Any = objs if source == "list" else (o for o in objs)
    with pytest.raises(exceptions.IntegrityError) as info:
        await copy_in(run, Author, src)
    message = str(info.value)
    assert 'null value in column "name"' in message and "not-null" in message, message
    assert isinstance(info.value.__cause__, psycopg.errors.NotNullViolation)
    assert count(admin, "authors") == 0
    # The alias is fine afterwards.
    assert await copy_in(run, Author, [Author(name="ok", age=1)]) == 1


async def test_inside_atomic_the_copy_is_part_of_the_transaction(
    pg: Any, run: Runner, admin: psycopg.Connection[Any]
) -> None:
    with pytest.raises(RuntimeError):
        async with run.atomic():
            await copy_in(run, Author, [Author(name=f"a-{i}", age=i) for i in range(100)])
            assert await run(Author.objects.count) == 100  # visible inside
            assert count(admin, "authors") == 0  # not outside
            raise RuntimeError("roll back")
    assert count(admin, "authors") == 0

    async with run.atomic():
        await run(Author.objects.create, name="before", age=0)
        # A failing copy only rolls back its own savepoint: the block goes on.
        with pytest.raises(exceptions.IntegrityError):
            await copy_in(run, Author, [Author(name=None, age=1)])
        await copy_in(run, Author, [Author(name="after", age=2)])
    assert sorted(r[0] for r in admin.execute('SELECT name FROM "authors"')) == ["after", "before"]


async def test_primary_keys_autoincrement_unless_set(pg: Any, run: Runner) -> None:
    assert await copy_in(run, Author, [Author(name="auto-1", age=1), Author(name="auto-2", age=2)])
    # Explicit pks are written; a stream mixing both switches column lists as it goes.
    mixed = [
        Author(id=1000, name="explicit-1000", age=3),
        Author(name="auto-3", age=4),
        Author(id=2000, name="explicit-2000", age=5),
        Author(id=2001, name="explicit-2001", age=6),
        Author(name="auto-4", age=7),
    ]
    with CaptureQueries() as captured:
        assert await copy_in(run, Author, iter(mixed)) == 5
    assert len([q for q in captured.queries if q.startswith("COPY")]) == 4
    rows = dict(pg.fetchall('SELECT name, id FROM "authors"'))
    assert rows["explicit-1000"] == 1000 and rows["explicit-2000"] == 2000
    assert rows["explicit-2001"] == 2001
    assert {rows["auto-1"], rows["auto-2"], rows["auto-3"], rows["auto-4"]} == {1, 2, 3, 4}


async def test_db_default_columns_are_left_to_the_database(pg: Any, run: Runner) -> None:
    assert Book(title="x").pages is DATABASE_DEFAULT
    books = [Book(title="default"), Book(title="explicit", pages=7)]
    assert await copy_in(run, Book, books) == 2
    assert dict(pg.fetchall('SELECT title, pages FROM "pg_it_copy_book"')) == {
        "default": 100,
        "explicit": 7,
    }


async def test_batch_size_and_fields(pg: Any, run: Runner) -> None:
    objs = [Author(name=f"a-{i}", age=i) for i in range(1_000)]
    with CaptureQueries() as captured:
        assert await copy_in(run, Author, (o for o in objs), batch_size=300) == 1_000
    assert len([q for q in captured.queries if q.startswith("COPY")]) == 4
    assert await run(Author.objects.count) == 1_000

    with CaptureQueries() as captured:
        n = await copy_in(
            run,
            Author,
            [Author(id=5_000 + i, name="f", age=i) for i in range(3)],
            fields=["pk", "age", "name"],
        )
    assert n == 3
    assert captured.queries[-1] == 'COPY "authors" ("id", "age", "name") FROM STDIN (FORMAT BINARY)'
    assert await run(Author.objects.filter(pk__gte=5_000).count) == 3
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            await copy_in(run, Author, [], batch_size=bad)


async def test_out_of_range_integers_are_errors_not_truncations(pg: Any, run: Runner) -> None:
    """Binary COPY sends fixed-width integers: dorm checks the range instead of wrapping."""
    base = {"name": "x", "created": datetime.datetime.now(UTC)}
    for values, column in (
        ({"count": 2**40}, "count"),
        ({"small": 70_000}, "small"),
        ({"scores": [1, 2**31]}, "scores"),
    ):
        with pytest.raises(exceptions.DataError, match=f"out of range for column '{column}'"):
            await copy_in(run, Everything, [Everything(**base, **values)])
    assert await run(Everything.objects.count) == 0


# Sources that query the database -----------------------------------------------------------


async def test_a_source_may_query_the_same_database_outside_a_transaction(
    pg: Any, run: Runner
) -> None:
    Author.objects.bulk_create([Author(name=f"a-{i}", age=i) for i in range(3_000)])
    if run.is_async:

        async def books() -> AsyncIterator[Book]:
            async for author in Author.objects.order_by("id").aiterator(chunk_size=500):
                assert await Author.objects.filter(pk=author.pk).aexists()
                yield Book(title=f"by {author.name}", author=author)

        n = await abulk_copy_from(Book, books())
    else:

        def sync_books() -> Iterator[Book]:
            for author in Author.objects.order_by("id").iterator(chunk_size=500):
                assert Author.objects.filter(pk=author.pk).exists()
                yield Book(title=f"by {author.name}", author=author)

        n = bulk_copy_from(Book, sync_books())
    assert n == 3_000
    assert await run(Book.objects.filter(author__name="a-2999", title="by a-2999").count) == 1


async def test_a_source_querying_the_transactions_connection_raises_instead_of_deadlocking(
    pg: Any, run: Runner
) -> None:
    Author.objects.create(name="a", age=1)

    def sync_source() -> Iterator[Book]:
        yield Book(title="first")
        Author.objects.count()  # same alias, same thread, while the COPY holds the connection
        yield Book(title="second")

    async def async_source() -> AsyncIterator[Book]:
        yield Book(title="first")
        await Author.objects.acount()
        yield Book(title="second")

    if run.is_async:

        async def attempt() -> None:
            async with transaction.aatomic():
                await abulk_copy_from(Book, async_source())

        with pytest.raises(exceptions.ProgrammingError, match="deadlock"):
            await asyncio.wait_for(attempt(), 30)
    else:
        outcome: list[BaseException] = []

        def attempt_sync() -> None:
            try:
                with transaction.atomic():
                    bulk_copy_from(Book, sync_source())
            except BaseException as exc:
                outcome.append(exc)
            finally:
                connections["default"].close()

        thread = threading.Thread(target=attempt_sync)
        thread.start()
        thread.join(30)
        assert not thread.is_alive(), "bulk_copy_from() deadlocked"
        assert isinstance(outcome[0], exceptions.ProgrammingError), outcome
        assert "deadlock" in str(outcome[0])
    assert await run(Book.objects.count) == 0


# COPY TO ------------------------------------------------------------------------------------


async def test_copy_to_queryset_params_and_literals(pg: Any, run: Runner) -> None:
    Author.objects.bulk_create([Author(name=f"a-{i}%", age=i) for i in range(100)])
    qs = Author.objects.filter(age__lt=3).order_by("-age")
    assert await copy_out(run, qs) == [(3, "a-2%", 2), (2, "a-1%", 1), (1, "a-0%", 0)]
    assert await copy_out(run, qs.values_list("name", flat=True)) == [
        ("a-2%",),
        ("a-1%",),
        ("a-0%",),
    ]
    assert await copy_out(run, Author.objects.filter(pk__in=[])) == []
    sql = 'SELECT name FROM "authors" WHERE age BETWEEN %s AND %s AND name LIKE %s ORDER BY age'
    assert await copy_out(run, sql, [10, 11, "a-1%%"]) == [("a-10%",), ("a-11%",)]
    literal = "SELECT count(*) FROM \"authors\" WHERE name LIKE '%%0\\%%'"
    assert await copy_out(run, literal) == [(10,)]
    with pytest.raises(TypeError):
        await copy_out(run, qs, [1])
    with pytest.raises(exceptions.ProgrammingError):
        await copy_out(run, 'SELECT nope FROM "authors"')


async def test_copy_to_inside_a_transaction_and_leaving_early(
    pg: Any, run: Runner, admin: psycopg.Connection[Any]
) -> None:
    Author.objects.bulk_create([Author(name=f"a-{i}", age=i) for i in range(20_000)])
    sql = 'SELECT id, name FROM "authors" ORDER BY id'

    def backends() -> int:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        return int(admin.execute(sql).fetchone()[0])  # type: ignore[index]

    before = backends()

    # Outside a transaction: leaving early drops the dedicated connection.
    for _ in range(3):
        if run.is_async:
            async with contextlib.aclosing(acopy_to(sql)) as rows:
                async for row in rows:
                    if row[0] == 10:
                        break
        else:
            it = copy_to(sql)
            for row in it:
                if row[0] == 10:
                    break
            it.close()
        assert await run(Author.objects.count) == 20_000
    assert backends() <= before + 1  # no connection left behind per early exit

    # Inside one: the copy sees the transaction's rows; leaving early keeps it usable.
    async with run.atomic():
        await run(Author.objects.create, name="uncommitted", age=-1)
        rows = await copy_out(run, 'SELECT name FROM "authors" WHERE age < 0')
        assert rows == [("uncommitted",)]
        if run.is_async:
            async with contextlib.aclosing(acopy_to(sql)) as stream:
                async for row in stream:
                    if row[0] == 5:
                        break
        else:
            it = copy_to(sql)
            for row in it:
                if row[0] == 5:
                    break
            it.close()
        await run(Author.objects.create, name="after", age=-2)
    assert await run(Author.objects.filter(age__lt=0).count) == 2


# Errors and other backends -----------------------------------------------------------------


async def test_wrong_objects_and_expressions(pg: Any, run: Runner) -> None:
    with pytest.raises(TypeError, match="expected Author instances"):
        await copy_in(run, Author, [Book(title="x")])
    with pytest.raises(TypeError, match="expected Author instances"):
        await copy_in(run, Author, [("a", 1)])
    with pytest.raises(TypeError, match="cannot write an expression"):
        await copy_in(run, Author, [Author(name="x", age=dorm.F("age") + 1)])
    with pytest.raises(TypeError):
        await copy_out(run, 42)
    assert await run(Author.objects.count) == 0


async def test_other_backends_raise_not_supported(
    configure_pg: Any, tmp_path: Path, run: Runner
) -> None:
    configure_pg()
    lite = {"ENGINE": "sqlite", "NAME": str(tmp_path / "lite.sqlite3")}
    dorm.configure(DATABASES={**settings.DATABASES, "lite": lite})
    with pytest.raises(exceptions.NotSupportedError, match="needs PostgreSQL"):
        await copy_in(run, Author, [Author(name="x", age=1)], using="lite")
    with pytest.raises(exceptions.NotSupportedError, match="needs PostgreSQL"):
        await copy_out(run, "SELECT 1", using="lite")
    if run.is_async:
        await async_connections["lite"].close()


async def test_pooled_alias(configure_pg: Any, tables: Any, run: Runner) -> None:
    configure_pg(pool={"min_size": 1, "max_size": 3})
    tables(*MODELS)
    for _ in range(5):  # connections go back to the pool every time
        assert await copy_in(run, Author, (Author(name="p", age=i) for i in range(100))) == 100
        assert len(await copy_out(run, Author.objects.all())) > 0
    assert await run(Author.objects.count) == 500
