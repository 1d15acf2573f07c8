"""Deleting rows: ``Model.delete()`` and ``QuerySet.delete()``, written once for sync and async.

``Collector`` gathers what to delete (relations add their cascades here), then deletes it
in one transaction, firing ``pre_delete``/``post_delete`` per instance when anyone listens.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dorm import signals


class Collector:
    """Instances to delete, by model, in deletion order."""

    def __init__(self, alias: str, origin: Any = None) -> None:
        self.alias = alias
        self.origin = origin
        self.data: dict[Any, list[Any]] = {}
        # (queryset-like Query, model) deleted without loading instances
        self.fast_deletes: list[Any] = []
        self.field_updates: list[tuple[Any, Any, list[Any]]] = []

    def add(self, model: Any, objs: list[Any]) -> list[Any]:
        existing = self.data.setdefault(model, [])
        seen = {id(o) for o in existing}
        new = [o for o in objs if id(o) not in seen]
        existing.extend(new)
        return new

    def collect_plan(self, conn: Any, model: Any, objs: list[Any]) -> Any:
        """Generator: add ``objs`` and whatever must go with them (relations extend this)."""
        self.add(model, objs)
        hook = getattr(model._meta, "collect_related_plan", None)
        if hook is not None:
            yield from hook(self, conn, objs)
        return None

    def delete_plan(self, conn: Any) -> Any:
        counts: Counter[str] = Counter()
        models = list(self.data)
        for model in models:
            if signals.pre_delete.has_listeners:
                for obj in self.data[model]:
                    signals.pre_delete.send(
                        sender=model, instance=obj, using=self.alias, origin=self.origin
                    )
        for query, model in self.fast_deletes:
            from dorm.sql.compiler import SQLDeleteCompiler

            sql, params = SQLDeleteCompiler(query, conn).as_sql()
            n = yield ("rowcount", sql, params)
            if n:
                counts[model._meta.label] += n
        for model, field, objs in self.field_updates:
            qn = conn.ops.quote_name
            pk = model._meta.pk
            value = field.get_db_prep_save(objs[0], conn) if objs and objs[0] is not None else None
            for batch in _batches([o.pk for o in objs[1:]], 500):
                placeholders = ", ".join(["%s"] * len(batch))
                sql = (
                    f"UPDATE {qn(model._meta.db_table)} SET {qn(field.column)} = %s "
                    f"WHERE {qn(pk.column)} IN ({placeholders})"
                )
                yield ("rowcount", sql, [value, *[pk.get_db_prep_value(p, conn) for p in batch]])
        for model in reversed(models):
            objs = self.data[model]
            pk = model._meta.pk
            qn = conn.ops.quote_name
            pks = [o.pk for o in objs]
            for batch in _batches(pks, 500):
                placeholders = ", ".join(["%s"] * len(batch))
                sql = f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn(pk.column)} IN ({placeholders})"
                n = yield ("rowcount", sql, [pk.get_db_prep_value(p, conn) for p in batch])
                if n:
                    counts[model._meta.label] += n
        for model in models:
            for obj in self.data[model]:
                if signals.post_delete.has_listeners:
                    signals.post_delete.send(
                        sender=model, instance=obj, using=self.alias, origin=self.origin
                    )
                obj.__dict__[model._meta.pk.attname] = None
                obj._state.adding = False
        return sum(counts.values()), dict(counts)


def _batches(items: list[Any], size: int) -> Any:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def delete_instances_plan(conn: Any, alias: str, model: Any, objs: list[Any]) -> Any:
    """Generator: delete ``objs`` (and what must go with them) in one transaction."""

    def inner(conn: Any) -> Any:
        collector = Collector(alias, origin=objs[0] if len(objs) == 1 else None)
        yield from collector.collect_plan(conn, model, objs)
        return (yield from collector.delete_plan(conn))

    result = yield ("atomic", inner, True)
    return result
