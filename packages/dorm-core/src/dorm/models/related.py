"""Relation fields: ``ForeignKey``, ``OneToOneField``, ``ManyToManyField`` and ``on_delete``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from dorm.exceptions import FieldError, ProtectedError
from dorm.models import fields as f

if TYPE_CHECKING:
    from typing import Self

    from dorm.models.base import Model

RECURSIVE_RELATIONSHIP_CONSTANT = "self"
T = TypeVar("T")

__all__ = [
    "CASCADE",
    "DO_NOTHING",
    "PROTECT",
    "RESTRICT",
    "SET",
    "SET_DEFAULT",
    "SET_NULL",
    "ForeignKey",
    "ManyToManyField",
    "OneToOneField",
]


# on_delete handlers: called as handler(collector, field, sub_objs) -----------------------


def CASCADE(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
    """Delete the referencing rows too."""
    yield from collector.collect_plan(collector.conn, field.model, sub_objs, source=field)


def PROTECT(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
    """Refuse the deletion (``ProtectedError``)."""
    raise ProtectedError(
        f"Cannot delete some instances of model {field.remote_field.model.__name__!r} because "
        f"they are referenced through protected foreign keys: "
        f"'{field.model.__name__}.{field.name}'.",
        sub_objs,
    )
    yield  # pragma: no cover - makes this a generator


def RESTRICT(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
    """Refuse the deletion unless the referencing rows are deleted through another CASCADE."""
    collector.add_restricted(field, sub_objs)
    return
    yield  # pragma: no cover


def SET(value: Any) -> Callable[..., Any]:
    """Set the referencing column to ``value`` (or ``value()`` when callable)."""

    def set_on_delete(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
        collector.add_field_update(field, value() if callable(value) else value, sub_objs)
        return
        yield  # pragma: no cover

    set_on_delete.deconstruct = lambda: ("dorm.SET", (value,), {})  # type: ignore[attr-defined]
    set_on_delete.lazy_sub_objs = True  # type: ignore[attr-defined]
    return set_on_delete


def SET_NULL(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
    """Set the referencing column to NULL (the field must be ``null=True``)."""
    collector.add_field_update(field, None, sub_objs)
    return
    yield  # pragma: no cover


def SET_DEFAULT(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
    """Set the referencing column to the field's default."""
    collector.add_field_update(field, field.get_default(), sub_objs)
    return
    yield  # pragma: no cover


def DO_NOTHING(collector: Any, field: Any, sub_objs: list[Any]) -> Any:
    """Leave the referencing rows alone (the database may still refuse)."""
    return
    yield  # pragma: no cover


# Reverse relation descriptions --------------------------------------------------------


class ForeignObjectRel:
    """The far side of a relation, as seen from the target model (``Author._meta``)."""

    is_relation = True
    concrete = False
    editable = False
    auto_created = True
    many_to_many = False
    one_to_many = False
    one_to_one = False
    primary_key = False
    null = True
    hidden_suffix = "+"

    def __init__(
        self,
        field: Any,
        to: Any,
        related_name: str | None = None,
        related_query_name: str | None = None,
        on_delete: Any = None,
    ) -> None:
        self.field = field
        self.model = to  # the target model (resolved lazily)
        self.related_name = related_name
        self.related_query_name = related_query_name
        self.on_delete = on_delete
        self.multiple = True

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}: "
            f"{self.field.model._meta.label if self.field.model else '?'}.{self.field.name}>"
        )

    @property
    def hidden(self) -> bool:
        return bool(self.related_name) and self.related_name.endswith("+")  # type: ignore[union-attr]

    @property
    def related_model(self) -> Any:
        return self.field.model

    @property
    def name(self) -> str:
        """The name used in queries from the target model (``Author.objects.filter(book__...)``)."""
        return self.field.related_query_name()

    @property
    def attname(self) -> str:
        return self.name

    def get_accessor_name(self) -> str | None:
        """The attribute on target instances (``author.book_set``)."""
        if self.hidden:
            return None
        if self.related_name:
            return self.related_name
        opts = self.field.model._meta
        return opts.model_name + ("" if self.one_to_one else "_set")

    def get_lookups(self) -> dict[str, type]:
        return self.target_field.get_lookups()

    def get_lookup(self, name: str) -> Any:
        return self.target_field.get_lookup(name)

    def get_transform(self, name: str) -> Any:
        return None

    @property
    def target_field(self) -> Any:
        """The field of the related model the reverse lookup compares (its pk)."""
        return self.field.model._meta.pk


class ManyToOneRel(ForeignObjectRel):
    one_to_many = True

    def __init__(self, field: Any, to: Any, field_name: str | None, **kwargs: Any) -> None:
        super().__init__(field, to, **kwargs)
        self.field_name = field_name


class OneToOneRel(ManyToOneRel):
    one_to_one = True
    one_to_many = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.multiple = False


class ManyToManyRel(ForeignObjectRel):
    many_to_many = True

    def __init__(
        self,
        field: Any,
        to: Any,
        through: Any = None,
        through_fields: Any = None,
        symmetrical: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(field, to, **kwargs)
        self.through = through
        self.through_fields = through_fields
        self.symmetrical = symmetrical


# Resolution of "Model" / "app.Model" / "self" references ----------------------------------


def lazy_related_operation(
    function: Callable[..., None], model: Any, related: Any, field: Any
) -> None:
    """Call ``function(target_model)`` once ``related`` (class or string) is resolvable."""
    if isinstance(related, str):
        if related == RECURSIVE_RELATIONSHIP_CONSTANT:
            function(model)
            return
        if "." in related:
            app_label, model_name = related.split(".", 1)
        else:
            app_label, model_name = model._meta.app_label, related
        model._meta.apps.lazy_model_operation(function, app_label, model_name)
        return
    function(related)


class RelatedField(f.Field[T]):
    is_relation = True
    remote_field: Any
    related_accessor_class: Any = None

    @property
    def related_model(self) -> Any:
        model = self.remote_field.model
        if isinstance(model, str):
            raise FieldError(
                f"Related model {model!r} of "
                f"{self.model.__name__ if self.model else '?'}.{self.name} "
                "cannot be resolved (is it defined, with the right app_label?)."
            )
        return model

    def related_query_name(self) -> str:
        rf = self.remote_field
        assert self.model is not None
        return (
            rf.related_query_name
            or (rf.related_name if rf.related_name and not rf.related_name.endswith("+") else None)
            or self.model._meta.default_related_name
            or self.model._meta.model_name
        )

    def contribute_to_related_class(self, cls: Any, target: Any) -> None:
        """Install the reverse side on the target model once it is known."""
        self.remote_field.model = target
        target_meta = target._meta
        if self.remote_field not in target_meta.related_objects:
            target_meta.related_objects.append(self.remote_field)
            target_meta._expire_cache()
        accessor = self.remote_field.get_accessor_name()
        if accessor and not target._meta.abstract:
            setattr(target, accessor, self.related_accessor_class(self.remote_field))


class ForeignKey(RelatedField[T]):
    """A many-to-one relation; stored as ``<name>_id`` holding the target's key."""

    many_to_one = True
    one_to_one = False
    many_to_many = False
    rel_class = ManyToOneRel
    empty_strings_allowed = False

    def __init__(
        self,
        to: type[T] | str,
        on_delete: Callable[..., Any],
        related_name: str | None = None,
        related_query_name: str | None = None,
        to_field: str | None = None,
        db_constraint: bool = True,
        **kwargs: Any,
    ) -> None:
        if not callable(on_delete):
            raise TypeError("on_delete must be callable (e.g. dorm.CASCADE).")
        if isinstance(to, str) or hasattr(to, "_meta"):
            pass
        else:
            raise TypeError(
                f"{type(self).__name__}({to!r}) is invalid: the first argument must be a model, "
                "a model name, or 'self'."
            )
        if on_delete is SET_NULL and not kwargs.get("null"):
            raise FieldError("on_delete=SET_NULL needs null=True on the field.")
        kwargs.setdefault("db_index", True)
        super().__init__(**kwargs)
        self.remote_field = self.rel_class(
            self,
            to,
            to_field,
            related_name=related_name,
            related_query_name=related_query_name,
            on_delete=on_delete,
        )
        self.db_constraint = db_constraint
        self.to_field = to_field

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("db_index", None) if self.db_index else kwargs.__setitem__("db_index", False)
        to = self.remote_field.model
        kwargs["to"] = to if isinstance(to, str) else to._meta.label
        kwargs["on_delete"] = self.remote_field.on_delete
        if self.remote_field.related_name:
            kwargs["related_name"] = self.remote_field.related_name
        if self.remote_field.related_query_name:
            kwargs["related_query_name"] = self.remote_field.related_query_name
        if self.to_field:
            kwargs["to_field"] = self.to_field
        if not self.db_constraint:
            kwargs["db_constraint"] = False
        return name, path, args, kwargs

    def get_attname(self) -> str:
        return f"{self.name}_id"

    def contribute_to_class(self, cls: Any, name: str) -> None:
        from dorm.models.related_descriptors import ForeignKeyAttname, ForwardManyToOneDescriptor

        f.Field.contribute_to_class(self, cls, name)
        setattr(cls, self.attname, ForeignKeyAttname(self))
        setattr(cls, self.name, self.forward_descriptor_class()(self))
        if not cls._meta.abstract:
            to = self.remote_field.model
            lazy_related_operation(
                lambda target: self.contribute_to_related_class(cls, target), cls, to, self
            )
        _ = ForwardManyToOneDescriptor

    def forward_descriptor_class(self) -> Any:
        from dorm.models.related_descriptors import ForwardManyToOneDescriptor

        return ForwardManyToOneDescriptor

    @property
    def related_accessor_class(self) -> Any:  # type: ignore[override]
        from dorm.models.related_descriptors import ReverseManyToOneDescriptor

        return ReverseManyToOneDescriptor

    @property
    def target_field(self) -> Any:
        model = self.related_model
        if self.to_field:
            return model._meta.get_field(self.to_field)
        return model._meta.pk

    def get_internal_type(self) -> str:
        return "ForeignKey"

    def db_type(self, connection: Any) -> str | None:
        target = self.target_field
        internal = target.get_internal_type()
        mapped = {
            "AutoField": "IntegerField",
            "BigAutoField": "BigIntegerField",
            "SmallAutoField": "SmallIntegerField",
        }.get(internal)
        if mapped is not None:
            return str(connection.data_types[mapped] % target._db_type_params(connection))
        return target.db_type(connection)  # type: ignore[no-any-return]

    def db_type_suffix(self, connection: Any) -> str | None:
        return None

    def db_check(self, connection: Any) -> str | None:
        return None

    def cast_db_type(self, connection: Any) -> str | None:
        return self.db_type(connection)

    def get_prep_value(self, value: Any) -> Any:
        if hasattr(value, "_meta"):
            value = getattr(value, self.target_field.attname)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.target_field.get_prep_value(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if hasattr(value, "_meta"):
            value = getattr(value, self.target_field.attname)
        if value is None:
            return None
        return self.target_field.get_db_prep_value(value, connection, prepared=prepared)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if hasattr(value, "_meta"):  # update(author=obj), on_delete=SET(obj)
            value = getattr(value, self.target_field.attname)
        if value is None or value == "":
            return None
        return self.target_field.get_db_prep_save(value, connection)

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        return self.target_field.get_db_converters(connection)  # type: ignore[no-any-return]

    def to_python(self, value: Any) -> Any:
        return self.target_field.to_python(value)

    def get_default(self) -> Any:
        value = super().get_default()
        if hasattr(value, "_meta"):
            return getattr(value, self.target_field.attname)
        return value

    def validate(self, value: Any, model_instance: Any) -> None:
        super().validate(value, model_instance)
        if value is None:
            return
        qs = self.related_model._base_manager.using(
            model_instance._state.db if model_instance is not None else None
        ).filter(**{self.target_field.name: value})
        if not qs.exists():
            from dorm.exceptions import ValidationError

            raise ValidationError(
                f"{self.related_model._meta.verbose_name} instance with "
                f"{self.target_field.name} {value!r} does not exist."
            )

    @overload  # type: ignore[override]
    def __get__(self, instance: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, instance: Model, owner: Any) -> T: ...
    def __get__(self, instance: Any, owner: Any) -> Any:  # pragma: no cover - typing only
        return self


class OneToOneField(ForeignKey[T]):
    """A one-to-one relation: a unique ``ForeignKey`` whose reverse side is a single object."""

    many_to_one = False
    one_to_one = True
    rel_class = OneToOneRel

    def __init__(self, to: type[T] | str, on_delete: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["unique"] = True
        super().__init__(to, on_delete, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("unique", None)
        return name, path, args, kwargs

    def forward_descriptor_class(self) -> Any:
        from dorm.models.related_descriptors import ForwardOneToOneDescriptor

        return ForwardOneToOneDescriptor

    @property
    def related_accessor_class(self) -> Any:  # type: ignore[override]
        from dorm.models.related_descriptors import ReverseOneToOneDescriptor

        return ReverseOneToOneDescriptor

    def get_internal_type(self) -> str:
        return "OneToOneField"


class ManyToManyField(RelatedField[Any]):
    """A many-to-many relation through an auto-created (or given) join table."""

    many_to_many = True
    many_to_one = False
    one_to_one = False
    concrete = False
    rel_class = ManyToManyRel

    def __init__(
        self,
        to: Any,
        related_name: str | None = None,
        related_query_name: str | None = None,
        through: Any = None,
        through_fields: tuple[str, str] | None = None,
        db_table: str | None = None,
        symmetrical: bool | None = None,
        db_constraint: bool = True,
        **kwargs: Any,
    ) -> None:
        if through is not None and db_table:
            raise FieldError("Cannot specify a db_table if an intermediary model is used.")
        if kwargs.get("null"):
            pass
        kwargs.setdefault("blank", False)
        super().__init__(**kwargs)
        if symmetrical is None:
            symmetrical = to == RECURSIVE_RELATIONSHIP_CONSTANT
        self.remote_field = self.rel_class(
            self,
            to,
            through=through,
            through_fields=through_fields,
            symmetrical=symmetrical,
            related_name=related_name,
            related_query_name=related_query_name,
        )
        self.db_table = db_table
        self.db_constraint = db_constraint

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        to = self.remote_field.model
        kwargs["to"] = to if isinstance(to, str) else to._meta.label
        if self.remote_field.related_name:
            kwargs["related_name"] = self.remote_field.related_name
        if self.remote_field.related_query_name:
            kwargs["related_query_name"] = self.remote_field.related_query_name
        through = self.remote_field.through
        if through is not None and not (hasattr(through, "_meta") and through._meta.auto_created):
            kwargs["through"] = through if isinstance(through, str) else through._meta.label
        if self.db_table:
            kwargs["db_table"] = self.db_table
        return name, path, args, kwargs

    def get_attname(self) -> str:
        return self.name

    def get_internal_type(self) -> str:
        return "ManyToManyField"

    def db_type(self, connection: Any) -> str | None:
        return None

    def contribute_to_class(self, cls: Any, name: str) -> None:
        from dorm.models.related_descriptors import ManyToManyDescriptor

        self.set_attributes_from_name(name)
        self.model = cls
        if self.verbose_name is None:
            self.verbose_name = self.name.replace("_", " ")
        if (
            self.remote_field.symmetrical
            and self.remote_field.related_name is None
            and (
                self.remote_field.model == RECURSIVE_RELATIONSHIP_CONSTANT
                or self.remote_field.model is cls
            )
        ):
            self.remote_field.related_name = f"{name}_rel_+"
        cls._meta.add_field(self)
        setattr(cls, name, ManyToManyDescriptor(self.remote_field, reverse=False))
        if cls._meta.abstract:
            return

        def resolve_target(target: Any) -> None:
            self.remote_field.model = target
            through = self.remote_field.through
            if through is None:
                self.remote_field.through = create_many_to_many_intermediary_model(self, cls)
                self.contribute_to_related_class(cls, target)
            else:

                def resolve_through(through_model: Any) -> None:
                    self.remote_field.through = through_model
                    self.contribute_to_related_class(cls, target)

                lazy_related_operation(resolve_through, cls, through, self)

        lazy_related_operation(resolve_target, cls, self.remote_field.model, self)

    @property
    def related_accessor_class(self) -> Any:  # type: ignore[override]
        from dorm.models.related_descriptors import ManyToManyDescriptor

        return lambda rel: ManyToManyDescriptor(rel, reverse=True)

    def contribute_to_related_class(self, cls: Any, target: Any) -> None:
        if self.remote_field.symmetrical and target is cls:
            # A symmetrical self-relation has no separate reverse side.
            target._meta.related_objects.append(self.remote_field)
            target._meta._expire_cache()
            return
        super().contribute_to_related_class(cls, target)

    def m2m_field_name(self) -> str:
        """Name of the through model's FK pointing at the model declaring this field."""
        return self._through_field_names()[0]

    def m2m_reverse_field_name(self) -> str:
        """Name of the through model's FK pointing at the target model."""
        return self._through_field_names()[1]

    def _through_field_names(self) -> tuple[str, str]:
        rf = self.remote_field
        if rf.through_fields:
            return rf.through_fields  # type: ignore[no-any-return]
        through = rf.through
        source, target = None, None
        for field in through._meta.local_fields:
            if not getattr(field, "is_relation", False):
                continue
            related = field.remote_field.model
            if related is self.model and source is None:
                source = field.name
            elif related is rf.model and target is None:
                target = field.name
        if source is None or target is None:
            raise FieldError(
                f"The through model {through.__name__} of {self.model.__name__}.{self.name} needs "
                f"foreign keys to {self.model.__name__} and {rf.model.__name__} "
                "(or set through_fields)."
            )
        return source, target

    def value_from_object(self, obj: Any) -> Any:
        return list(getattr(obj, self.attname).all()) if obj.pk is not None else []

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        return []


def create_many_to_many_intermediary_model(field: ManyToManyField, klass: Any) -> Any:
    """The auto-created through model, with Django's table and column names."""
    from dorm.models.base import Model

    to = field.remote_field.model
    name = f"{klass._meta.object_name}_{field.name}"
    to_name = to._meta.model_name
    from_name = klass._meta.model_name
    if to_name == from_name:
        to_name, from_name = f"to_{to_name}", f"from_{from_name}"
    meta = type(
        "Meta",
        (),
        {
            "db_table": field.db_table or f"{klass._meta.db_table}_{field.name}"[:63],
            "app_label": klass._meta.app_label,
            "unique_together": [(from_name, to_name)],
            "verbose_name": f"{from_name}-{to_name} relationship",
            "apps": klass._meta.apps,
        },
    )
    attrs = {
        "Meta": meta,
        "__module__": klass.__module__,
        from_name: ForeignKey(
            klass, related_name=f"{name}+", on_delete=CASCADE, db_constraint=field.db_constraint
        ),
        to_name: ForeignKey(
            to, related_name=f"{name}+", on_delete=CASCADE, db_constraint=field.db_constraint
        ),
    }
    through = type(name, (Model,), attrs)
    through._meta.auto_created = klass
    field.remote_field.through_fields = (from_name, to_name)
    return through
