"""Window functions: ``Window(expression, partition_by=, order_by=, frame=)`` with RowNumber,
Rank, DenseRank, Lag, Lead, FirstValue, LastValue, NthValue, Ntile, PercentRank, CumeDist and
aggregates over a window. Every query runs sync and async.

Backends without window support raise ``NotSupportedError`` (``features.supports_over_clause``).
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from expr_models import Book, Employee

from dorm import (
    Avg,
    Count,
    CumeDist,
    DenseRank,
    F,
    FirstValue,
    Lag,
    LastValue,
    Lead,
    Max,
    NotSupportedError,
    NthValue,
    Ntile,
    PercentRank,
    Rank,
    RowNumber,
    RowRange,
    Sum,
    ValueRange,
    Window,
)
from dorm.db import async_connections, connections

STAFF = [
    # name, department, salary, hired
    ("Ann", "eng", 100, datetime.date(2020, 1, 1)),
    ("Bob", "eng", 120, datetime.date(2019, 1, 1)),
    ("Cid", "eng", 120, datetime.date(2021, 1, 1)),
    ("Dee", "ops", 80, datetime.date(2018, 1, 1)),
    ("Eve", "ops", 90, datetime.date(2022, 1, 1)),
    ("Fay", "sales", 70, datetime.date(2020, 6, 1)),
]


@pytest.fixture
def staff(expr: Any) -> None:
    if not connections["default"].features.supports_over_clause:
        pytest.skip("this database has no window functions (tested below)")
    for name, department, salary, hired in STAFF:
        Employee.objects.create(name=name, department=department, salary=salary, hired=hired)


pytestmark = pytest.mark.usefixtures("staff")


async def rows(run: Any, qs: Any, *fields: str) -> list[tuple[Any, ...]]:
    return list(await run.list(qs.values_list(*fields)))


async def test_row_number_rank_dense_rank(run: Any) -> None:
    qs = Employee.objects.annotate(
        row=Window(RowNumber(), order_by=[F("salary").desc(), "name"]),
        rank=Window(Rank(), order_by=F("salary").desc()),
        dense=Window(DenseRank(), order_by=F("salary").desc()),
        dept_rank=Window(Rank(), partition_by="department", order_by=F("salary").desc()),
    ).order_by("row")
    assert await rows(run, qs, "name", "row", "rank", "dense", "dept_rank") == [
        ("Bob", 1, 1, 1, 1),
        ("Cid", 2, 1, 1, 1),
        ("Ann", 3, 3, 2, 3),
        ("Eve", 4, 4, 3, 1),
        ("Dee", 5, 5, 4, 2),
        ("Fay", 6, 6, 5, 1),
    ]


async def test_aggregates_over_a_partition(run: Any) -> None:
    qs = Employee.objects.annotate(
        dept_avg=Window(Avg("salary"), partition_by=[F("department")]),
        dept_max=Window(Max("salary"), partition_by="department"),
        dept_size=Window(Count("id"), partition_by="department"),
        total=Window(Sum("salary")),
    ).order_by("name")
    result = await rows(run, qs, "name", "dept_avg", "dept_max", "dept_size", "total")
    assert result == [
        ("Ann", pytest.approx(340 / 3), 120, 3, 580),
        ("Bob", pytest.approx(340 / 3), 120, 3, 580),
        ("Cid", pytest.approx(340 / 3), 120, 3, 580),
        ("Dee", 85.0, 90, 2, 580),
        ("Eve", 85.0, 90, 2, 580),
        ("Fay", 70.0, 70, 1, 580),
    ]
    assert all(isinstance(r[1], float) for r in result)  # Avg of integers: float


async def test_running_total_and_frames(run: Any) -> None:
    qs = Employee.objects.annotate(
        running=Window(Sum("salary"), order_by=F("hired").asc()),
        pair=Window(Sum("salary"), order_by="hired", frame=RowRange(start=-1, end=0)),
        rest=Window(Sum("salary"), order_by="hired", frame=RowRange(start=0, end=None)),
    ).order_by("hired")
    assert await rows(run, qs, "name", "running", "pair", "rest") == [
        ("Dee", 80, 80, 580),
        ("Bob", 200, 200, 500),
        ("Ann", 300, 220, 380),
        ("Fay", 370, 170, 280),
        ("Cid", 490, 190, 210),
        ("Eve", 580, 210, 90),
    ]
    # RANGE frames treat peers (equal salaries) together.
    by_value = Employee.objects.annotate(
        upto=Window(Sum("salary"), order_by="salary", frame=ValueRange(start=None, end=0))
    ).order_by("salary", "name")
    assert await rows(run, by_value, "name", "upto") == [
        ("Fay", 70),
        ("Dee", 150),
        ("Eve", 240),
        ("Ann", 340),
        ("Bob", 580),
        ("Cid", 580),
    ]


async def test_lag_and_lead(run: Any) -> None:
    qs = Employee.objects.annotate(
        prev=Window(Lag("salary"), order_by="hired"),
        next2=Window(Lead("salary", offset=2, default=0), order_by="hired"),
        dept_prev=Window(Lag("name"), partition_by="department", order_by="hired"),
    ).order_by("hired")
    assert await rows(run, qs, "name", "prev", "next2", "dept_prev") == [
        ("Dee", None, 100, None),
        ("Bob", 80, 70, None),
        ("Ann", 120, 120, "Bob"),
        ("Fay", 100, 90, None),
        ("Cid", 70, 0, "Ann"),
        ("Eve", 120, 0, "Dee"),
    ]
    with pytest.raises(ValueError, match="positive"):
        Lag("salary", offset=0)


async def test_first_last_and_nth_value(run: Any) -> None:
    whole = RowRange(start=None, end=None)
    qs = Employee.objects.annotate(
        first=Window(FirstValue("name"), partition_by="department", order_by="hired"),
        # The default frame ends at the current row: the whole partition needs a frame.
        last=Window(LastValue("name"), partition_by="department", order_by="hired", frame=whole),
        second=Window(
            NthValue("name", nth=2), partition_by="department", order_by="hired", frame=whole
        ),
        last_so_far=Window(LastValue("name"), partition_by="department", order_by="hired"),
    ).order_by("name")
    assert await rows(run, qs, "name", "first", "last", "second", "last_so_far") == [
        ("Ann", "Bob", "Cid", "Ann", "Ann"),
        ("Bob", "Bob", "Cid", "Ann", "Bob"),
        ("Cid", "Bob", "Cid", "Ann", "Cid"),
        ("Dee", "Dee", "Eve", "Eve", "Dee"),
        ("Eve", "Dee", "Eve", "Eve", "Eve"),
        ("Fay", "Fay", "Fay", None, "Fay"),
    ]


async def test_ntile_percent_rank_cume_dist(run: Any) -> None:
    qs = Employee.objects.annotate(
        bucket=Window(Ntile(3), order_by=["salary", "name"]),
        pct=Window(PercentRank(), order_by="salary"),
        cume=Window(CumeDist(), order_by="salary"),
    ).order_by("salary", "name")
    assert await rows(run, qs, "name", "bucket", "pct", "cume") == [
        ("Fay", 1, 0.0, pytest.approx(1 / 6)),
        ("Dee", 1, pytest.approx(0.2), pytest.approx(2 / 6)),
        ("Eve", 2, pytest.approx(0.4), pytest.approx(3 / 6)),
        ("Ann", 2, pytest.approx(0.6), pytest.approx(4 / 6)),
        ("Bob", 3, pytest.approx(0.8), 1.0),
        ("Cid", 3, pytest.approx(0.8), 1.0),
    ]
    with pytest.raises(ValueError):
        Ntile(0)


async def test_window_on_model_instances_and_ordering_by_a_window(run: Any) -> None:
    ranked = Employee.objects.annotate(rank=Window(Rank(), order_by=F("salary").desc()))
    emps = await run.list(ranked.order_by("rank", "name"))
    assert [(e.name, e.rank) for e in emps] == [
        ("Bob", 1),
        ("Cid", 1),
        ("Ann", 3),
        ("Eve", 4),
        ("Dee", 5),
        ("Fay", 6),
    ]
    by_window = Employee.objects.order_by(Window(RowNumber(), order_by="hired").desc())
    assert await run.list(by_window.values_list("name", flat=True)) == [
        "Eve",
        "Cid",
        "Fay",
        "Ann",
        "Bob",
        "Dee",
    ]


async def test_window_keeps_the_output_type(run: Any) -> None:
    from decimal import Decimal

    from expr_models import Publisher

    pub = Publisher.objects.create(name="P")
    for i, (price, day) in enumerate([("1.50", 1), ("2.25", 2), ("3.00", 3)]):
        Book.objects.create(
            name=f"B{i}",
            pages=10,
            rating=1.0,
            price=Decimal(price),
            pubdate=datetime.date(2020, 1, day),
            publisher=pub,
        )
    qs = Book.objects.annotate(
        prev=Window(Lag("price"), order_by="pubdate"),
        prev_day=Window(Lag("pubdate"), order_by="pubdate"),
    ).order_by("pubdate")
    assert await rows(run, qs, "prev", "prev_day") == [
        (None, None),
        (Decimal("1.50"), datetime.date(2020, 1, 1)),
        (Decimal("2.25"), datetime.date(2020, 1, 2)),
    ]


async def test_filtering_on_a_window_is_rejected_clearly(run: Any) -> None:
    ranked = Employee.objects.annotate(
        row=Window(RowNumber(), partition_by="department", order_by=F("salary").desc())
    )
    with pytest.raises(NotSupportedError, match=r"[Ww]indow"):
        await run.list(ranked.filter(row=1))


async def test_backend_without_window_functions(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for conn in (connections["default"], async_connections["default"]):
        monkeypatch.setattr(conn.features, "supports_over_clause", False)
    with pytest.raises(NotSupportedError, match="window"):
        await run.list(Employee.objects.annotate(r=Window(RowNumber(), order_by="name")))
