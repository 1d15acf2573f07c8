"""SQLAlchemy 2.x through the ORM ``Session`` (sync) and ``AsyncSession`` (aiosqlite/psycopg).

One session per timed run (a unit of work), except ``list_first_n`` which opens one per list:
a session's identity map would otherwise hand back the same instances for the 9 repeated
lists instead of building them, which no other ORM here gets to do.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event, func, select, true
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from dorm_bench.core import PG_SETTING_NAMES, SQLITE_PRAGMA_NAMES, SQLITE_PRAGMAS, TABLE, Work
from dorm_bench.orms import AsyncRunner, SyncRunner, describe_sqlite_value


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = TABLE

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    value: Mapped[int]
    active: Mapped[bool] = mapped_column(default=True)


COUNT_ACTIVE = select(func.count()).select_from(Item).where(Item.active == true())


def _url(target: Any, is_async: bool) -> Any:
    from sqlalchemy import URL

    if target.vendor == "sqlite":
        driver = "sqlite+aiosqlite" if is_async else "sqlite+pysqlite"
        return URL.create(driver, database=str(target.path))
    from psycopg.conninfo import conninfo_to_dict

    info = {k: str(v) for k, v in conninfo_to_dict(target.dsn).items() if v is not None}
    return URL.create(
        "postgresql+psycopg",
        username=info.get("user"),
        password=info.get("password"),
        host=info.get("host"),
        port=int(info["port"]) if info.get("port") else None,
        database=info.get("dbname"),
    )


def _on_connect(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for name, value in SQLITE_PRAGMAS.items():
        cursor.execute(f"PRAGMA {name} = {value}")
    cursor.close()


def _settings_sql(vendor: str) -> list[tuple[str, str]]:
    if vendor == "sqlite":
        return [(name, f"PRAGMA {name}") for name in SQLITE_PRAGMA_NAMES]
    return [(name, f"SHOW {name}") for name in PG_SETTING_NAMES]


def _describe(vendor: str, name: str, value: Any) -> str:
    return describe_sqlite_value(name, value) if vendor == "sqlite" else str(value)


class _SQLAlchemyBase:
    name = "sqlalchemy"
    dist = "sqlalchemy"
    backend: str

    def unsupported(self, scenario: str) -> str | None:
        if scenario in ("copy", "copy_bulk_create") and self.backend != "postgresql":
            return "PostgreSQL only"
        if scenario == "copy":
            return "no COPY API"
        return None

    def _prepare(self, work: Work) -> None:
        if work.scenario in ("bulk_insert", "copy_bulk_create"):
            work.prepared = [Item(name=n, value=v, active=a) for n, v, a in work.rows]


class SQLAlchemyRunner(_SQLAlchemyBase, SyncRunner):
    def open(self, target: Any) -> None:
        from sqlalchemy import create_engine

        self.vendor = target.vendor
        self.engine = create_engine(_url(target, False))
        if target.vendor == "sqlite":
            event.listen(self.engine, "connect", _on_connect)

    def close(self) -> None:
        self.engine.dispose()

    def prepare(self, work: Work) -> None:
        self._prepare(work)

    def settings(self) -> dict[str, str]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return {
                name: _describe(self.vendor, name, conn.execute(text(sql)).scalar())
                for name, sql in _settings_sql(self.vendor)
            }

    def insert_one(self, work: Work) -> None:
        with Session(self.engine) as session:
            for name, value, active in work.rows:
                session.add(Item(name=name, value=value, active=active))
                session.commit()

    def bulk_insert(self, work: Work) -> None:
        with Session(self.engine) as session:
            session.add_all(work.prepared)
            session.commit()

    copy_bulk_create = bulk_insert

    def get_by_pk(self, work: Work) -> None:
        with Session(self.engine) as session:
            for pk in work.pks:
                session.get(Item, pk)

    def filter_count(self, work: Work) -> None:
        with Session(self.engine) as session:
            for _ in range(work.n):
                session.scalar(COUNT_ACTIVE)

    def list_first_n(self, work: Work) -> None:
        for _ in range(work.times):
            with Session(self.engine) as session:
                session.scalars(select(Item).order_by(Item.id).limit(work.limit)).all()


class AsyncSQLAlchemyRunner(_SQLAlchemyBase, AsyncRunner):
    async def open(self, target: Any) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine

        self.vendor = target.vendor
        self.engine = create_async_engine(_url(target, True))
        if target.vendor == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _on_connect)

    async def close(self) -> None:
        await self.engine.dispose()

    async def prepare(self, work: Work) -> None:
        self._prepare(work)

    async def settings(self) -> dict[str, str]:
        from sqlalchemy import text

        out = {}
        async with self.engine.connect() as conn:
            for name, sql in _settings_sql(self.vendor):
                out[name] = _describe(self.vendor, name, (await conn.execute(text(sql))).scalar())
        return out

    def _session(self) -> Any:
        from sqlalchemy.ext.asyncio import AsyncSession

        return AsyncSession(self.engine)

    async def insert_one(self, work: Work) -> None:
        async with self._session() as session:
            for name, value, active in work.rows:
                session.add(Item(name=name, value=value, active=active))
                await session.commit()

    async def bulk_insert(self, work: Work) -> None:
        async with self._session() as session:
            session.add_all(work.prepared)
            await session.commit()

    copy_bulk_create = bulk_insert

    async def get_by_pk(self, work: Work) -> None:
        async with self._session() as session:
            for pk in work.pks:
                await session.get(Item, pk)

    async def filter_count(self, work: Work) -> None:
        async with self._session() as session:
            for _ in range(work.n):
                await session.scalar(COUNT_ACTIVE)

    async def list_first_n(self, work: Work) -> None:
        for _ in range(work.times):
            async with self._session() as session:
                (await session.scalars(select(Item).order_by(Item.id).limit(work.limit))).all()
