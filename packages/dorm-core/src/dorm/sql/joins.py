"""Relation traversal for ``Query``: lookup paths across ForeignKey, reverse and M2M relations.

Rules follow Django's:

* single-valued joins (forward FK/O2O) are shared by every part of a query;
* multi-valued joins (reverse FK, M2M) are shared only within one ``filter()`` call, so
  ``filter(a__x=1, a__y=2)`` needs one related row matching both, while
  ``filter(a__x=1).filter(a__y=2)`` may match different rows;
* ``annotate``/``values``/``order_by`` reuse existing joins (an annotation after a filter
  counts only the filtered rows);
* joins are INNER unless they may need to produce NULLs: nullable joins in OR branches,
  negations, ``isnull=True`` and selections become LEFT OUTER (and so do their children).
"""

from __future__ import annotations

from typing import Any

from dorm.exceptions import FieldDoesNotExist, FieldError
from dorm.sql.datastructures import INNER, LOUTER, Join


def relation_kind(field: Any) -> str:
    """'fk' (forward FK/O2O), 'reverse' (reverse FK/O2O), 'm2m', 'm2m_reverse', or ''."""
    if not getattr(field, "is_relation", False):
        return ""
    if getattr(field, "auto_created", False) and not getattr(field, "concrete", True):
        return "m2m_reverse" if field.many_to_many else "reverse"
    if field.many_to_many:
        return "m2m"
    return "fk"


def related_meta(field: Any) -> Any:
    kind = relation_kind(field)
    if kind in ("fk", "m2m"):
        return field.related_model._meta
    return field.related_model._meta


def is_multivalued(field: Any) -> bool:
    kind = relation_kind(field)
    return kind in ("m2m", "m2m_reverse") or (kind == "reverse" and not field.one_to_one)


def _has_field(meta: Any, name: str) -> bool:
    if name == "pk":
        return True
    try:
        meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return True


class JoinsMixin:
    """Join bookkeeping mixed into :class:`dorm.sql.query.Query`."""

    joins: dict[str, Join]
    base_table: str | None
    # (promote nullable joins to LEFT OUTER, reuse multi-valued joins of earlier calls)
    _join_ctx: tuple[bool, bool] = (True, True)
    _filter_call: int = 0
    _last_path_nullable = False

    def path_is_multivalued(self, names: list[str]) -> bool:
        meta = self.meta  # type: ignore[attr-defined]
        for name in names:
            try:
                field = meta.get_field(name)
            except FieldDoesNotExist:
                return False
            if not getattr(field, "is_relation", False):
                return False
            if is_multivalued(field):
                return True
            meta = related_meta(field)
        return False

    def _new_alias(self, table: str) -> str:
        used = {self.base_table, self.base_alias, *self.joins}  # type: ignore[attr-defined]
        if table not in used:
            return table
        n = len(used) + 1
        while f"T{n}" in used:
            n += 1
        return f"T{n}"

    def _promote(self, alias: str) -> None:
        """Make ``alias`` and every join hanging off it LEFT OUTER (copy-on-write)."""
        join = self.joins[alias]
        if join.join_type != LOUTER:
            promoted = join.copy()
            promoted.join_type = LOUTER
            self.joins[alias] = promoted
        for child in list(self.joins.values()):
            if child.parent_alias == alias and child.join_type != LOUTER:
                self._promote(child.alias)

    def join(
        self,
        table: str,
        parent_alias: str,
        lhs_col: str,
        rhs_col: str,
        nullable: bool,
        multivalued: bool,
        path: tuple[str, ...],
        promote: bool | None = None,
    ) -> str:
        """The alias of a join (reused when the rules allow, else created)."""
        ctx_promote, reuse_all = self._join_ctx
        if promote is None:
            promote = ctx_promote
        parent = self.joins.get(parent_alias)
        want_outer = (parent is not None and parent.join_type == LOUTER) or (nullable and promote)
        identity = (parent_alias, table, lhs_col, rhs_col)
        for join in self.joins.values():
            if join.identity() != identity:
                continue
            if reuse_all or not join.multivalued or join.created_in == self._filter_call:
                # Filters may need NULL rows (OR, negation, isnull); selections reusing a
                # filter's join keep its type: the filter already removed those rows.
                if want_outer and join.join_type != LOUTER and not reuse_all:
                    self._promote(join.alias)
                return join.alias
        alias = self._new_alias(table)
        self.joins[alias] = Join(
            table,
            alias,
            parent_alias,
            lhs_col,
            rhs_col,
            LOUTER if want_outer else INNER,
            nullable,
            multivalued,
            self._filter_call,
            path,
        )
        return alias

    def _join_relation(
        self, field: Any, alias: str, path: tuple[str, ...], final: bool
    ) -> tuple[str, Any]:
        """Join across one relation from ``alias``; returns (new alias, target field there).

        ``final``: the relation itself is compared (``filter(tags=t)``): M2M stops at the
        join table's column, reverse FK at the related primary key.
        """
        kind = relation_kind(field)
        if kind == "fk":
            target = field.target_field
            new = self.join(
                target.model._meta.db_table,
                alias,
                field.column,
                target.column,
                field.null,
                False,
                path,
            )
            self._last_path_nullable = self._last_path_nullable or field.null
            return new, target
        self._last_path_nullable = True
        if kind == "reverse":
            fk = field.field
            new = self.join(
                fk.model._meta.db_table,
                alias,
                fk.target_field.column,
                fk.column,
                True,
                not field.one_to_one,
                path,
            )
            return new, fk.model._meta.pk
        m2m = field if kind == "m2m" else field.field
        through = m2m.remote_field.through
        source = through._meta.get_field(m2m.m2m_field_name())
        target = through._meta.get_field(m2m.m2m_reverse_field_name())
        if kind == "m2m_reverse":
            source, target = target, source
        through_alias = self.join(
            through._meta.db_table,
            alias,
            source.target_field.column,
            source.column,
            True,
            True,
            (*path, "+through"),
        )
        if final:
            return through_alias, target
        far = target.target_field
        new = self.join(
            far.model._meta.db_table, through_alias, target.column, far.column, True, True, path
        )
        return new, far

    def expand_relation_ordering(self, item: Any, _seen: frozenset[Any] = frozenset()) -> list[Any]:
        """Django's rule: ordering by a relation orders by the related model's ``Meta.ordering``.

        ``order_by("author")`` becomes ``order_by("author__name")`` when ``Author`` is ordered
        by ``name`` (``"-author"`` flips each term). ``author_id`` and relations to unordered
        models keep ordering by the key column.
        """
        if not isinstance(item, str) or item == "?":
            return [item]
        descending = item.startswith("-")
        name = item.lstrip("-+")
        if name == "pk" or name in getattr(self, "annotations", {}):
            return [item]
        meta = self.meta  # type: ignore[attr-defined]
        field = None
        parts = name.split("__")
        for index, part in enumerate(parts):
            try:
                field = meta.get_field(part)
            except FieldDoesNotExist:
                return [item]
            if not relation_kind(field):
                return [item]
            if index < len(parts) - 1:
                meta = related_meta(field)
        kind = relation_kind(field)
        if kind == "fk" and parts[-1] == field.attname:
            return [item]
        ordering = related_meta(field).ordering
        if not ordering or not all(isinstance(o, str) and o != "?" for o in ordering):
            return [item]
        if field in _seen:
            raise FieldError(f"Infinite loop caused by ordering ({name!r}).")
        result: list[Any] = []
        for sub in ordering:
            sub_desc = sub.startswith("-") != descending
            result.extend(
                self.expand_relation_ordering(
                    f"{'-' if sub_desc else ''}{name}__{sub.lstrip('-+')}", _seen | {field}
                )
            )
        return result

    def setup_relation_joins(
        self, names: list[str], allow_joins: bool = True
    ) -> tuple[Any, str, list[str]]:
        """Resolve a lookup path that starts with a relation; returns (field, alias, rest)."""
        meta = self.meta  # type: ignore[attr-defined]
        alias = self.base_alias  # type: ignore[attr-defined]
        path: tuple[str, ...] = ()
        self._last_path_nullable = False
        for index, name in enumerate(names):
            try:
                field = meta.get_field(name)
            except FieldDoesNotExist:
                choices = sorted({f.name for f in meta.get_fields()} | {"pk"})
                raise FieldError(
                    f"Cannot resolve keyword {name!r} into field. Choices are: "
                    f"{', '.join(choices)}."
                ) from None
            rest = list(names[index + 1 :])
            path = (*path, name)
            kind = relation_kind(field)
            if not kind:
                self._last_path_nullable = self._last_path_nullable or bool(
                    getattr(field, "null", False)
                )
                return field, alias, rest
            target_meta = related_meta(field)
            traverse = bool(rest) and _has_field(target_meta, rest[0])
            if (
                kind == "fk"
                and traverse
                and rest[0] in ("pk", field.target_field.name)
                and not getattr(field.target_field, "is_relation", False)
            ):
                # author__pk / author__id: the FK column already holds it; no join needed.
                self._last_path_nullable = self._last_path_nullable or field.null
                return field, alias, rest[1:]
            if not traverse:
                if kind == "fk":
                    self._last_path_nullable = self._last_path_nullable or field.null
                    return field, alias, rest
                if not allow_joins:
                    raise FieldError("Joined field references are not permitted in this query.")
                alias, target = self._join_relation(field, alias, path, final=True)
                return target, alias, rest
            if not allow_joins:
                raise FieldError("Joined field references are not permitted in this query.")
            alias, _ = self._join_relation(field, alias, path, final=False)
            meta = target_meta
        raise FieldError(f"Lookup path {'__'.join(names)!r} does not end in a field.")
