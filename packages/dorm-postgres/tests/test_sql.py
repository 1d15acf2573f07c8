"""The SQL dorm compiles for PostgreSQL (no server: the wrapper never connects)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

import dorm
from dorm.models.lookups import ExtractWeekDay
from dorm.sql.compiler import SQLCompiler, SQLInsertCompiler
from dorm_postgres.fields import ArrayField


class Book(dorm.Model):
    title = dorm.CharField(max_length=100)
    pages = dorm.IntegerField(default=0)
    data = dorm.JSONField(null=True)
    tags = ArrayField(dorm.CharField(max_length=20), default=list)
    published = dorm.DateTimeField(null=True)

    class Meta:
        app_label = "pg_unit"
        db_table = "book"


def sql(pg: Any, qs: Any) -> tuple[str, list[Any]]:
    text, params, _plan = SQLCompiler(qs._query, pg).compile_select()
    return text, params


@pytest.mark.parametrize(
    ("lookup", "value", "where", "param"),
    [
        ("iexact", "Dune", 'UPPER(("book"."title")::text) LIKE UPPER(%s)', "Dune"),
        ("contains", "un", '("book"."title")::text LIKE %s', "%un%"),
        ("icontains", "UN", 'UPPER(("book"."title")::text) LIKE UPPER(%s)', "%UN%"),
        ("startswith", "D", '("book"."title")::text LIKE %s', "D%"),
        ("istartswith", "d", 'UPPER(("book"."title")::text) LIKE UPPER(%s)', "d%"),
        ("endswith", "e", '("book"."title")::text LIKE %s', "%e"),
        ("iendswith", "E", 'UPPER(("book"."title")::text) LIKE UPPER(%s)', "%E"),
        ("contains", "50%_", '("book"."title")::text LIKE %s', "%50\\%\\_%"),
        ("regex", "^D", '("book"."title")::text ~ %s', "^D"),
        ("iregex", "^d", '("book"."title")::text ~* %s', "^d"),
    ],
)
def test_text_lookups(pg: Any, lookup: str, value: str, where: str, param: str) -> None:
    text, params = sql(pg, Book.objects.filter(**{f"title__{lookup}": value}))
    assert text.endswith(f"WHERE {where}"), text
    assert params == [param]


def test_pattern_lookup_against_an_expression(pg: Any) -> None:
    text, _ = sql(pg, Book.objects.filter(title__icontains=dorm.F("title")))
    # The referenced column's own wildcards are escaped; % is doubled for psycopg.
    assert 'LIKE UPPER(\'%%\' || REPLACE(REPLACE(REPLACE(("book"."title")::text' in text
    assert "E'%%', E'\\\\%%'" in text and "|| '%%')" in text


def test_slicing(pg: Any) -> None:
    assert sql(pg, Book.objects.order_by("pk")[5:])[0].endswith("OFFSET 5")
    assert "LIMIT -1" not in sql(pg, Book.objects.order_by("pk")[5:])[0]
    assert sql(pg, Book.objects.order_by("pk")[5:15])[0].endswith("LIMIT 10 OFFSET 5")


def test_select_for_update_and_distinct_on(pg: Any) -> None:
    from dorm.exceptions import TransactionManagementError

    with pytest.raises(TransactionManagementError):
        sql(pg, Book.objects.select_for_update())
    pg.tx.enter(True, False)  # as inside atomic(), without touching the server
    try:
        text, _ = sql(pg, Book.objects.select_for_update(skip_locked=True, of=("self",)))
        assert text.endswith('FOR UPDATE OF "book" SKIP LOCKED')
        text, _ = sql(pg, Book.objects.select_for_update(nowait=True, no_key=True))
        assert text.endswith("FOR NO KEY UPDATE NOWAIT")
    finally:
        pg.tx.frames.clear()
    text, _ = sql(pg, Book.objects.order_by("title", "pk").distinct("title"))
    assert text.startswith('SELECT DISTINCT ON ("book"."title") ')


def test_inserts_return_and_upsert(pg: Any) -> None:
    meta = Book._meta
    fields = [meta.get_field("title")]
    text = SQLInsertCompiler(Book, fields, pg, returning=[meta.pk]).sql_for_rows(1)
    assert text == 'INSERT INTO "book" ("title") VALUES (%s) RETURNING "id"'
    # Several rows of plain columns: one array parameter per column.
    compiler = SQLInsertCompiler(Book, fields, pg, returning=[meta.pk])
    assert compiler.columnar(2)
    assert compiler.sql_for_rows(2) == (
        'INSERT INTO "book" ("title") SELECT * FROM UNNEST(%s::varchar[]) RETURNING "id"'
    )
    # A JSON column keeps a placeholder per value.
    compiler = SQLInsertCompiler(Book, [*fields, meta.get_field("data")], pg)
    assert not compiler.columnar(2)
    assert compiler.sql_for_rows(2).endswith("VALUES (%s, %s), (%s, %s)")
    text = SQLInsertCompiler(Book, fields, pg, on_conflict="ignore").sql_for_rows(1)
    assert text.endswith("ON CONFLICT DO NOTHING")
    text = SQLInsertCompiler(
        Book, fields, pg, on_conflict="update", update_fields=["pages"], unique_fields=["title"]
    ).sql_for_rows(1)
    assert text.endswith('ON CONFLICT("title") DO UPDATE SET "pages" = EXCLUDED."pages"')


def test_json_lookups(pg: Any) -> None:
    text, params = sql(pg, Book.objects.filter(data__owner__name="Bob"))
    assert text.endswith('WHERE ("book"."data" #> %s) = %s')
    assert params == [["owner", "name"], '"Bob"']
    text, params = sql(pg, Book.objects.filter(data__has_key="owner"))
    assert text.endswith('WHERE ("book"."data" ? %s)') and params == ["owner"]
    text, params = sql(pg, Book.objects.filter(data__a__b__isnull=False))
    assert text.endswith('WHERE (("book"."data" #> %s) IS NOT NULL)')
    text, params = sql(pg, Book.objects.filter(data__a=None))
    assert text.endswith('WHERE (jsonb_typeof(("book"."data" #> %s)) = \'null\')')
    text, params = sql(pg, Book.objects.filter(data__n__gt=3))
    assert 'jsonb_typeof("book"."data" #> %s) = \'number\'' in text
    assert params == [["n"], ["n"], 3]
    text, params = sql(pg, Book.objects.filter(data__name__icontains="b"))
    assert text.endswith('UPPER((("book"."data" #>> %s))::text) LIKE UPPER(%s)')
    text, params = sql(pg, Book.objects.filter(data__contains={"a": 1}))
    assert text.endswith('WHERE ("book"."data" @> %s)') and params == ['{"a": 1}']
    text, _ = sql(pg, Book.objects.filter(data__contained_by={"a": 1}))
    assert text.endswith('WHERE ("book"."data" <@ %s)')
    text, params = sql(pg, Book.objects.filter(data={"a": 1}))
    assert text.endswith('WHERE "book"."data" = %s') and params == ['{"a": 1}']


def test_array_lookups(pg: Any) -> None:
    cases = {
        "tags__contains": ('("book"."tags" @> %s::varchar(20)[])', [["x"]]),
        "tags__contained_by": ('("book"."tags" <@ %s::varchar(20)[])', [["x"]]),
        "tags__overlap": ('("book"."tags" && %s::varchar(20)[])', [["x"]]),
        "tags": ('"book"."tags" = %s::varchar(20)[]', [["x"]]),
    }
    for lookup, (where, params) in cases.items():
        text, got = sql(pg, Book.objects.filter(**{lookup: ["x"]}))
        assert text.endswith(f"WHERE {where}"), text
        assert got == params
    text, params = sql(pg, Book.objects.filter(tags__len=2))
    assert 'COALESCE(array_length("book"."tags", 1), 0) END = %s' in text and params == [2]
    text, params = sql(pg, Book.objects.filter(tags__0="x"))
    assert text.endswith('WHERE ("book"."tags")[1] = %s') and params == ["x"]


def test_dates(pg: Any) -> None:
    text, _ = sql(pg, Book.objects.filter(published__week_day=1))
    assert 'CAST(EXTRACT(DOW FROM "book"."published") AS integer) + 1' in text
    text, _ = sql(pg, Book.objects.filter(published__year=2024))
    assert 'CAST(EXTRACT(YEAR FROM "book"."published") AS integer) = %s' in text
    text, _ = sql(pg, Book.objects.filter(published__date=datetime.date(2024, 1, 1)))
    assert '("book"."published")::date = %s' in text
    text, _ = sql(pg, Book.objects.annotate(wd=ExtractWeekDay("published")))
    assert "EXTRACT(DOW FROM" in text
    ops = pg.ops
    assert ops.date_extract_sql("second", "x") == "CAST(FLOOR(EXTRACT(SECOND FROM x)) AS integer)"
    assert ops.date_extract_sql("iso_week_day", "x") == "CAST(EXTRACT(ISODOW FROM x) AS integer)"
    assert ops.date_trunc_sql("month", "x") == "DATE_TRUNC('month', x)"
    assert ops.date_trunc_sql("month", "x", is_datetime=False) == "(DATE_TRUNC('month', x))::date"
    with pytest.raises(dorm.NotSupportedError):
        ops.date_trunc_sql("fortnight", "x")
