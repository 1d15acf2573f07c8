"""PostgreSQL-only behaviour of dorm-postgres: types, SQL features, lookups, errors.

Each test body runs sync and async (``run``) where the behaviour has both forms.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import uuid
from typing import Any

import psycopg
import pytest
from helpers import Runner
from pg_models import MODELS, Event, Item, Job, Kind, Tagged, Typed

import dorm
from dorm import exceptions, transaction
from dorm.db import async_connections, connections
from dorm.testing import CaptureQueries

UTC = datetime.UTC


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    return Runner(request.param)


@pytest.fixture
def pg(configure_pg: Any, tables: Any) -> Any:
    configure_pg()
    tables(*MODELS)
    return connections["default"]


def column_types(admin: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = admin.execute(
        "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns "
        "JOIN pg_attribute ON attrelid = %s::regclass AND attname = column_name "
        "WHERE table_name = %s",
        [table, table],
    ).fetchall()
    return dict(rows)


# Types ----------------------------------------------------------------------------------


def test_column_types(pg: Any, admin: psycopg.Connection[Any]) -> None:
    types = column_types(admin, "pg_it_typed")
    assert types == {
        "id": "bigint",
        "data": "jsonb",
        "uid": "uuid",
        "moment": "timestamp with time zone",
        "amount": "numeric(10,3)",
        "blob": "bytea",
        "span": "interval",
        "ip": "inet",
        "day": "date",
        "tags": "character varying(20)[]",
        "scores": "integer[]",
    }
    identity = admin.execute(
        "SELECT is_identity FROM information_schema.columns "
        "WHERE table_name = 'pg_it_typed' AND column_name = 'id'"
    ).fetchone()
    assert identity == ("YES",)


async def test_values_round_trip(pg: Any, run: Runner) -> None:
    values = {
        "data": {"a": [1, 2.5, None, True], "b": {"c": "é"}},
        "uid": uuid.uuid4(),
        "moment": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        "amount": decimal.Decimal("1234.567"),
        "blob": b"\x00\x01\xffbytes",
        "span": datetime.timedelta(days=3, hours=4, microseconds=5),
        "ip": "2001:db8::1",
        "day": datetime.date(2024, 2, 29),
        "tags": ["a", "b'c", 'd"e'],
        "scores": [3, 1, 2],
    }
    obj = await run(Typed.objects.create, **values)
    fetched = await run(Typed.objects.get, pk=obj.pk)
    for name, value in values.items():
        assert getattr(fetched, name) == value, name
    assert fetched.moment.utcoffset() == datetime.timedelta(0)
    assert isinstance(fetched.amount, decimal.Decimal)
    assert isinstance(fetched.blob, bytes)
    # Filters take the same Python values.
    for name in ("data", "uid", "moment", "amount", "blob", "span", "ip", "day", "tags"):
        assert await run(Typed.objects.filter(**{name: values[name]}).count) == 1, name


async def test_json_scalars_and_null(pg: Any, run: Runner) -> None:
    for value in ["text", 42, 1.5, True, [1, "x"], None]:
        obj = await run(Typed.objects.create, data=value)
        assert (await run(Typed.objects.get, pk=obj.pk)).data == value
    # A Python None is stored as SQL NULL; data=None matches only a JSON null (as Django).
    await run(Typed.objects.create)
    assert await run(Typed.objects.filter(data=None).count) == 0
    assert await run(Typed.objects.filter(data__isnull=True).count) == 2
    await run(Typed.objects.create, data={"k": None})
    assert await run(Typed.objects.filter(data__k=None).count) == 1


# Inserts: RETURNING, ON CONFLICT -----------------------------------------------------------


async def test_bulk_create_sets_primary_keys_with_returning(pg: Any, run: Runner) -> None:
    with CaptureQueries() as log:
        kinds = await run(Kind.objects.bulk_create, [Kind(name=f"k{i}") for i in range(5)])
    assert all(k.pk is not None for k in kinds)
    assert len({k.pk for k in kinds}) == 5
    assert len(log) == 1 and "RETURNING" in log.queries[0]
    assert sorted(k.pk for k in kinds) == sorted(
        await run.list(Kind.objects.values_list("pk", flat=True))
    )


async def test_bulk_create_binds_one_array_per_column(pg: Any, run: Runner) -> None:
    """Rows of plain columns go as UNNEST arrays (one parameter per column): the values, NULLs,
    pks and their order come back as with one placeholder per value."""
    kinds = await run(Kind.objects.bulk_create, [Kind(name="x"), Kind(name="y", count=4)])
    rows = [Item(kind=kinds[i % 2], label=f"l{i}", rank=i) for i in range(7)]
    with CaptureQueries() as log:
        made = await run(Item.objects.bulk_create, rows)
    (sql,) = log.queries
    assert "SELECT * FROM UNNEST(%s::bigint[], %s::varchar[], %s::integer[])" in sql
    assert [len(p) for p in log.captured[0]["params"]] == [7, 7, 7]
    assert [o.rank for o in made] == list(range(7))
    back = await run.list(Item.objects.order_by("pk").values_list("pk", "kind_id", "label", "rank"))
    assert back == [(o.pk, o.kind_id, o.label, o.rank) for o in made]
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    typed = [
        Typed(uid=uuid.UUID(int=i), moment=moment, amount=decimal.Decimal("1.250"), day=None)
        for i in range(3)
    ] + [Typed(span=datetime.timedelta(seconds=90), day=datetime.date(2026, 5, 6))]
    with CaptureQueries() as log:
        await run(Typed.objects.bulk_create, typed)
    assert "UNNEST" not in log.queries[0]  # JSON, binary, array, inet columns: one per value
    got = await run.list(Typed.objects.order_by("pk").values_list("uid", "moment", "span", "day"))
    assert got[0] == (uuid.UUID(int=0), moment, None, None)
    assert got[3] == (None, None, datetime.timedelta(seconds=90), datetime.date(2026, 5, 6))


async def test_bulk_create_arrays_keep_the_column_checks(pg: Any, run: Runner) -> None:
    # Too long for varchar(50): rejected as with one placeholder per value, not truncated.
    with pytest.raises(exceptions.DataError):
        await run(Kind.objects.bulk_create, [Kind(name="x" * 60), Kind(name="y" * 60)])
    assert await run(Kind.objects.count) == 0
    # A project's field with its own column type keeps a placeholder per value.
    with CaptureQueries() as log:
        await run(Tagged.objects.bulk_create, [Tagged(tags=["a"]), Tagged(tags=["b", "c"])])
    assert "UNNEST" not in log.queries[0]
    assert await run.list(Tagged.objects.order_by("pk").values_list("tags", flat=True)) == [
        ["a"],
        ["b", "c"],
    ]


async def test_bulk_create_on_conflict(pg: Any, run: Runner) -> None:
    await run(Kind.objects.create, name="a", count=1)
    with CaptureQueries() as log:
        await run(
            Kind.objects.bulk_create,
            [Kind(name="a", count=5), Kind(name="b", count=2)],
            ignore_conflicts=True,
        )
    assert "ON CONFLICT DO NOTHING" in log.queries[0] and "UNNEST" in log.queries[0]
    assert await run.list(Kind.objects.order_by("name").values_list("name", "count")) == [
        ("a", 1),
        ("b", 2),
    ]
    with CaptureQueries() as log:
        await run(
            Kind.objects.bulk_create,
            [Kind(name="a", count=10), Kind(name="c", count=3)],
            update_conflicts=True,
            update_fields=["count"],
            unique_fields=["name"],
        )
    assert 'ON CONFLICT("name") DO UPDATE SET "count" = EXCLUDED."count"' in log.queries[0]
    assert await run.list(Kind.objects.order_by("name").values_list("name", "count")) == [
        ("a", 10),
        ("b", 2),
        ("c", 3),
    ]


# SELECT ... FOR UPDATE, DISTINCT ON ----------------------------------------------------------


async def test_select_for_update_variants(pg: Any, run: Runner) -> None:
    kind = await run(Kind.objects.create, name="k")
    await run(Item.objects.create, kind=kind, label="x")
    cases = [
        ({}, "FOR UPDATE"),
        ({"nowait": True}, "FOR UPDATE NOWAIT"),
        ({"skip_locked": True}, "FOR UPDATE SKIP LOCKED"),
        ({"no_key": True}, "FOR NO KEY UPDATE"),
        ({"of": ("self",)}, 'FOR UPDATE OF "pg_it_item"'),
    ]
    for kwargs, expected in cases:
        async with run.atomic():
            with CaptureQueries() as log:
                rows = await run.list(Item.objects.select_for_update(**kwargs))
        assert [r.label for r in rows] == ["x"]
        assert log.queries[0].endswith(expected), (kwargs, log.queries[0])
    with pytest.raises(exceptions.TransactionManagementError):
        await run.list(Item.objects.select_for_update())


def test_skip_locked_workers_claim_disjoint_rows(pg: Any) -> None:
    Job.objects.bulk_create([Job(created=i) for i in range(20)])
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with transaction.atomic():
                jobs = list(
                    Job.objects.select_for_update(skip_locked=True)
                    .filter(status="pending")
                    .order_by("created")[:5]
                )
                barrier.wait(timeout=10)  # both hold their locks now
                for job in jobs:
                    job.status, job.worker = "running", name
                    job.save()
                claimed[name] = [j.created for j in jobs]
                barrier.wait(timeout=10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(claimed["w0"]) == len(claimed["w1"]) == 5
    assert not set(claimed["w0"]) & set(claimed["w1"])
    assert Job.objects.filter(status="running").count() == 10


def test_nowait_raises_operational_error(pg: Any, admin: psycopg.Connection[Any]) -> None:
    job = Job.objects.create()
    with admin.transaction():
        admin.execute("SELECT * FROM pg_it_job WHERE id = %s FOR UPDATE", [job.pk])
        with pytest.raises(exceptions.OperationalError) as info, transaction.atomic():
            list(Job.objects.select_for_update(nowait=True).filter(pk=job.pk))
    assert info.value.sqlstate == "55P03"  # type: ignore[attr-defined]
    assert isinstance(info.value.__cause__, psycopg.errors.LockNotAvailable)


async def test_distinct_on(pg: Any, run: Runner) -> None:
    a, b = Kind(name="a"), Kind(name="b")
    await run(Kind.objects.bulk_create, [a, b])
    await run(
        Item.objects.bulk_create,
        [
            Item(kind=a, label="a1", rank=2),
            Item(kind=a, label="a2", rank=1),
            Item(kind=b, label="b1", rank=5),
        ],
    )
    qs = Item.objects.order_by("kind_id", "rank").distinct("kind_id")
    assert [i.label for i in await run.list(qs)] == ["a2", "b1"]


# Lookups -------------------------------------------------------------------------------------


async def test_lookup_sql_follows_django_on_postgresql(pg: Any, run: Runner) -> None:
    await run(
        Kind.objects.bulk_create, [Kind(name="Alpha_1"), Kind(name="alpha%2"), Kind(name="Beta")]
    )
    cases = [
        (
            {"name__iexact": "ALPHA_1"},
            ["Alpha_1"],
            'UPPER(("pg_it_kind"."name")::text) LIKE UPPER(%s)',
        ),
        ({"name__icontains": "LPHA"}, ["Alpha_1", "alpha%2"], "LIKE UPPER(%s)"),
        ({"name__contains": "lpha"}, ["Alpha_1", "alpha%2"], '("pg_it_kind"."name")::text LIKE %s'),
        ({"name__contains": "LPHA"}, [], "LIKE %s"),  # case-sensitive
        ({"name__contains": "%"}, ["alpha%2"], "LIKE %s"),  # wildcards are escaped
        ({"name__startswith": "alpha"}, ["alpha%2"], "LIKE %s"),
        ({"name__istartswith": "alpha"}, ["Alpha_1", "alpha%2"], "LIKE UPPER(%s)"),
        ({"name__endswith": "_1"}, ["Alpha_1"], "LIKE %s"),
        ({"name__iendswith": "TA"}, ["Beta"], "LIKE UPPER(%s)"),
        ({"name__regex": "^[AB]"}, ["Alpha_1", "Beta"], "::text ~ %s"),
        ({"name__iregex": "^a"}, ["Alpha_1", "alpha%2"], "::text ~* %s"),
    ]
    for lookup, expected, fragment in cases:
        with CaptureQueries() as log:
            names = await run.list(
                Kind.objects.filter(**lookup).order_by("name").values_list("name", flat=True)
            )
        assert sorted(names) == sorted(expected), lookup
        assert fragment in log.queries[0], (lookup, log.queries[0])


async def test_pattern_lookups_against_expressions(pg: Any, run: Runner) -> None:
    k = await run(Kind.objects.create, name="Abc")
    await run(
        Item.objects.bulk_create,
        [Item(kind=k, label="xxABCxx"), Item(kind=k, label="Abc"), Item(kind=k, label="a%c")],
    )
    qs = Item.objects.order_by("label")
    assert [i.label for i in await run.list(qs.filter(label__icontains=dorm.F("kind__name")))] == [
        "Abc",
        "xxABCxx",
    ]
    assert [i.label for i in await run.list(qs.filter(label__contains=dorm.F("kind__name")))] == [
        "Abc"
    ]


async def test_week_day_is_django_numbering(pg: Any, run: Runner) -> None:
    from dorm.models.lookups import ExtractIsoWeekDay, ExtractWeekDay

    sunday = datetime.datetime(2024, 1, 7, 12, tzinfo=UTC)
    days = [sunday + datetime.timedelta(days=i) for i in range(7)]  # Sun .. Sat
    await run(Event.objects.bulk_create, [Event(name=d.strftime("%a"), when=d) for d in days])
    rows = await run.list(
        Event.objects.annotate(wd=ExtractWeekDay("when"), iwd=ExtractIsoWeekDay("when"))
        .order_by("when")
        .values_list("name", "wd", "iwd")
    )
    assert rows == [
        ("Sun", 1, 7),
        ("Mon", 2, 1),
        ("Tue", 3, 2),
        ("Wed", 4, 3),
        ("Thu", 5, 4),
        ("Fri", 6, 5),
        ("Sat", 7, 6),
    ]
    assert [e.name for e in await run.list(Event.objects.filter(when__week_day=7))] == ["Sat"]
    assert await run(Event.objects.filter(when__year=2024, when__month=1, when__day=9).count) == 1
    assert await run(Event.objects.filter(when__hour=12, when__minute=0, when__second=0).count) == 7
    # ISO weeks: 2024-01-07 (a Sunday) ends week 1.
    assert await run(Event.objects.filter(when__quarter=1, when__week=2).count) == 6


async def test_date_trunc(pg: Any, run: Runner) -> None:
    from dorm.models.functions import TruncMonth

    when = datetime.datetime(2024, 5, 17, 13, 14, 15, tzinfo=UTC)
    await run(Event.objects.create, name="e", when=when)
    rows = await run.list(Event.objects.annotate(m=TruncMonth("when")).values_list("m", flat=True))
    assert rows == [datetime.datetime(2024, 5, 1, tzinfo=UTC)]
    assert await run(Event.objects.filter(when__date=datetime.date(2024, 5, 17)).count) == 1


async def test_json_key_lookups_use_jsonb_operators(pg: Any, run: Runner) -> None:
    await run(
        Typed.objects.bulk_create,
        [
            Typed(data={"owner": {"name": "Bob", "age": 41}, "tags": ["a", "b"], "n": 3}),
            Typed(data={"owner": {"name": "Ann", "age": "unknown"}, "n": "x"}),
            Typed(data={"owner": None}),
            Typed(data=[1, 2]),
        ],
    )
    qs = Typed.objects.order_by("pk")
    with CaptureQueries() as log:
        assert await run(qs.filter(data__owner__name="Bob").count) == 1
    assert "#>" in log.queries[0]
    with CaptureQueries() as log:
        assert await run(qs.filter(data__has_key="owner").count) == 3
    assert " ? %s" in log.queries[0]
    # A numeric comparison ignores values of another JSON type instead of failing.
    assert await run(qs.filter(data__owner__age__gt=40).count) == 1
    assert await run(qs.filter(data__n__gte=1).count) == 1
    assert await run(qs.filter(data__owner=None).count) == 1
    assert await run(qs.filter(data__owner__isnull=True).count) == 1
    assert await run(qs.filter(data__tags__1="b").count) == 1
    assert await run(qs.filter(data__0=1).count) == 1
    assert await run(qs.filter(data__owner__name__icontains="AN").count) == 1


async def test_array_lookups(pg: Any, run: Runner) -> None:
    await run(
        Typed.objects.bulk_create,
        [
            Typed(tags=["db", "py"], scores=[1, 2, 3]),
            Typed(tags=["js"], scores=[]),
            Typed(tags=[], scores=None),
        ],
    )

    async def tags(**lookup: Any) -> list[list[str]]:
        qs = Typed.objects.filter(**lookup).order_by("pk")
        return [t.tags for t in await run.list(qs)]

    assert await tags(tags__contains=["db"]) == [["db", "py"]]
    assert await tags(tags__contained_by=["db", "py", "go"]) == [["db", "py"], []]
    assert await tags(tags__overlap=["js", "py"]) == [["db", "py"], ["js"]]
    assert await tags(tags__len=2) == [["db", "py"]]
    assert await tags(scores__len=0) == [["js"]]
    assert await tags(scores__len__gte=0) == [["db", "py"], ["js"]]
    assert await tags(tags__0="js") == [["js"]]
    assert await tags(tags=["js"]) == [["js"]]
    assert await tags(scores__contains=[2, 3]) == [["db", "py"]]


def test_array_field_validation_and_deconstruct() -> None:
    from dorm_postgres.fields import ArrayField

    field = ArrayField(dorm.CharField(max_length=3), size=2)
    field.set_attributes_from_name("tags")
    with pytest.raises(exceptions.ValidationError):
        field.clean(["a", "b", "c"], None)
    with pytest.raises(exceptions.ValidationError):
        field.clean(["toolong"], None)
    _name, path, _args, kwargs = field.deconstruct()
    assert path == "dorm_postgres.fields.ArrayField"
    assert kwargs["size"] == 2 and kwargs["base_field"].max_length == 3


# Errors ---------------------------------------------------------------------------------------


async def test_integrity_errors_by_sqlstate(pg: Any, run: Runner) -> None:
    await run(Kind.objects.create, name="dup")
    cases: list[tuple[Any, str, type[BaseException]]] = [
        (lambda: run(Kind.objects.create, name="dup"), "23505", psycopg.errors.UniqueViolation),
        (
            lambda: run(Kind.objects.create, name="neg", positive=-1),
            "23514",
            psycopg.errors.CheckViolation,
        ),
        (
            lambda: run.raw("execute", "default", "INSERT INTO pg_it_kind (name) VALUES (NULL)"),
            "23502",
            psycopg.errors.NotNullViolation,
        ),
    ]
    for call, state, cause in cases:
        with pytest.raises(exceptions.IntegrityError) as info:
            await call()
        assert info.value.sqlstate == state  # type: ignore[attr-defined]
        assert isinstance(info.value.__cause__, cause)
    # A foreign key is checked at COMMIT (DEFERRABLE INITIALLY DEFERRED), as Django.
    with pytest.raises(exceptions.IntegrityError) as info:
        async with run.atomic():
            await run(Item.objects.create, kind_id=987654, label="orphan")
    assert info.value.sqlstate == "23503"  # type: ignore[attr-defined]
    assert await run(Kind.objects.count) == 1  # and the connection is still fine


def test_serialization_failure_and_deadlock(configure_pg: Any, tables: Any) -> None:
    configure_pg(isolation_level="serializable")
    tables(Kind)
    Kind.objects.bulk_create([Kind(name="a"), Kind(name="b")])

    def race(first: str, second: str, barrier: threading.Barrier, out: list[Any]) -> None:
        try:
            with transaction.atomic():
                Kind.objects.filter(name=first).update(count=dorm.F("count") + 1)
                barrier.wait(timeout=10)
                Kind.objects.filter(name=second).update(count=dorm.F("count") + 1)
        except exceptions.DatabaseError as exc:
            out.append(exc)
        finally:
            connections["default"].close()

    # Opposite lock order: PostgreSQL detects the deadlock and aborts one transaction.
    failures: list[Any] = []
    barrier = threading.Barrier(2)
    threads = [
        threading.Thread(target=race, args=("a", "b", barrier, failures)),
        threading.Thread(target=race, args=("b", "a", barrier, failures)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 1, failures
    error = failures[0]
    assert isinstance(error, exceptions.DeadlockDetected | exceptions.SerializationFailure)
    assert isinstance(error, exceptions.OperationalError)
    assert "retrying the whole transaction may succeed" in str(error)

    # Serializable snapshot: two transactions read and write each other's rows.
    failures = []
    barrier = threading.Barrier(2)

    def serial(name: str, other: str) -> None:
        try:
            with transaction.atomic():
                total = sum(Kind.objects.values_list("count", flat=True))
                barrier.wait(timeout=10)
                Kind.objects.filter(name=name).update(count=total + 1)
        except exceptions.DatabaseError as exc:
            failures.append(exc)
        finally:
            connections["default"].close()

    threads = [
        threading.Thread(target=serial, args=("a", "b")),
        threading.Thread(target=serial, args=("b", "a")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 1, failures
    assert isinstance(failures[0], exceptions.SerializationFailure)
    assert failures[0].sqlstate == "40001"
    assert isinstance(failures[0].__cause__, psycopg.errors.SerializationFailure)
    assert "retrying the whole transaction may succeed" in str(failures[0])


async def test_programming_and_data_errors(pg: Any, run: Runner) -> None:
    with pytest.raises(exceptions.ProgrammingError) as info:
        await run.raw("fetchall", "default", "SELECT * FROM no_such_table")
    assert info.value.sqlstate == "42P01"  # type: ignore[attr-defined]
    with pytest.raises(exceptions.DataError):
        await run.raw("fetchall", "default", "SELECT 1 / 0")
    assert await run.raw("fetchone", "default", "SELECT 1") == (1,)


# Prepared statements, transactional DDL, settings -----------------------------------------------


def test_repeated_statements_are_prepared(pg: Any) -> None:
    conn = connections["default"]
    for i in range(8):
        Kind.objects.filter(name=f"k{i}").count()
    prepared = conn.fetchall("SELECT statement FROM pg_prepared_statements")
    assert any("pg_it_kind" in s for (s,) in prepared), prepared


def test_prepared_statements_can_be_disabled(configure_pg: Any, tables: Any) -> None:
    configure_pg(prepare_threshold=None)
    tables(Kind)
    for _ in range(8):
        Kind.objects.count()
    assert connections["default"].fetchall("SELECT statement FROM pg_prepared_statements") == []


async def test_async_repeated_statements_are_prepared(pg: Any) -> None:
    async with transaction.aatomic():  # one connection for the whole block
        for i in range(8):
            await Kind.objects.filter(name=f"k{i}").acount()
        rows = await async_connections["default"].fetchall(
            "SELECT statement FROM pg_prepared_statements"
        )
    assert any("pg_it_kind" in s for (s,) in rows), rows


def test_transactional_ddl_rolls_back(pg: Any, admin: psycopg.Connection[Any]) -> None:
    class Temp(dorm.Model):
        name = dorm.CharField(max_length=10)

        class Meta:
            app_label = "pg_it"
            db_table = "pg_it_temp"

    assert connections["default"].features.can_rollback_ddl
    with (
        pytest.raises(exceptions.ProgrammingError),
        connections["default"].schema_editor() as editor,
    ):
        editor.create_model(Temp)
        editor.execute("CREATE TABLE broken (")
    assert admin.execute("SELECT to_regclass('pg_it_temp')").fetchone() == (None,)


def test_settings_keys_build_the_connection(configure_pg: Any, postgres: Any) -> None:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(postgres.dsn)
    dorm.configure(
        DATABASES={
            "default": {
                "ENGINE": "postgresql",
                "NAME": params["dbname"],
                "USER": params.get("user", ""),
                "PASSWORD": params.get("password", ""),
                "HOST": params.get("host", ""),
                "PORT": params.get("port", ""),
                "OPTIONS": {"application_name": "dorm-it", "isolation_level": "repeatable read"},
            }
        }
    )
    conn = connections["default"]
    assert conn.fetchone("SELECT current_database(), current_setting('application_name')") == (
        params["dbname"],
        "dorm-it",
    )
    assert conn.fetchone("SHOW TimeZone") == ("UTC",)
    with transaction.atomic():
        assert conn.fetchone("SHOW transaction_isolation") == ("repeatable read",)


def test_bad_settings_are_reported(configure_pg: Any) -> None:
    dorm.configure(
        DATABASES={"default": {"ENGINE": "postgresql", "NAME": "x", "OPTIONS": {"sslmood": "on"}}}
    )
    with pytest.raises(exceptions.ImproperlyConfigured, match="sslmood"):
        connections["default"]


async def test_json_containment(pg: Any, run: Runner) -> None:
    await run(
        Typed.objects.bulk_create,
        [
            Typed(data={"a": 1, "b": {"c": [1, 2]}, "t": ["x", "y"]}),
            Typed(data={"a": 2, "t": ["y"]}),
            Typed(data=None),
        ],
    )
    qs = Typed.objects.order_by("pk")
    with CaptureQueries() as log:
        assert await run(qs.filter(data__contains={"a": 1}).count) == 1
    assert "@>" in log.queries[0]
    assert await run(qs.filter(data__contains={"b": {"c": [2]}}).count) == 1
    assert await run(qs.filter(data__contains={"t": ["y"]}).count) == 2
    assert await run(qs.filter(data__contained_by={"a": 2, "t": ["y", "z"], "q": 1}).count) == 1
    assert await run(qs.exclude(data__contains={"a": 1}).count) == 2  # NULL rows too (Django)


async def test_extra_databases_for_more_aliases(postgres: Any, configure_pg: Any) -> None:
    other = postgres.create_database("dorm_it_extra")  # dropped with the session
    dorm.configure(
        DATABASES={
            "default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": postgres.dsn}},
            "shard_1": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": other}},
        }
    )
    for alias in ("default", "shard_1"):
        with connections[alias].schema_editor() as editor:
            editor.create_model(Kind)
    try:
        await Kind.objects.using("shard_1").acreate(name="remote")
        Kind.objects.using("default").create(name="local")
        assert [k.name for k in Kind.objects.using("shard_1").all()] == ["remote"]
        assert [k.name async for k in Kind.objects.using("default").all()] == ["local"]
        db_name = connections["shard_1"].fetchone("SELECT current_database()")[0]
        assert db_name.startswith("dorm_it_extra_")
    finally:
        for alias in ("default", "shard_1"):
            with connections[alias].schema_editor() as editor:
                editor.delete_model(Kind)
