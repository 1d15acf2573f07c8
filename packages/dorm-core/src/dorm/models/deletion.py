"""Deleting rows: ``Model.delete()`` and ``QuerySet.delete()``, written once for sync and async.

``Collector`` gathers what must go (``on_delete`` cascades, SET_NULL updates, M2M join rows),
then deletes it in one transaction — referencing rows before referenced rows — firing
``pre_delete``/``post_delete`` per instance when anyone listens.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dorm import signals
from dorm.exceptions import RestrictedError


def _batches(items: list[Any], size: int) -> Any:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Collector:
    """What one delete() removes or updates, by model, in dependency order."""

    def __init__(self, alias: str, origin: Any = None) -> None:
        self.alias = alias
        self.origin = origin
        self.conn: Any = None
        self.data: dict[Any, list[Any]] = {}
        # (Query, model): rows deleted with one statement, never loaded
        self.fast_deletes: list[tuple[Any, Any]] = []
        # (model, field, value, objs)
        self.field_updates: list[tuple[Any, Any, Any, list[Any]]] = []
        self.restricted: list[tuple[Any, list[Any]]] = []

    def add(self, model: Any, objs: list[Any]) -> list[Any]:
        existing = self.data.setdefault(model, [])
        seen = {o.pk for o in existing}
        new = [o for o in objs if o.pk not in seen]
        existing.extend(new)
        return new

    def add_field_update(self, field: Any, value: Any, objs: list[Any]) -> None:
        self.field_updates.append((field.model, field, value, objs))

    def add_restricted(self, field: Any, objs: list[Any]) -> None:
        self.restricted.append((field, objs))

    @staticmethod
    def _signals() -> bool:
        return signals.pre_delete.has_listeners or signals.post_delete.has_listeners

    def can_fast_delete(self, model: Any) -> bool:
        """Rows of ``model`` can go with one DELETE: nothing reacts to their deletion."""
        if self._signals():
            return False
        from dorm.models.related import DO_NOTHING, RESTRICT

        if any(
            getattr(f, "remote_field", None) is not None and f.remote_field.on_delete is RESTRICT
            for f in model._meta.concrete_fields
        ):
            # Its rows may be the referencing side of a RESTRICT: they must be collected, so
            # that a RESTRICT reached through another path is known to be cascaded.
            return False
        return all(
            rel.on_delete is DO_NOTHING
            for rel in model._meta.related_objects
            if not rel.many_to_many
        )

    def collect_plan(self, conn: Any, model: Any, objs: list[Any], source: Any = None) -> Any:
        """Generator: add ``objs`` and everything their deletion implies."""
        from dorm.models.related import CASCADE, DO_NOTHING
        from dorm.query import _fetch_plan

        self.conn = conn
        new = self.add(model, objs)
        if not new:
            return
        pks = [o.pk for o in new]
        for rel in model._meta.related_objects:
            if rel.many_to_many:
                continue  # join rows are reached through the join model's own FKs
            on_delete = rel.on_delete
            if on_delete is DO_NOTHING:
                continue
            field = rel.field
            related_model = field.model
            target_attname = field.target_field.attname
            values = (
                pks
                if target_attname == model._meta.pk.attname
                else [getattr(o, target_attname) for o in new]
            )
            for batch in _batches(values, 500):
                sub_qs = related_model._base_manager.using(self.alias).filter(
                    **{f"{field.attname}__in": batch}
                )
                if on_delete is CASCADE and self.can_fast_delete(related_model):
                    query = sub_qs.query.clone()
                    query.order_by = ()
                    self.fast_deletes.append((query, related_model))
                    continue
                sub_objs = yield from _fetch_plan(conn, sub_qs.order_by())
                if sub_objs:
                    yield from on_delete(self, field, sub_objs)

    def _check_restricted(self) -> None:
        for field, objs in self.restricted:
            collected = {o.pk for o in self.data.get(field.model, [])}
            blocking = [o for o in objs if o.pk not in collected]
            if blocking:
                raise RestrictedError(
                    f"Cannot delete some instances of model {field.remote_field.model.__name__!r} "
                    f"because they are referenced through restricted foreign keys: "
                    f"'{field.model.__name__}.{field.name}'.",
                    blocking,
                )

    def delete_plan(self, conn: Any) -> Any:
        from dorm.sql.compiler import SQLDeleteCompiler

        self._check_restricted()
        counts: Counter[str] = Counter()
        models = list(self.data)
        if signals.pre_delete.has_listeners:
            for model in models:
                for obj in self.data[model]:
                    signals.pre_delete.send(
                        sender=model, instance=obj, using=self.alias, origin=self.origin
                    )
        for query, model in self.fast_deletes:
            sql, params = SQLDeleteCompiler(query, conn).as_sql()
            n = yield ("rowcount", sql, params)
            if n:
                counts[model._meta.label] += n
        qn = conn.ops.quote_name
        for model, field, value, objs in self.field_updates:
            pk = model._meta.pk
            db_value = field.get_db_prep_save(value, conn) if value is not None else None
            for batch in _batches(objs, 500):
                placeholders = ", ".join(["%s"] * len(batch))
                sql = (
                    f"UPDATE {qn(model._meta.db_table)} SET {qn(field.column)} = %s "
                    f"WHERE {qn(pk.column)} IN ({placeholders})"
                )
                yield (
                    "rowcount",
                    sql,
                    [db_value, *[pk.get_db_prep_value(o.pk, conn) for o in batch]],
                )
            for obj in objs:
                setattr(obj, field.attname, value if not hasattr(value, "_meta") else value.pk)
        for model in reversed(models):
            pk = model._meta.pk
            for batch in _batches([o.pk for o in self.data[model]], 500):
                placeholders = ", ".join(["%s"] * len(batch))
                sql = (
                    f"DELETE FROM {qn(model._meta.db_table)} WHERE {qn(pk.column)} "
                    f"IN ({placeholders})"
                )
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
        return sum(counts.values()), dict(counts)


def delete_instances_plan(conn: Any, alias: str, model: Any, objs: list[Any]) -> Any:
    """Generator: delete ``objs`` (and what must go with them) in one transaction."""

    def inner(conn: Any) -> Any:
        collector = Collector(alias, origin=objs[0] if len(objs) == 1 else None)
        yield from collector.collect_plan(conn, model, objs)
        return (yield from collector.delete_plan(conn))

    result = yield ("atomic", inner, True)
    return result
