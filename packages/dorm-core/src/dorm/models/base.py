"""``Model`` and its metaclass."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from dorm import signals
from dorm.apps import apps
from dorm.db import async_connections, connections
from dorm.db.plan import run_async, run_sync
from dorm.exceptions import (
    DatabaseError,
    FieldDoesNotExist,
    FieldError,
    MultipleObjectsReturned,
    NotSupportedError,
    ObjectDoesNotExist,
    ValidationError,
)
from dorm.models.fields import DATABASE_DEFAULT, AutoField, BigAutoField, Field, db_prep_plan
from dorm.models.options import Options

if TYPE_CHECKING:
    from dorm.models.manager import ManagerDescriptor


class ModelState:
    """Per-instance state: the alias it was loaded from/saved to, and whether it is new."""

    __slots__ = ("_fields_cache", "adding", "db")

    def __init__(self, db: str | None = None, adding: bool = True) -> None:
        self.db = db
        self.adding = adding
        self._fields_cache: dict[str, Any] | None = None

    @property
    def fields_cache(self) -> dict[str, Any]:
        if self._fields_cache is None:
            self._fields_cache = {}
        return self._fields_cache

    def __copy__(self) -> ModelState:
        obj = ModelState(self.db, self.adding)
        if self._fields_cache:
            obj._fields_cache = dict(self._fields_cache)
        return obj


def _subclass_exception(name: str, bases: tuple[type, ...], module: str, owner: type) -> type:
    return type(name, bases, {"__module__": module, "__qualname__": f"{owner.__qualname__}.{name}"})


class ModelBase(type):
    """Builds ``_meta``, binds fields, adds the default manager and per-model exceptions."""

    def __new__(
        mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any], **kwargs: Any
    ) -> Any:
        parents = [b for b in bases if isinstance(b, ModelBase)]
        if not parents:
            return super().__new__(mcs, name, bases, attrs, **kwargs)

        module = attrs.get("__module__", "")
        meta = attrs.pop("Meta", None)
        contributable = {k: v for k, v in attrs.items() if hasattr(v, "contribute_to_class")}
        plain = {k: v for k, v in attrs.items() if k not in contributable}
        cls = super().__new__(mcs, name, bases, plain, **kwargs)

        abstract = bool(getattr(meta, "abstract", False))
        # Meta of abstract parents is inherited (except `abstract` itself), as in Django.
        base_meta = None
        for parent in parents:
            parent_meta = getattr(parent, "_meta", None)
            if parent_meta is not None and parent_meta.abstract:
                base_meta = parent.__dict__.get("_abstract_meta_class")
                break
        if meta is None and base_meta is not None:
            meta = type("Meta", (base_meta,), {})
        elif meta is not None and base_meta is not None and not hasattr(meta, "__dict__"):
            pass
        elif meta is not None and base_meta is not None:
            meta = type("Meta", (meta, base_meta), {})
        meta_attrs = _flatten_meta(meta)
        if not abstract:
            meta_attrs.pop("abstract", None)
        opts = Options(_MetaNamespace(meta_attrs) if meta_attrs else None, name, module)
        opts.abstract = abstract
        cls._meta = opts  # type: ignore[attr-defined]
        if abstract:
            cls._abstract_meta_class = meta  # type: ignore[attr-defined]
            if meta is not None:
                # As Django: `Parent.Meta` stays reachable for `class Meta(Parent.Meta)`, and
                # is no longer abstract so that the child inheriting it is concrete.
                meta.abstract = False
                cls.Meta = meta  # type: ignore[attr-defined]
        opts.contribute_to_class(cls)

        for parent in parents:
            parent_meta = getattr(parent, "_meta", None)
            if parent_meta is None:
                continue
            if not parent_meta.abstract:
                raise NotSupportedError(
                    f"{name} subclasses the concrete model {parent.__name__}: multi-table "
                    "inheritance is not supported. Make the parent abstract (Meta.abstract = True)."
                )
            for field in parent_meta.local_fields + parent_meta.local_many_to_many:
                if field.name in contributable:
                    continue  # overridden in the child
                new_field = copy.deepcopy(field)
                new_field.model = None
                contributable.setdefault(field.name, new_field)
            for manager in parent_meta.managers:
                if manager.name not in contributable and manager.name not in plain:
                    contributable[manager.name] = copy.copy(manager)
            if "indexes" not in (meta.__dict__ if meta else {}) and parent_meta.indexes:
                opts.indexes = [copy.deepcopy(i) for i in parent_meta.indexes]
            if "constraints" not in (meta.__dict__ if meta else {}) and parent_meta.constraints:
                opts.constraints = [copy.deepcopy(c) for c in parent_meta.constraints]

        ordered = sorted(
            contributable.items(),
            key=lambda kv: getattr(kv[1], "creation_counter", 0),
        )
        for attr_name, value in ordered:
            value.contribute_to_class(cls, attr_name)

        if not abstract:
            if opts.pk is None:
                auto = BigAutoField(verbose_name="ID", primary_key=True)
                auto.auto_created = True
                auto.creation_counter = -1  # first field, as Django's auto-created pk
                if "id" in {f.name for f in opts.local_fields}:
                    raise FieldError(
                        f"{name} has a field named 'id' that is not the primary key; set "
                        "primary_key=True on it or on another field."
                    )
                auto.contribute_to_class(cls, "id")
                opts.local_fields.sort()
                opts._expire_cache()
            cls.DoesNotExist = _subclass_exception(  # type: ignore[attr-defined]
                "DoesNotExist",
                tuple(
                    p.DoesNotExist
                    for p in parents
                    if hasattr(p, "DoesNotExist") and not p._meta.abstract
                )
                or (ObjectDoesNotExist,),
                module,
                cls,
            )
            cls.MultipleObjectsReturned = _subclass_exception(  # type: ignore[attr-defined]
                "MultipleObjectsReturned",
                tuple(
                    p.MultipleObjectsReturned
                    for p in parents
                    if hasattr(p, "MultipleObjectsReturned") and not p._meta.abstract
                )
                or (MultipleObjectsReturned,),
                module,
                cls,
            )
            if not opts.managers:
                from dorm.models.manager import Manager

                if any(f.name == "objects" for f in opts.fields):
                    raise FieldError(
                        f"{name} has a field named 'objects'; declare a manager under another name."
                    )
                Manager().contribute_to_class(cls, "objects")
            for index in opts.indexes:
                index.set_name_with_model(cls)
            _prepare_fast_paths(cls)
            opts.apps.register_model(opts.app_label, cls)
        return cls

    @property
    def _default_manager(cls) -> Any:
        opts = cls._meta  # type: ignore[attr-defined]
        if opts.default_manager_name:
            return getattr(cls, opts.default_manager_name)
        return getattr(cls, opts.managers[0].name) if opts.managers else None

    @property
    def _base_manager(cls) -> Any:
        from dorm.models.manager import Manager

        manager = Manager()
        manager.name = "_base_manager"
        manager.model = cls
        return manager


class _MetaNamespace:
    def __init__(self, attrs: dict[str, Any]) -> None:
        self.__dict__.update(attrs)


def _flatten_meta(meta: Any) -> dict[str, Any]:
    if meta is None:
        return {}
    attrs: dict[str, Any] = {}
    for klass in reversed(meta.__mro__ if isinstance(meta, type) else [type(meta)]):
        if klass is object:
            continue
        for key, value in klass.__dict__.items():
            if not key.startswith("_"):
                attrs[key] = value
    return attrs


#: Single-row INSERT statements of ``Model._insert_plan`` by (model, ops, vendor, columns).
_INSERT_SQL: dict[Any, tuple[str, tuple[tuple[Any, ...], ...]]] = {}
_SCALARS = frozenset({str, int, bool, float, type(None)})
#: ``save(force_insert=True)``/``asave(...)`` of a new instance skip the plan runner
#: (``Model._save_new``/``_asave_new``).
_DIRECT_INSERT = True


#: (model, operations class) -> per concrete field: (field, attname when ``pre_save`` is the
#: plain ``__dict__`` read else None, auto pk?, passthrough classes, unbound ops adapter).
_SAVE_PLANS: dict[Any, tuple[tuple[Any, ...], ...]] = {}


def _save_plan(model: type[Model], ops: Any) -> tuple[tuple[Any, ...], ...]:
    """How each concrete field's value becomes an INSERT parameter on ``ops``' connection."""
    key = (model, type(ops))
    plan = _SAVE_PLANS.get(key)
    if plan is None:
        meta = model._meta
        plan = tuple(
            (
                f,
                f.attname if type(f).pre_save is Field.pre_save else None,
                f is meta.pk and isinstance(f, AutoField),
                *db_prep_plan(f, ops),
            )
            for f in meta.concrete_fields
        )
        if len(_SAVE_PLANS) >= 1024:
            _SAVE_PLANS.clear()
        _SAVE_PLANS[key] = plan
    return plan


def _reset_on_reconfigure() -> None:
    from dorm.conf import settings

    # The cached converters of returned columns depend on settings (USE_TZ).
    settings.on_change(_INSERT_SQL.clear)
    settings.on_change(_SAVE_PLANS.clear)


_reset_on_reconfigure()


def _prepare_fast_paths(cls: Any) -> None:
    opts = cls._meta
    cls._field_defaults = tuple((f.attname, f) for f in opts.concrete_fields)
    cls._init_attnames = {f.attname: f for f in opts.concrete_fields}
    for f in opts.concrete_fields:
        if f.name != f.attname:
            cls._init_attnames.setdefault(f.name, f)


class Model(metaclass=ModelBase):
    """Base class of dorm models (Django's ``models.Model``)."""

    _meta: ClassVar[Options]
    _state: ModelState
    DoesNotExist: ClassVar[type[ObjectDoesNotExist]]
    MultipleObjectsReturned: ClassVar[type[MultipleObjectsReturned]]
    if TYPE_CHECKING:
        objects: ClassVar[ManagerDescriptor]
        pk: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cls = type(self)
        if signals.pre_init.has_listeners:
            signals.pre_init.send(sender=cls, args=args, kwargs=kwargs)
        d = self.__dict__
        d["_state"] = ModelState()
        fields = cls._field_defaults  # type: ignore[attr-defined]
        if args:
            if len(args) > len(fields):
                raise IndexError(f"{cls.__name__}() got too many positional arguments.")
            for (attname, field), value in zip(fields, args, strict=False):
                if field.name in kwargs or attname in kwargs:
                    raise TypeError(
                        f"{cls.__name__}() got both positional and keyword arguments for field "
                        f"{field.name!r}."
                    )
                d[attname] = value
            fields = fields[len(args) :]
        if kwargs:
            known = cls._init_attnames  # type: ignore[attr-defined]
            for attname, field in fields:
                if attname in kwargs:
                    d[attname] = kwargs.pop(attname)
                elif field.name in kwargs:
                    self._set_related(field, kwargs.pop(field.name))
                else:
                    d[attname] = field.get_default()
            if kwargs:
                self._init_extra(kwargs, known)
        else:
            for attname, field in fields:
                d[attname] = field.get_default()
        if signals.post_init.has_listeners:
            signals.post_init.send(sender=cls, instance=self)

    def _set_related(self, field: Any, value: Any) -> None:
        setattr(self, field.name, value)

    def _init_extra(self, kwargs: dict[str, Any], known: dict[str, Any]) -> None:
        cls = type(self)
        unexpected = []
        for name, value in kwargs.items():
            # Properties with setters (and related descriptors) may be set via kwargs.
            attr = getattr(cls, name, None)
            if (isinstance(attr, property) and attr.fset is not None) or (
                hasattr(attr, "__set__") and not isinstance(attr, property)
            ):
                setattr(self, name, value)
            else:
                unexpected.append(name)
        if unexpected:
            valid = sorted({f.name for f in cls._meta.fields})
            raise TypeError(
                f"{cls.__name__}() got unexpected keyword argument(s): "
                f"{', '.join(repr(u) for u in unexpected)}. Valid fields: {', '.join(valid)}."
            )

    @classmethod
    def from_db(cls, db: str | None, field_names: Iterable[str], values: Iterable[Any]) -> Any:
        """Build an instance from a database row without running ``__init__``."""
        if signals.pre_init.has_listeners:
            values = tuple(values)
            signals.pre_init.send(sender=cls, args=values, kwargs={})
        obj = cls.__new__(cls)
        obj.__dict__.update(zip(field_names, values, strict=False))
        obj.__dict__["_state"] = ModelState(db, adding=False)
        if signals.post_init.has_listeners:
            signals.post_init.send(sender=cls, instance=obj)
        return obj

    # Identity --------------------------------------------------------------------------

    def _get_pk_val(self) -> Any:
        return self.__dict__.get(self._meta.pk.attname)

    def _set_pk_val(self, value: Any) -> None:
        self.__dict__[self._meta.pk.attname] = value

    pk = property(_get_pk_val, _set_pk_val)  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self}>"

    def __str__(self) -> str:
        return f"{type(self).__name__} object ({self.pk})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Model):
            return NotImplemented
        if self._meta.label != other._meta.label:
            return False
        pk = self.pk
        if pk is None:
            return self is other
        return bool(pk == other.pk)

    def __hash__(self) -> int:
        if self.pk is None:
            raise TypeError("Model instances without primary key value are unhashable")
        return hash(self.pk)

    def __reduce__(self) -> Any:
        return (_unpickle, (self._meta.label,), self.__getstate__())

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = copy.copy(self._state)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def get_deferred_fields(self) -> set[str]:
        """Attnames of concrete fields not loaded on this instance."""
        return {f.attname for f in self._meta.concrete_fields if f.attname not in self.__dict__}

    def serializable_value(self, field_name: str) -> Any:
        try:
            field = self._meta.get_field(field_name)
        except FieldDoesNotExist:
            return getattr(self, field_name)
        return getattr(self, field.attname)

    # Saving ----------------------------------------------------------------------------

    def _resolve_save_alias(self, using: str | None) -> str:
        if using:
            return using
        from dorm.db import router

        return router.db_for_write(type(self), instance=self)

    def save(
        self,
        *,
        force_insert: bool = False,
        force_update: bool = False,
        using: str | None = None,
        update_fields: Iterable[str] | None = None,
    ) -> None:
        """Insert or update this row (UPDATE first when it has a primary key, as Django)."""
        alias = self._resolve_save_alias(using)
        if self._direct_insert(force_insert, force_update, update_fields):
            self._save_new(alias)
            return
        run_sync(
            alias,
            lambda conn: self._save_plan(conn, alias, force_insert, force_update, update_fields),
        )

    async def asave(
        self,
        *,
        force_insert: bool = False,
        force_update: bool = False,
        using: str | None = None,
        update_fields: Iterable[str] | None = None,
    ) -> None:
        """Async :meth:`save`."""
        alias = self._resolve_save_alias(using)
        if self._direct_insert(force_insert, force_update, update_fields):
            await self._asave_new(alias)
            return
        await run_async(
            alias,
            lambda conn: self._save_plan(conn, alias, force_insert, force_update, update_fields),
        )

    def _direct_insert(
        self, force_insert: bool, force_update: bool, update_fields: Iterable[str] | None
    ) -> bool:
        """Whether a save is the INSERT of a new instance that skips the plan runner."""
        return (
            force_insert
            and _DIRECT_INSERT
            and self._state.adding
            and not force_update
            and update_fields is None
        )

    def _save_plan(
        self,
        conn: Any,
        alias: str,
        force_insert: bool,
        force_update: bool,
        update_fields: Iterable[str] | None,
    ) -> Any:
        cls = type(self)
        meta = self._meta
        if force_insert and (force_update or update_fields):
            raise ValueError("Cannot force both insert and updating in model saving.")
        if force_update and self.__dict__.get(meta.pk.attname) is None:
            raise ValueError("Cannot force an update in save() with no primary key.")
        if update_fields is not None:
            update_fields = frozenset(update_fields)
            if not update_fields:
                return
            valid = {f.name for f in meta.concrete_fields} | {
                f.attname for f in meta.concrete_fields
            }
            bad = sorted(update_fields - valid)
            if bad:
                raise ValueError(
                    "The following fields do not exist in this model, or are m2m fields: "
                    f"{', '.join(bad)}"
                )
        elif not self._state.adding and self._state.db == alias:
            deferred = self.get_deferred_fields()
            if deferred:
                # Save only what was loaded (as Django does for deferred instances).
                update_fields = frozenset(
                    f.attname for f in meta.concrete_fields if f.attname not in deferred
                )
        self._prepare_related_fields_for_save()
        if signals.pre_save.has_listeners:
            signals.pre_save.send(
                sender=cls, instance=self, raw=False, using=alias, update_fields=update_fields
            )
        pk_field = meta.pk
        pk_val = self.__dict__.get(pk_field.attname)
        if pk_val is None and pk_field.has_default():
            pk_val = pk_field.get_default()
            self.__dict__[pk_field.attname] = pk_val
        updated = False
        if (
            not force_insert
            and pk_val is not None
            and not (
                self._state.adding
                and pk_field.has_default()
                and update_fields is None
                and not force_update
            )
        ):
            non_pk = [
                f
                for f in meta.concrete_fields
                if not f.primary_key
                and (update_fields is None or f.name in update_fields or f.attname in update_fields)
            ]
            values = []
            for f in non_pk:
                raw = f.pre_save(self, False)
                if raw is DATABASE_DEFAULT:
                    continue
                values.append((f, raw))
            if values:
                sql, params = self._update_sql(conn, values, pk_val)
                rows = yield ("rowcount", sql, params)
                updated = rows > 0
            else:
                exists_sql = (
                    f"SELECT 1 FROM {conn.ops.quote_name(meta.db_table)} WHERE "
                    f"{conn.ops.quote_name(pk_field.column)} = %s LIMIT 1"
                )
                row = yield ("fetchone", exists_sql, [pk_field.get_db_prep_value(pk_val, conn)])
                updated = row is not None
            if not updated:
                if force_update:
                    raise DatabaseError("Forced update did not affect any rows.")
                if update_fields is not None:
                    raise DatabaseError("Save with update_fields did not affect any rows.")
        if not updated:
            yield from self._insert_plan(conn)
        self._state.db = alias
        self._state.adding = False
        if signals.post_save.has_listeners:
            signals.post_save.send(
                sender=cls,
                instance=self,
                created=not updated,
                raw=False,
                using=alias,
                update_fields=update_fields,
            )

    def _save_new(self, alias: str) -> None:
        """``_save_plan`` for ``save(force_insert=True)`` of a new instance, run directly.

        The same steps in the same order (related fields, ``pre_save``, the pk default, the
        INSERT of ``_insert_statement``, ``_state``, ``post_save``), without the generator
        protocol of the plan runner; every other save takes the plan.
        """
        conn = connections[alias]
        statement = self._new_insert(conn, alias)
        result = conn.execute_insert(statement[0], statement[1], statement[3])
        self._new_inserted(statement, result, alias)

    async def _asave_new(self, alias: str) -> None:
        """Async :meth:`_save_new`."""
        conn = async_connections[alias]
        statement = self._new_insert(conn, alias)
        result = await conn.execute_insert(statement[0], statement[1], statement[3])
        self._new_inserted(statement, result, alias)

    def _new_insert(self, conn: Any, alias: str) -> tuple[Any, ...]:
        """What :meth:`_save_new` does before its INSERT; returns the statement."""
        self._prepare_related_fields_for_save()
        if signals.pre_save.has_listeners:
            signals.pre_save.send(
                sender=type(self), instance=self, raw=False, using=alias, update_fields=None
            )
        pk_field = self._meta.pk
        if self.__dict__.get(pk_field.attname) is None and pk_field.has_default():
            self.__dict__[pk_field.attname] = pk_field.get_default()
        return self._insert_statement(conn)

    def _new_inserted(self, statement: tuple[Any, ...], result: Any, alias: str) -> None:
        """What :meth:`_save_new` does after its INSERT."""
        self._insert_done(statement, result)
        state = self._state
        state.db = alias
        state.adding = False
        if signals.post_save.has_listeners:
            signals.post_save.send(
                sender=type(self),
                instance=self,
                created=True,
                raw=False,
                using=alias,
                update_fields=None,
            )

    def _prepare_related_fields_for_save(self) -> None:
        """Refuse to save a reference to an unsaved object; pick up pks assigned since."""
        cache = self._state._fields_cache
        if not cache:
            return
        for field in self._meta.concrete_fields:
            if not field.is_relation or field.name not in cache:
                continue
            obj = cache[field.name]
            if obj is None:
                continue
            if obj.pk is None:
                raise ValueError(
                    f"save() prohibited to prevent data loss due to unsaved related object "
                    f"{field.name!r}."
                )
            value = getattr(obj, field.target_field.attname)
            if self.__dict__.get(field.attname) != value:
                self.__dict__[field.attname] = value

    async def afetch_related(self, *names: str) -> None:
        """Load relations for async code: ``await book.afetch_related("author")``.

        Afterwards ``book.author`` (or ``author.book_set.all()``) reads from the cache without
        a query. Nested paths (``"author__publisher"``) work as in ``prefetch_related``.
        """
        from dorm.models.prefetch import aprefetch_related_objects

        await aprefetch_related_objects([self], *names)

    def _update_sql(
        self, conn: Any, values: list[tuple[Any, Any]], pk_val: Any
    ) -> tuple[str, list[Any]]:
        meta = self._meta
        qn = conn.ops.quote_name
        sets, params = [], []
        for field, value in values:
            if hasattr(value, "resolve_expression"):
                from dorm.sql.query import Query

                query = Query(type(self))
                expr = value.resolve_expression(query, allow_joins=False, for_save=True)
                sql, p = query.get_compiler(conn).compile(expr)
                sets.append(f"{qn(field.column)} = {sql}")
                params.extend(p)
            else:
                sets.append(f"{qn(field.column)} = %s")
                params.append(field.get_db_prep_save(value, conn) if value is not None else None)
        params.append(meta.pk.get_db_prep_value(pk_val, conn))
        sql = f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} WHERE {qn(meta.pk.column)} = %s"
        return sql, params

    def _insert_plan(self, conn: Any) -> Any:
        statement = self._insert_statement(conn)
        result = yield ("insert", statement[0], statement[1], statement[3])
        self._insert_done(statement, result)

    def _insert_statement(self, conn: Any) -> tuple[Any, ...]:
        """``(sql, params, returning fields, returning?, their converters)`` of the INSERT."""
        pk_field = self._meta.pk
        d = self.__dict__
        fields, params, returning = [], [], []
        ops = conn.ops
        for field, attname, auto_pk, passthrough, adapter in _save_plan(type(self), ops):
            if auto_pk and d.get(field.attname) is None:
                returning.append(field)
                continue
            value = d.get(attname) if attname is not None else field.pre_save(self, True)
            if value.__class__ in passthrough:
                params.append(value if adapter is None else adapter(ops, value))
            elif value is None:
                params.append(None)
            elif value is DATABASE_DEFAULT:
                returning.append(field)
                continue
            # (builtin scalars cannot be expressions: skip the failing attribute lookup)
            elif value.__class__ not in _SCALARS and hasattr(value, "resolve_expression"):
                raise NotSupportedError(
                    "Expressions in insert values are not supported; save() first."
                )
            else:
                params.append(field.get_db_prep_save(value, conn))
            fields.append(field)
        can_return = conn.features.can_return_columns_from_insert
        if can_return and returning == [pk_field] and getattr(conn, "pk_from_lastrowid", False):
            can_return = False  # the driver's lastrowid is the pk: no RETURNING row to fetch
        # The statement depends only on these; skip building a compiler and its cache key.
        key = (type(self), type(conn.ops), conn.vendor, tuple(fields), tuple(returning), can_return)
        entry = _INSERT_SQL.get(key)
        if entry is None:
            from dorm.sql.compiler import SQLInsertCompiler

            compiler = SQLInsertCompiler(
                type(self), fields, conn, returning=returning if can_return else ()
            )
            converters = tuple(tuple(f.get_db_converters(conn)) for f in returning)
            entry = (compiler.sql_for_rows(1), converters)
            if len(_INSERT_SQL) >= 1024:
                _INSERT_SQL.clear()
            _INSERT_SQL[key] = entry
        return entry[0], params, returning, bool(returning and can_return), entry[1]

    def _insert_done(self, statement: tuple[Any, ...], result: Any) -> None:
        """Store what the INSERT returned (the RETURNING row, else ``lastrowid``)."""
        _, _, returning, use_returning, returning_converters = statement
        if use_returning:
            for field, value, converters in zip(
                returning, result, returning_converters, strict=False
            ):
                for converter in converters:
                    value = converter(value)
                self.__dict__[field.attname] = value
        else:
            last_id = result
            pk_field = self._meta.pk
            for field in returning:
                if field is pk_field:
                    self.__dict__[field.attname] = last_id
                else:
                    self.__dict__.pop(field.attname, None)  # fetched lazily on access

    # Deleting --------------------------------------------------------------------------

    def _check_deletable(self) -> None:
        if self.pk is None:
            raise ValueError(
                f"{type(self).__name__} object can't be deleted because its "
                f"{self._meta.pk.attname} attribute is set to None."
            )

    def delete(
        self, using: str | None = None, keep_parents: bool = False
    ) -> tuple[int, dict[str, int]]:
        """Delete this row; returns ``(total, {model_label: count})`` as Django."""
        self._check_deletable()
        from dorm.db import router
        from dorm.models.deletion import delete_instances_plan

        alias = using or router.db_for_write(type(self), instance=self)
        return run_sync(alias, lambda conn: delete_instances_plan(conn, alias, type(self), [self]))  # type: ignore[no-any-return]

    async def adelete(
        self, using: str | None = None, keep_parents: bool = False
    ) -> tuple[int, dict[str, int]]:
        """Async :meth:`delete`."""
        self._check_deletable()
        from dorm.db import router
        from dorm.models.deletion import delete_instances_plan

        alias = using or router.db_for_write(type(self), instance=self)
        return await run_async(
            alias, lambda conn: delete_instances_plan(conn, alias, type(self), [self])
        )  # type: ignore[no-any-return]

    # Reloading -------------------------------------------------------------------------

    def _refresh_query(
        self, using: str | None, fields: Iterable[str] | None
    ) -> tuple[Any, list[Any]]:
        from dorm.db import router

        alias = using or self._state.db or router.db_for_read(type(self), instance=self)
        qs = type(self)._base_manager.using(alias).filter(pk=self.pk)
        load = None
        if fields is not None:
            fields = list(fields)
            # refresh_from_db(fields=["books"]) drops what prefetch_related cached (as Django).
            prefetched = self.__dict__.get("_prefetched_objects_cache") or {}
            for name in [n for n in fields if n in prefetched]:
                del prefetched[name]
                fields.remove(name)
            if not fields:
                return alias, []
            load = []
            for name in fields:
                field = self._meta.get_field(name)
                load.append(field.attname)
            qs = qs.only(*load)
        else:
            deferred = self.get_deferred_fields()
            if deferred:
                qs = qs.only(
                    *[f.attname for f in self._meta.concrete_fields if f.attname not in deferred]
                )
        return alias, [qs, load]

    def _apply_refresh(self, fresh: Any, load: list[str] | None, alias: str) -> None:
        if fresh is None:
            raise type(self).DoesNotExist(
                f"{type(self).__name__} matching query does not exist (pk={self.pk!r})."
            )
        names = (
            load
            if load is not None
            else [f.attname for f in self._meta.concrete_fields if f.attname in fresh.__dict__]
        )
        for attname in names:
            self.__dict__[attname] = fresh.__dict__[attname]
        if self._state._fields_cache:
            self._state._fields_cache.clear()
        if load is None:
            self.__dict__.pop("_prefetched_objects_cache", None)  # cached relations go too
        self._state.db = alias

    def refresh_from_db(
        self, using: str | None = None, fields: Iterable[str] | None = None
    ) -> None:
        """Reload field values from the database (all loaded fields, or ``fields``)."""
        alias, spec = self._refresh_query(using, fields)
        if not spec:
            return
        qs, load = spec
        self._apply_refresh(qs.first(), load, alias)

    async def arefresh_from_db(
        self, using: str | None = None, fields: Iterable[str] | None = None
    ) -> None:
        """Async :meth:`refresh_from_db`."""
        alias, spec = self._refresh_query(using, fields)
        if not spec:
            return
        qs, load = spec
        self._apply_refresh(await qs.afirst(), load, alias)

    # Validation ------------------------------------------------------------------------

    def clean(self) -> None:
        """Model-wide validation hook; raise ``ValidationError``."""

    def clean_fields(self, exclude: Iterable[str] | None = None) -> None:
        exclude = set(exclude or ())
        errors: dict[str, list[str]] = {}
        for field in self._meta.fields:
            if field.name in exclude or not getattr(field, "concrete", True):
                continue
            raw = self.__dict__.get(field.attname)
            if field.blank and raw in field.empty_values:
                continue
            if raw is DATABASE_DEFAULT:
                continue  # the database computes it (db_default), as Django
            try:
                self.__dict__[field.attname] = field.clean(raw, self)
            except ValidationError as exc:
                errors[field.name] = exc.messages
        if errors:
            raise ValidationError(errors)

    def validate_unique(self, exclude: Iterable[str] | None = None) -> None:
        """Check ``unique`` fields and ``unique_together`` against the database."""
        exclude = set(exclude or ())
        errors: dict[str, list[str]] = {}
        manager = type(self)._base_manager
        checks: list[tuple[str, ...]] = [
            (f.name,) for f in self._meta.concrete_fields if f.unique and f.name not in exclude
        ]
        checks += [tuple(u) for u in self._meta.unique_together if not set(u) & exclude]
        for names in checks:
            lookup = {}
            skip = False
            for name in names:
                field = self._meta.get_field(name)
                value = self.__dict__.get(field.attname)
                if value is None or (field.primary_key and self._state.adding and value is None):
                    skip = True
                    break
                lookup[name] = value
            if skip:
                continue
            qs = manager.using(self._state.db).filter(**lookup)
            if not self._state.adding and self.pk is not None:
                qs = qs.exclude(pk=self.pk)
            if qs.exists():
                key = names[0] if len(names) == 1 else "__all__"
                errors.setdefault(key, []).append(self.unique_error_message(names))
        if errors:
            raise ValidationError(errors)

    def unique_error_message(self, names: Iterable[str]) -> str:
        """Django's wording, e.g. ``Product with this Sku and Region already exists.``"""
        labels = [_capfirst(str(self._meta.get_field(n).verbose_name)) for n in names]
        text = labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} and {labels[-1]}"
        return f"{_capfirst(self._meta.verbose_name)} with this {text} already exists."

    def validate_constraints(self, exclude: Iterable[str] | None = None) -> None:
        errors: dict[str, list[str]] = {}
        for constraint in self._meta.constraints:
            try:
                constraint.validate(
                    type(self), self, exclude=set(exclude or ()), using=self._state.db
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for k, v in exc.message_dict.items():
                        errors.setdefault(k, []).extend(v)
                else:
                    errors.setdefault("__all__", []).extend(exc.messages)
        if errors:
            raise ValidationError(errors)

    def full_clean(
        self,
        exclude: Iterable[str] | None = None,
        validate_unique: bool = True,
        validate_constraints: bool = True,
    ) -> None:
        """Run ``clean_fields``, ``clean``, ``validate_unique``, ``validate_constraints``;
        raise one ``ValidationError`` with every message, per field."""
        exclude = set(exclude or ())
        errors: dict[str, list[str]] = {}

        def collect(exc: ValidationError) -> None:
            if hasattr(exc, "error_dict"):
                for k, v in exc.message_dict.items():
                    errors.setdefault(k, []).extend(v)
            else:
                errors.setdefault("__all__", []).extend(exc.messages)

        try:
            self.clean_fields(exclude)
        except ValidationError as exc:
            collect(exc)
        try:
            self.clean()
        except ValidationError as exc:
            collect(exc)
        if validate_unique:
            try:
                self.validate_unique(exclude | set(errors))
            except ValidationError as exc:
                collect(exc)
        if validate_constraints:
            try:
                self.validate_constraints(exclude | set(errors))
            except ValidationError as exc:
                collect(exc)
        if errors:
            raise ValidationError(errors)


def _capfirst(text: str) -> str:
    return text[:1].upper() + text[1:]


def _unpickle(label: str) -> Any:
    model = apps.get_model(label)
    return model.__new__(model)


__all__ = ["Field", "Model", "ModelBase", "ModelState"]
