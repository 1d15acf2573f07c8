"""PostgreSQL-only model fields: :class:`ArrayField`.

::

    from dorm_postgres.fields import ArrayField

    class Post(dorm.Model):
        tags = ArrayField(dorm.CharField(max_length=20), default=list)

    Post.objects.filter(tags__contains=["db"])        # tags @> ARRAY['db']
    Post.objects.filter(tags__contained_by=["a", "b"])  # tags <@ ...
    Post.objects.filter(tags__overlap=["a", "z"])      # tags && ...
    Post.objects.filter(tags__len=2)                   # array_length(tags, 1) = 2
    Post.objects.filter(tags__0="db")                  # tags[1] = 'db' (0-based, as Python)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dorm.exceptions import FieldError, ValidationError
from dorm.models.fields import Field, IntegerField
from dorm.models.lookups import BuiltinLookup, Exact, Transform

if TYPE_CHECKING:
    from dorm.models.base import Model

__all__ = [
    "ArrayContainedBy",
    "ArrayContains",
    "ArrayExact",
    "ArrayField",
    "ArrayIndexTransform",
    "ArrayLenTransform",
    "ArrayOverlap",
]


class ArrayField(Field[list[Any]]):
    """A PostgreSQL array of ``base_field`` values (``size``: an optional maximum length)."""

    empty_strings_allowed = False
    default_error_messages = {
        "item_invalid": "Item %(nth)s in the array did not validate: %(message)s",
        "max_length": "List contains %(count)s items, it should contain no more than %(size)s.",
        "invalid": "Value %(value)r is not a list.",
    }

    def __init__(self, base_field: Field[Any], size: int | None = None, **kwargs: Any) -> None:
        if not isinstance(base_field, Field):
            raise FieldError("ArrayField needs a field instance as base_field.")
        if base_field.is_relation:
            raise FieldError("ArrayField base_field cannot be a related field.")
        if size is not None and (not isinstance(size, int) or size < 1):
            raise FieldError(f"ArrayField size must be a positive integer, got {size!r}.")
        self.base_field = base_field
        self.size = size
        super().__init__(**kwargs)

    def contribute_to_class(self, cls: type[Model], name: str) -> None:
        super().contribute_to_class(cls, name)
        self.base_field.model = cls
        self.base_field.set_attributes_from_name(name)

    def get_internal_type(self) -> str:
        return "ArrayField"

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs["base_field"] = self.base_field.clone()
        if self.size is not None:
            kwargs["size"] = self.size
        return name, path, args, kwargs

    # Schema ------------------------------------------------------------------------------

    def db_type(self, connection: Any) -> str | None:
        base = self.base_field.db_type(connection)
        if base is None:
            raise FieldError(
                f"ArrayField base_field {type(self.base_field).__name__} has no column type."
            )
        return f"{base}[{self.size or ''}]"

    def cast_db_type(self, connection: Any) -> str | None:
        return f"{self.base_field.cast_db_type(connection)}[]"

    def db_check(self, connection: Any) -> str | None:
        return None

    def db_type_suffix(self, connection: Any) -> str | None:
        return None

    # Conversion --------------------------------------------------------------------------

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value)
        if value is None:
            return None
        if not isinstance(value, (list, tuple)):
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            )
        result = []
        for index, item in enumerate(value):
            try:
                result.append(self.base_field.to_python(item))
            except ValidationError as exc:
                raise ValidationError(
                    self.error_messages["item_invalid"],
                    code="item_invalid",
                    params={"nth": index + 1, "message": "; ".join(exc.messages)},
                ) from None
        return result

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"Field {self.name!r} expected a list but got {value!r}.")
        return [self.base_field.get_prep_value(item) for item in value]

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if not prepared:
            value = self.get_prep_value(value)
        return [
            None if item is None else self.base_field.get_db_prep_value(item, connection, True)
            for item in value
        ]

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        converters = self.base_field.get_db_converters(connection)
        if not converters:
            return []

        def convert(value: Any) -> Any:
            if value is None:
                return None
            result = []
            for item in value:
                for converter in converters:
                    item = converter(item)
                result.append(item)
            return result

        return [convert]

    def value_to_string(self, obj: Model) -> str:
        return json.dumps(self.value_from_object(obj), default=str)

    # Validation --------------------------------------------------------------------------

    def validate(self, value: Any, model_instance: Model | None) -> None:
        super().validate(value, model_instance)
        if value is None:
            return
        for index, item in enumerate(value):
            try:
                self.base_field.validate(item, model_instance)
            except ValidationError as exc:
                raise ValidationError(
                    self.error_messages["item_invalid"],
                    code="item_invalid",
                    params={"nth": index + 1, "message": "; ".join(exc.messages)},
                ) from None
        if self.size is not None and len(value) > self.size:
            raise ValidationError(
                self.error_messages["max_length"],
                code="max_length",
                params={"count": len(value), "size": self.size},
            )

    def run_validators(self, value: Any) -> None:
        super().run_validators(value)
        if value is None:
            return
        for index, item in enumerate(value):
            try:
                self.base_field.run_validators(item)
            except ValidationError as exc:
                raise ValidationError(
                    self.error_messages["item_invalid"],
                    code="item_invalid",
                    params={"nth": index + 1, "message": "; ".join(exc.messages)},
                ) from None

    # Lookups -----------------------------------------------------------------------------

    def get_transform(self, name: str) -> Any:
        transform = super().get_transform(name)
        if transform is not None:
            return transform
        if name.isdigit():
            return _IndexTransformFactory(int(name), self.base_field)
        return None


# Lookups and transforms ------------------------------------------------------------------


class _ArrayRHS:
    """The right-hand side cast to the column's array type (``%s::varchar(20)[]``)."""

    def process_rhs(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        if self.rhs_is_expr:  # type: ignore[attr-defined]
            return super().process_rhs(compiler, connection)  # type: ignore[misc,no-any-return]
        field = self.lhs._output_field_or_none  # type: ignore[attr-defined]
        cast = field.cast_db_type(connection) if field is not None else None
        value = self.rhs_db_value(connection)  # type: ignore[attr-defined]
        return (f"%s::{cast}" if cast else "%s"), [value]


class _ArrayOperator(_ArrayRHS, BuiltinLookup):
    operator = ""

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"({lhs_sql} {self.operator} {rhs_sql})", [*lhs_params, *rhs_params]


@ArrayField.register_lookup
class ArrayContains(_ArrayOperator):
    """``tags__contains=[...]``: every given element is in the array (``@>``)."""

    lookup_name = "contains"
    operator = "@>"


@ArrayField.register_lookup
class ArrayContainedBy(_ArrayOperator):
    """``tags__contained_by=[...]``: every element of the array is given (``<@``)."""

    lookup_name = "contained_by"
    operator = "<@"


@ArrayField.register_lookup
class ArrayOverlap(_ArrayOperator):
    """``tags__overlap=[...]``: at least one element in common (``&&``)."""

    lookup_name = "overlap"
    operator = "&&"


@ArrayField.register_lookup
class ArrayExact(_ArrayRHS, Exact):
    lookup_name = "exact"


@ArrayField.register_lookup
class ArrayLenTransform(Transform):
    """``tags__len``: the number of elements (0 for an empty array, NULL for NULL)."""

    lookup_name = "len"

    def __init__(self, expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=IntegerField(), **extra)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.lhs)
        return (
            f"CASE WHEN {sql} IS NULL THEN NULL ELSE COALESCE(array_length({sql}, 1), 0) END",
            [*params, *params],
        )

    def cache_key(self) -> Any:
        key = self.lhs.cache_key()
        return None if key is None else ("ArrayLen", key)


class ArrayIndexTransform(Transform):
    """``tags__0``: one element, 0-based as in Python (SQL arrays are 1-based)."""

    def __init__(self, index: int, base_field: Field[Any], expression: Any, **extra: Any) -> None:
        super().__init__(expression, output_field=base_field, **extra)
        self.index = int(index)

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:  # type: ignore[override]
        sql, params = compiler.compile(self.lhs)
        return f"({sql})[{self.index + 1}]", params

    def cache_key(self) -> Any:
        key = self.lhs.cache_key()
        return None if key is None else ("ArrayIndex", self.index, key)


class _IndexTransformFactory:
    def __init__(self, index: int, base_field: Field[Any]) -> None:
        self.index = index
        self.base_field = base_field

    def __call__(self, *args: Any, **kwargs: Any) -> ArrayIndexTransform:
        return ArrayIndexTransform(self.index, self.base_field, *args, **kwargs)
