"""Model fields: typed descriptors (``Field[T]``) that convert values to and from the database.

Conversion is written once, here and in the backend ``ops``; the sync and async paths share it.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, overload

from dorm import validators as v
from dorm.conf import settings
from dorm.exceptions import FieldError, ValidationError
from dorm.utils import NOT_PROVIDED, now

if TYPE_CHECKING:
    from typing import Self

    from dorm.models.base import Model

T = TypeVar("T")

__all__ = [
    "NOT_PROVIDED",
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BinaryField",
    "BooleanField",
    "CharField",
    "DateField",
    "DateTimeField",
    "DecimalField",
    "DurationField",
    "EmailField",
    "Field",
    "FloatField",
    "GenericIPAddressField",
    "IntegerField",
    "JSONField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallAutoField",
    "SmallIntegerField",
    "TextField",
    "TimeField",
    "URLField",
    "UUIDField",
]


class _DatabaseDefault:
    """Placeholder value of a field whose default is computed by the database (db_default)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DatabaseDefault"


DATABASE_DEFAULT: Any = _DatabaseDefault()

#: Called whenever a lookup is registered or unregistered, so that caches of resolved
#: filters (e.g. the QuerySet's) forget what they learnt.
LOOKUP_CHANGE_HOOKS: list[Callable[[], None]] = []


class Field(Generic[T]):
    """Base of every model field.

    On an instance the attribute is the plain Python value (``author.name`` is a ``str``);
    on the class it is the field object (``Author.name`` is a ``CharField``).
    """

    empty_strings_allowed = True
    empty_values: ClassVar[tuple[Any, ...]] = (None, "", [], (), {})
    default_validators: ClassVar[list[Callable[[Any], None]]] = []
    class_lookups: ClassVar[dict[str, type]] = {}
    default_error_messages: ClassVar[dict[str, str]] = {
        "invalid_choice": "Value %(value)r is not a valid choice.",
        "null": "This field cannot be null.",
        "blank": "This field cannot be blank.",
        "unique": "%(model_name)s with this %(field_label)s already exists.",
    }
    is_relation = False
    many_to_many = False
    concrete = True
    auto_created = False
    _creation_counter = 0

    def __init__(
        self,
        verbose_name: str | None = None,
        name: str | None = None,
        *,
        primary_key: bool = False,
        max_length: int | None = None,
        unique: bool = False,
        blank: bool = False,
        null: bool = False,
        db_index: bool = False,
        default: Any = NOT_PROVIDED,
        db_default: Any = NOT_PROVIDED,
        editable: bool = True,
        choices: Iterable[Any] | None = None,
        help_text: str = "",
        db_column: str | None = None,
        validators: Sequence[Callable[[Any], None]] = (),
        error_messages: dict[str, str] | None = None,
        db_comment: str | None = None,
    ) -> None:
        self.name = name or ""
        self.verbose_name = verbose_name
        self.primary_key = primary_key
        self.max_length = max_length
        self._unique = unique
        self.blank = blank
        self.null = null
        self.db_index = db_index
        self.default = default
        self.db_default = db_default
        self.editable = editable
        self.choices = list(choices) if choices is not None else None
        self.help_text = help_text
        self.db_column = db_column
        self._validators = list(validators)
        self._error_messages = error_messages
        self.db_comment = db_comment
        self.model: type[Model] | None = None
        self.attname = ""
        self.column = ""
        self.creation_counter = Field._creation_counter
        Field._creation_counter += 1
        self.error_messages: dict[str, str] = {}
        for cls in reversed(type(self).__mro__):
            self.error_messages.update(getattr(cls, "default_error_messages", {}))
        self.error_messages.update(error_messages or {})

    # Descriptor ------------------------------------------------------------------------

    @overload
    def __get__(self, instance: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, instance: Model, owner: Any) -> T: ...
    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self
        # Only reached when the value is not in the instance __dict__: a deferred field.
        instance.refresh_from_db(fields=[self.attname])
        return instance.__dict__[self.attname]

    def __set__(self, instance: Any, value: T) -> None:  # pragma: no cover - typing only
        instance.__dict__[self.attname] = value

    # Class wiring ----------------------------------------------------------------------

    def contribute_to_class(self, cls: type[Model], name: str) -> None:
        self.name = self.name or name
        self.model = cls
        self.attname = self.get_attname()
        self.column = self.db_column or self.attname
        if self.verbose_name is None:
            self.verbose_name = self.name.replace("_", " ")
        cls._meta.add_field(self)
        # A non-data descriptor: instance __dict__ wins, so reads of loaded values are plain
        # dict lookups. __set__ is declared for type checkers only; remove it at runtime.
        setattr(cls, self.attname, _FieldDescriptor(self))

    def get_attname(self) -> str:
        return self.name

    def set_attributes_from_name(self, name: str) -> None:
        self.name = self.name or name
        self.attname = self.get_attname()
        self.column = self.db_column or self.attname

    @property
    def unique(self) -> bool:
        return self._unique or self.primary_key

    @property
    def validators(self) -> list[Callable[[Any], None]]:
        return [*self.default_validators, *self._validators]

    def get_internal_type(self) -> str:
        """The built-in field this one is stored as: its own class name for dorm's fields, the
        nearest dorm field it extends for a project's subclass (as Django's fields)."""
        for klass in type(self).__mro__:
            if is_dorm_class(klass):
                return klass.__name__
        return type(self).__name__

    def __repr__(self) -> str:
        path = f"{type(self).__module__}.{type(self).__qualname__}"
        if self.model is not None:
            return f"<{path}: {self.model._meta.label}.{self.name}>"
        return f"<{path}: {self.name or '(unbound)'}>"

    def __lt__(self, other: Field[Any]) -> bool:
        return self.creation_counter < other.creation_counter

    def __deepcopy__(self, memo: dict[int, Any]) -> Field[T]:
        obj = copy.copy(self)
        obj.choices = copy.deepcopy(self.choices, memo)
        obj._validators = list(self._validators)
        obj.error_messages = dict(self.error_messages)
        return obj

    def clone(self) -> Self:
        """An unbound copy (used for abstract-model inheritance and migration state)."""
        _name, _path, args, kwargs = self.deconstruct()
        return type(self)(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        """(name, import path, args, kwargs) that rebuild this field; for migrations."""
        kwargs: dict[str, Any] = {}
        defaults = {
            "verbose_name": None,
            "primary_key": False,
            "max_length": None,
            "unique": False,
            "blank": False,
            "null": False,
            "db_index": False,
            "default": NOT_PROVIDED,
            "db_default": NOT_PROVIDED,
            "editable": True,
            "choices": None,
            "help_text": "",
            "db_column": None,
            "db_comment": None,
        }
        values = {
            "verbose_name": self.verbose_name
            if self.verbose_name != self.name.replace("_", " ")
            else None,
            "primary_key": self.primary_key,
            "max_length": self.max_length,
            "unique": self._unique,
            "blank": self.blank,
            "null": self.null,
            "db_index": self.db_index,
            "default": self.default,
            "db_default": self.db_default,
            "editable": self.editable,
            "choices": self.choices,
            "help_text": self.help_text,
            "db_column": self.db_column,
            "db_comment": self.db_comment,
        }
        for key, value in values.items():
            if value is not defaults[key] and value != defaults[key]:
                kwargs[key] = value
        if self._validators:
            kwargs["validators"] = list(self._validators)
        module = type(self).__module__
        if module.startswith("dorm.models"):
            module = "dorm"
        return self.name, f"{module}.{type(self).__qualname__}", [], kwargs

    # Lookups ---------------------------------------------------------------------------

    @classmethod
    def register_lookup(cls, lookup: type, lookup_name: str | None = None) -> type:
        """Make ``field__<name>=...`` available on this field class and its subclasses."""
        name = lookup_name or lookup.lookup_name  # type: ignore[attr-defined]
        if "class_lookups" not in cls.__dict__:
            cls.class_lookups = {}
        cls.class_lookups[name] = lookup
        for hook in LOOKUP_CHANGE_HOOKS:
            hook()
        return lookup

    @classmethod
    def _unregister_lookup(cls, lookup: type, lookup_name: str | None = None) -> None:
        name = lookup_name or lookup.lookup_name  # type: ignore[attr-defined]
        cls.__dict__.get("class_lookups", {}).pop(name, None)
        for hook in LOOKUP_CHANGE_HOOKS:
            hook()

    @classmethod
    def get_lookups(cls) -> dict[str, type]:
        merged: dict[str, type] = {}
        for klass in reversed(cls.__mro__):
            merged.update(klass.__dict__.get("class_lookups", {}))
        return merged

    def get_lookup(self, name: str) -> type | None:
        from dorm.models.lookups import Lookup

        found = self.get_lookups().get(name)
        return found if found is not None and issubclass(found, Lookup) else None

    def get_transform(self, name: str) -> Any:
        from dorm.models.lookups import Transform

        found = self.get_lookups().get(name)
        return found if found is not None and issubclass(found, Transform) else None

    # Defaults --------------------------------------------------------------------------

    def has_default(self) -> bool:
        return self.default is not NOT_PROVIDED

    def has_db_default(self) -> bool:
        return self.db_default is not NOT_PROVIDED

    def get_default(self) -> Any:
        if self.default is not NOT_PROVIDED:
            return self.default() if callable(self.default) else self.default
        if self.db_default is not NOT_PROVIDED:
            return DATABASE_DEFAULT
        if not self.empty_strings_allowed or self.null:
            return None
        return ""

    # Conversion ------------------------------------------------------------------------

    def to_python(self, value: Any) -> Any:
        """Convert user input to this field's Python type; ``ValidationError`` if impossible."""
        return value

    def _prep_error(self, exc: ValidationError) -> ValidationError:
        """A ``to_python`` error of a value bound for a query or a save, naming the field."""
        return ValidationError(f"Field {self.name!r}: {'; '.join(exc.messages)}", code=exc.code)

    #: Query and save values go through ``to_python`` (conversion errors name the field).
    prep_with_to_python: ClassVar[bool] = False
    #: The ``connection.ops`` method adapting a prepared value for the driver, if any.
    db_adapter: ClassVar[str | None] = None
    #: Exact value classes ``get_prep_value`` returns unchanged and never rejects: saves and
    #: filters skip the call for them (see :func:`db_prep_plan`). A subclass overriding a
    #: conversion method starts again from none unless it declares its own.
    prep_passthrough: ClassVar[frozenset[type]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The declaration holds only for the conversion methods of the class that made it
        # (or of its bases): one overridden closer to ``cls``, a mixin's included, voids it.
        mro = cls.__mro__
        declared = _first_defining(mro, "prep_passthrough")
        if any(_first_defining(mro, name) < declared for name in _PREP_METHODS):
            cls.prep_passthrough = frozenset()

    def get_prep_value(self, value: Any) -> Any:
        """Python value -> a value any backend accepts (before backend-specific adaptation)."""
        if not self.prep_with_to_python or value is None or hasattr(value, "resolve_expression"):
            return value
        try:
            return self.to_python(value)
        except ValidationError as exc:
            raise self._prep_error(exc) from None

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        """Python value -> the parameter sent to ``connection``."""
        if not prepared:
            value = self.get_prep_value(value)
        if self.db_adapter is None:
            return value
        return getattr(connection.ops, self.db_adapter)(value)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        return self.get_db_prep_value(value, connection)

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        """Functions applied to values read from ``connection``; empty when none needed."""
        return list(connection.ops.get_db_converters(self.get_internal_type()))

    def pre_save(self, instance: Model, add: bool) -> Any:
        return instance.__dict__.get(self.attname)

    def value_from_object(self, obj: Model) -> Any:
        return obj.__dict__.get(self.attname)

    def value_to_string(self, obj: Model) -> str:
        return str(self.value_from_object(obj))

    # Schema ----------------------------------------------------------------------------

    def db_type(self, connection: Any) -> str | None:
        template = connection.data_types.get(self.get_internal_type())
        if template is None:
            return None
        return str(template % self._db_type_params(connection))

    def _db_type_params(self, connection: Any) -> dict[str, Any]:
        return {
            "max_length": self.max_length,
            "column": self.column,
            "max_digits": getattr(self, "max_digits", None),
            "decimal_places": getattr(self, "decimal_places", None),
        }

    def db_check(self, connection: Any) -> str | None:
        template = connection.data_type_check_constraints.get(self.get_internal_type())
        if template is None:
            return None
        return str(template % self._db_type_params(connection))

    def db_type_suffix(self, connection: Any) -> str | None:
        return connection.data_types_suffix.get(self.get_internal_type())

    def cast_db_type(self, connection: Any) -> str | None:
        return self.db_type(connection)

    # Validation ------------------------------------------------------------------------

    def run_validators(self, value: Any) -> None:
        if value in self.empty_values:
            return
        errors: list[str] = []
        for validator in self.validators:
            try:
                validator(value)
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)

    def validate(self, value: Any, model_instance: Model | None) -> None:
        if not self.editable:
            return
        if self.choices is not None and value not in self.empty_values:
            allowed = []
            for choice in self.choices:
                key, label = choice if isinstance(choice, (list, tuple)) else (choice, choice)
                if isinstance(label, (list, tuple)):
                    allowed.extend(k for k, _ in label)
                else:
                    allowed.append(key)
            if value not in allowed:
                raise ValidationError(
                    self.error_messages["invalid_choice"], params={"value": value}
                )
        if value is None and not self.null:
            raise ValidationError(self.error_messages["null"])
        if not self.blank and value in self.empty_values:
            raise ValidationError(self.error_messages["blank"])

    def clean(self, value: Any, model_instance: Model | None) -> Any:
        value = self.to_python(value)
        self.validate(value, model_instance)
        self.run_validators(value)
        return value

    @property
    def flatchoices(self) -> list[tuple[Any, Any]]:
        flat: list[tuple[Any, Any]] = []
        for choice in self.choices or []:
            key, label = choice if isinstance(choice, (list, tuple)) else (choice, choice)
            if isinstance(label, (list, tuple)):
                flat.extend(label)
            else:
                flat.append((key, label))
        return flat


def is_dorm_class(klass: type) -> bool:
    """Whether ``klass`` is one of dorm's own (not a project's subclass or mixin)."""
    return klass.__module__.partition(".")[0] == "dorm"


def _first_defining(mro: tuple[type, ...], name: str) -> int:
    """The index in ``mro`` of the class whose ``name`` attribute is used."""
    return next((i for i, klass in enumerate(mro) if name in klass.__dict__), len(mro))


#: The conversion methods whose override resets ``prep_passthrough``.
_PREP_METHODS = (
    "get_prep_value",
    "to_python",
    "prep_with_to_python",
    "get_db_prep_value",
    "get_db_prep_save",
)


def db_prep_plan(field: Field[Any], ops: Any) -> tuple[frozenset[type], Any]:
    """``(classes, adapter)``: for a value whose class is in ``classes``,
    ``field.get_db_prep_value(value, connection)`` is ``adapter(ops, value)`` (``value`` itself
    when ``adapter`` is None), ``ops`` being that connection's operations. Hot loops use it to
    skip the method chain for plain values; the adapter is unbound so that plans can be
    cached per operations class, not per connection."""
    adapter = field.db_adapter
    return field.prep_passthrough, None if adapter is None else getattr(type(ops), adapter)


class _FieldDescriptor:
    """Runtime class attribute of a field: a non-data descriptor over the field object.

    Loaded values live in the instance ``__dict__`` and are read without Python-level code;
    the descriptor only runs for class access (returns the field) and deferred fields.
    """

    __slots__ = ("field",)

    def __init__(self, field: Field[Any]) -> None:
        self.field = field

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is None:
            return self.field
        field = self.field
        if field.attname not in instance.__dict__:
            instance.refresh_from_db(fields=[field.attname])
        return instance.__dict__[field.attname]


# Numbers -------------------------------------------------------------------------------


class IntegerField(Field[int]):
    prep_passthrough = frozenset({int})
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value must be an integer."}
    integer_range: ClassVar[tuple[int, int]] = (-2147483648, 2147483647)

    @property
    def validators(self) -> list[Callable[[Any], None]]:
        low, high = self.integer_range
        return [v.MinValueValidator(low), v.MaxValueValidator(high), *super().validators]

    def to_python(self, value: Any) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        try:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(value)
        except (TypeError, ValueError):
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, int):
            return value
        if hasattr(value, "resolve_expression"):
            return value
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Field {self.name!r} expected a number but got {value!r}.") from exc


class SmallIntegerField(IntegerField):
    integer_range = (-32768, 32767)


class BigIntegerField(IntegerField):
    integer_range = (-9223372036854775808, 9223372036854775807)


class PositiveIntegerField(IntegerField):
    integer_range = (0, 2147483647)


class PositiveSmallIntegerField(IntegerField):
    integer_range = (0, 32767)


class PositiveBigIntegerField(IntegerField):
    integer_range = (0, 9223372036854775807)


class AutoField(IntegerField):
    """An integer primary key the database assigns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blank"] = True
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("blank", None)
        return name, path, args, kwargs

    def validate(self, value: Any, model_instance: Model | None) -> None:
        pass

    def db_type(self, connection: Any) -> str | None:
        return super().db_type(connection)


class BigAutoField(AutoField):
    integer_range = BigIntegerField.integer_range


class SmallAutoField(AutoField):
    integer_range = SmallIntegerField.integer_range


class FloatField(Field[float]):
    prep_passthrough = frozenset({float})
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value must be a float."}

    def to_python(self, value: Any) -> Any:
        if value is None:
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"Field {self.name!r} expected a number but got {value!r}.") from exc


class DecimalField(Field[decimal.Decimal]):
    prep_with_to_python = True
    db_adapter = "adapt_decimalfield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value must be a decimal number."}

    def __init__(
        self,
        verbose_name: str | None = None,
        name: str | None = None,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        super().__init__(verbose_name, name, **kwargs)

    @property
    def validators(self) -> list[Callable[[Any], None]]:
        return [v.DecimalValidator(self.max_digits, self.decimal_places), *super().validators]

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if self.max_digits is not None:
            kwargs["max_digits"] = self.max_digits
        if self.decimal_places is not None:
            kwargs["decimal_places"] = self.decimal_places
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value is None:
            return value
        try:
            if isinstance(value, float):
                return self._quantize(decimal.Decimal(repr(value)))
            return decimal.Decimal(str(value)) if not isinstance(value, decimal.Decimal) else value
        except (decimal.InvalidOperation, TypeError, ValueError):
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def _quantize(self, value: decimal.Decimal) -> decimal.Decimal:
        if self.decimal_places is None or not value.is_finite():
            return value
        ctx = decimal.Context(prec=self.max_digits or 28)
        return value.quantize(decimal.Decimal(1).scaleb(-self.decimal_places), context=ctx)

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        converters = super().get_db_converters(connection)
        if self.decimal_places is not None:
            quantize = self._quantize

            def to_decimal(value: Any) -> Any:
                if value is None:
                    return None
                if not isinstance(value, decimal.Decimal):
                    value = decimal.Decimal(str(value))
                return quantize(value)

            converters.append(to_decimal)
        return converters


class BooleanField(Field[bool]):
    prep_passthrough = frozenset({bool})
    prep_with_to_python = True
    db_adapter = "adapt_booleanfield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value must be either True or False."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.default is NOT_PROVIDED and not self.null and not self.has_db_default():
            pass

    def to_python(self, value: Any) -> Any:
        if self.null and value in self.empty_values:
            return None
        if value in (True, False):
            return bool(value)
        if value in ("t", "True", "true", "1"):
            return True
        if value in ("f", "False", "false", "0"):
            return False
        raise ValidationError(
            self.error_messages["invalid"], code="invalid", params={"value": value}
        )

    def validate(self, value: Any, model_instance: Model | None) -> None:
        if value is None and not self.null:
            raise ValidationError(self.error_messages["null"])


# Text ----------------------------------------------------------------------------------


class CharField(Field[str]):
    prep_passthrough = frozenset({str})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.max_length is not None and (
            not isinstance(self.max_length, int) or self.max_length <= 0
        ):
            raise FieldError(
                f"CharField max_length must be a positive integer, got {self.max_length!r}."
            )

    @property
    def validators(self) -> list[Callable[[Any], None]]:
        extra = [v.MaxLengthValidator(self.max_length)] if self.max_length is not None else []
        return [*extra, *super().validators]

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) or value is None:
            return value
        return str(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str) or hasattr(value, "resolve_expression"):
            return value
        return str(value)

    def db_type(self, connection: Any) -> str | None:
        if self.max_length is None:
            return connection.ops.cast_char_field_without_max_length  # type: ignore[no-any-return]
        return super().db_type(connection)


class TextField(Field[str]):
    prep_passthrough = frozenset({str})

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) or value is None:
            return value
        return str(value)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or isinstance(value, str) or hasattr(value, "resolve_expression"):
            return value
        return str(value)


class EmailField(CharField):
    default_validators = [v.validate_email]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "CharField"


class SlugField(CharField):
    default_validators = [v.validate_slug]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 50)
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "CharField"


class URLField(CharField):
    default_validators = [v.URLValidator()]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 200)
        super().__init__(*args, **kwargs)

    def get_internal_type(self) -> str:
        return "CharField"


class GenericIPAddressField(Field[str]):
    db_adapter = "adapt_ipaddressfield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "Enter a valid IPv4 or IPv6 address."}

    def __init__(
        self, *args: Any, protocol: str = "both", unpack_ipv4: bool = False, **kwargs: Any
    ) -> None:
        self.protocol = protocol.lower()
        if self.protocol not in ("both", "ipv4", "ipv6"):
            raise FieldError("GenericIPAddressField protocol must be 'both', 'ipv4' or 'ipv6'.")
        self.unpack_ipv4 = unpack_ipv4
        kwargs["max_length"] = 39
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        if self.protocol != "both":
            kwargs["protocol"] = self.protocol
        if self.unpack_ipv4:
            kwargs["unpack_ipv4"] = True
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            value = str(value)
        value = value.strip()
        if not value:
            return None if self.null else ""
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if (self.protocol == "ipv4" and address.version != 4) or (
            self.protocol == "ipv6" and address.version != 6
        ):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        if self.unpack_ipv4 and isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(address)

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        try:
            return self.to_python(value) or None
        except ValidationError as exc:
            raise self._prep_error(exc) from None


# Dates and times -----------------------------------------------------------------------


class _AutoNowField(Field[T]):
    """``auto_now`` (set on every save) and ``auto_now_add`` (set on insert) for date/time
    fields; such fields are not editable and may be blank."""

    def __init__(
        self,
        verbose_name: str | None = None,
        name: str | None = None,
        auto_now: bool = False,
        auto_now_add: bool = False,
        **kwargs: Any,
    ) -> None:
        self.auto_now = auto_now
        self.auto_now_add = auto_now_add
        if auto_now or auto_now_add:
            kwargs["editable"] = False
            kwargs["blank"] = True
        super().__init__(verbose_name, name, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if self.auto_now:
            kwargs["auto_now"] = True
        if self.auto_now_add:
            kwargs["auto_now_add"] = True
        if self.auto_now or self.auto_now_add:
            kwargs.pop("editable", None)
            kwargs.pop("blank", None)
        return name, path, args, kwargs

    def _now(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement _now().")

    def pre_save(self, instance: Model, add: bool) -> Any:
        if self.auto_now or (self.auto_now_add and add):
            value = self._now()
            instance.__dict__[self.attname] = value
            return value
        return super().pre_save(instance, add)


class DateField(_AutoNowField[datetime.date]):
    prep_with_to_python = True
    db_adapter = "adapt_datefield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value has an invalid date format."}

    def _now(self) -> Any:
        return now().date()

    def to_python(self, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        try:
            return datetime.date.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None


class DateTimeField(DateField, Field[datetime.datetime]):
    db_adapter = "adapt_datetimefield_value"
    default_error_messages = {"invalid": "%(value)r value has an invalid datetime format."}

    if TYPE_CHECKING:
        # DateField fixes T to date; on instances a DateTimeField reads as a datetime.
        @overload
        def __get__(self, instance: None, owner: Any) -> Self: ...
        @overload
        def __get__(self, instance: Model, owner: Any) -> datetime.datetime: ...
        def __get__(self, instance: Any, owner: Any) -> Any: ...

    def _now(self) -> Any:
        return now()

    def to_python(self, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, datetime.datetime):
            return value
        if isinstance(value, datetime.date):
            value = datetime.datetime(value.year, value.month, value.day)
            return value.replace(tzinfo=datetime.UTC) if settings.USE_TZ else value
        try:
            parsed = datetime.datetime.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None
        return parsed

    def get_prep_value(self, value: Any) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        try:
            value = self.to_python(value)
        except ValidationError as exc:
            raise self._prep_error(exc) from None
        if settings.USE_TZ and value.tzinfo is None:
            # Naive datetimes are taken as UTC when time zones are on (Django warns and
            # uses the default time zone; dorm's default time zone is UTC).
            value = value.replace(tzinfo=datetime.UTC)
        return value


class TimeField(_AutoNowField[datetime.time]):
    prep_with_to_python = True
    db_adapter = "adapt_timefield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value has an invalid time format."}

    def _now(self) -> Any:
        return now().time().replace(tzinfo=None)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, datetime.time):
            return value
        if isinstance(value, datetime.datetime):
            return value.time()
        try:
            return datetime.time.fromisoformat(str(value))
        except ValueError:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None


class DurationField(Field[datetime.timedelta]):
    prep_with_to_python = True
    db_adapter = "adapt_durationfield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r value has an invalid duration format."}

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, datetime.timedelta):
            return value
        if isinstance(value, (int, float)):
            return datetime.timedelta(seconds=value)
        raise ValidationError(
            self.error_messages["invalid"], code="invalid", params={"value": value}
        )


# Other ---------------------------------------------------------------------------------


class UUIDField(Field[uuid.UUID]):
    prep_with_to_python = True
    db_adapter = "adapt_uuidfield_value"
    empty_strings_allowed = False
    default_error_messages = {"invalid": "%(value)r is not a valid UUID."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_length"] = 32
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("max_length", None)
        return name, path, args, kwargs

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, uuid.UUID):
            return value
        try:
            return uuid.UUID(int=value) if isinstance(value, int) else uuid.UUID(str(value))
        except (AttributeError, ValueError):
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None


class BinaryField(Field[bytes]):
    empty_values = (None, b"")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def get_default(self) -> Any:
        if self.has_default() or self.has_db_default():
            return super().get_default()
        return b"" if not self.null else None

    def to_python(self, value: Any) -> Any:
        if isinstance(value, memoryview):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        return value

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        return value

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        def to_bytes(value: Any) -> Any:
            return bytes(value) if isinstance(value, (memoryview, bytearray)) else value

        return [*super().get_db_converters(connection), to_bytes]


class JSONField(Field[Any]):
    empty_strings_allowed = False
    empty_values = (None,)
    default_error_messages = {"invalid": "Value must be valid JSON."}

    def __init__(
        self,
        verbose_name: str | None = None,
        name: str | None = None,
        encoder: type[json.JSONEncoder] | None = None,
        decoder: type[json.JSONDecoder] | None = None,
        **kwargs: Any,
    ) -> None:
        if encoder is not None and not callable(encoder):
            raise FieldError("JSONField encoder must be a callable (a JSONEncoder subclass).")
        self.encoder = encoder
        self.decoder = decoder
        super().__init__(verbose_name, name, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        if self.encoder is not None:
            kwargs["encoder"] = self.encoder
        if self.decoder is not None:
            kwargs["decoder"] = self.decoder
        return name, path, args, kwargs

    def get_prep_value(self, value: Any) -> Any:
        return value

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if value is None or hasattr(value, "resolve_expression"):
            return value
        try:
            return connection.ops.adapt_jsonfield_value(value, self.encoder)
        except TypeError as exc:
            raise TypeError(f"Field {self.name!r}: value is not JSON serializable: {exc}") from exc

    def get_db_converters(self, connection: Any) -> list[Callable[[Any], Any]]:
        converters = super().get_db_converters(connection)
        if self.decoder is not None:
            decoder = self.decoder

            def decode(value: Any) -> Any:
                if isinstance(value, str):
                    return json.loads(value, cls=decoder)
                return value

            # The backend's own JSON converter would decode without our decoder: replace it.
            return [decode]
        return converters

    def validate(self, value: Any, model_instance: Model | None) -> None:
        super().validate(value, model_instance)
        try:
            json.dumps(value, cls=self.encoder)
        except TypeError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def get_transform(self, name: str) -> Any:
        transform = super().get_transform(name)
        if transform is not None:
            return transform
        from dorm.models.lookups import KeyTransformFactory

        return KeyTransformFactory(name)


_ident = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
