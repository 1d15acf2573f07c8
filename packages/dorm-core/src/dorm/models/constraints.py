"""``Index``, ``UniqueConstraint`` and ``CheckConstraint`` for ``Meta.indexes/constraints``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dorm.exceptions import ValidationError


class Index:
    """An index on columns (``fields=["-created", "name"]``), optionally partial/unique."""

    def __init__(
        self,
        *,
        fields: Sequence[str] = (),
        name: str | None = None,
        condition: Any = None,
        include: Sequence[str] = (),
        db_tablespace: str | None = None,
        opclasses: Sequence[str] = (),
    ) -> None:
        if not fields:
            raise ValueError("Index.fields must name at least one field.")
        if not isinstance(fields, (list, tuple)):
            raise ValueError("Index.fields must be a list or tuple.")
        self.fields = list(fields)
        self.name = name or ""
        self.condition = condition
        self.include = list(include)
        self.opclasses = list(opclasses)

    def set_name_with_model(self, model: Any) -> None:
        if self.name:
            return
        cols = "_".join(f.lstrip("-") for f in self.fields)
        self.name = f"{model._meta.db_table}_{cols}_idx"[:63]

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"fields": list(self.fields), "name": self.name}
        if self.condition is not None:
            kwargs["condition"] = self.condition
        if self.include:
            kwargs["include"] = list(self.include)
        return "dorm.Index", [], kwargs

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Index) and self.deconstruct() == other.deconstruct()

    def __hash__(self) -> int:
        return hash((tuple(self.fields), self.name))

    def __repr__(self) -> str:
        return f"<Index: fields={self.fields!r} name={self.name!r}>"


class BaseConstraint:
    violation_error_message = "Constraint “%(name)s” is violated."

    def __init__(self, *, name: str, violation_error_message: str | None = None) -> None:
        if not name:
            raise ValueError(f"{type(self).__name__} needs a name.")
        self.name = name
        if violation_error_message is not None:
            self.violation_error_message = violation_error_message

    def get_violation_error_message(self) -> str:
        return self.violation_error_message % {"name": self.name}

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.deconstruct() == other.deconstruct()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self.name)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        raise NotImplementedError(f"{type(self).__name__} must implement deconstruct().")


class UniqueConstraint(BaseConstraint):
    """Unique across ``fields``; ``condition`` makes it partial (where supported)."""

    def __init__(
        self,
        *,
        fields: Sequence[str] = (),
        name: str,
        condition: Any = None,
        nulls_distinct: bool | None = None,
        violation_error_message: str | None = None,
    ) -> None:
        if not fields:
            raise ValueError("UniqueConstraint.fields must name at least one field.")
        self.fields = tuple(fields)
        self.condition = condition
        self.nulls_distinct = nulls_distinct
        super().__init__(name=name, violation_error_message=violation_error_message)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"fields": self.fields, "name": self.name}
        if self.condition is not None:
            kwargs["condition"] = self.condition
        return "dorm.UniqueConstraint", [], kwargs

    def __repr__(self) -> str:
        return f"<UniqueConstraint: fields={self.fields!r} name={self.name!r}>"

    def validate(
        self, model: Any, instance: Any, exclude: set[str] | None = None, using: str | None = None
    ) -> None:
        if exclude and any(f in exclude for f in self.fields):
            return
        lookup = {}
        for name in self.fields:
            value = getattr(instance, model._meta.get_field(name).attname)
            if value is None:
                return
            lookup[name] = value
        qs = model._default_manager.using(using).filter(**lookup)
        if self.condition is not None:
            qs = qs.filter(self.condition)
        if not instance._state.adding and instance.pk is not None:
            qs = qs.exclude(pk=instance.pk)
        if qs.exists():
            message = self.get_violation_error_message()
            if self.condition is None and "violation_error_message" not in self.__dict__:
                # As Django: a plain fields constraint reads like unique / unique_together.
                message = instance.unique_error_message(self.fields)
            if len(self.fields) == 1:
                raise ValidationError({self.fields[0]: [message]})
            raise ValidationError(message)


class CheckConstraint(BaseConstraint):
    """``CHECK (condition)`` where ``condition`` is a ``Q``."""

    def __init__(
        self,
        *,
        condition: Any = None,
        check: Any = None,
        name: str,
        violation_error_message: str | None = None,
    ) -> None:
        self.condition = condition if condition is not None else check
        if self.condition is None:
            raise TypeError("CheckConstraint needs condition=Q(...).")
        super().__init__(name=name, violation_error_message=violation_error_message)

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return "dorm.CheckConstraint", [], {"condition": self.condition, "name": self.name}

    def __repr__(self) -> str:
        return f"<CheckConstraint: condition={self.condition!r} name={self.name!r}>"

    def validate(
        self, model: Any, instance: Any, exclude: set[str] | None = None, using: str | None = None
    ) -> None:
        """Evaluate the condition in Python for the simple lookups, else skip (the DB checks)."""
        if exclude and _referenced_names(self.condition) & set(exclude):
            return  # as Django: a condition over an excluded field is not checked
        result = _evaluate_q(self.condition, instance)
        if result is False:
            raise ValidationError(self.get_violation_error_message())


def _referenced_names(q: Any) -> set[str]:
    from dorm.models.query_utils import Q

    names: set[str] = set()
    for child in getattr(q, "children", ()):
        if isinstance(child, Q):
            names |= _referenced_names(child)
        elif isinstance(child, tuple):
            names.add(child[0].split("__")[0])
    return names


def _evaluate_q(q: Any, instance: Any) -> bool | None:
    import operator

    from dorm.models.query_utils import Q

    ops = {
        "exact": operator.eq,
        "gt": operator.gt,
        "gte": operator.ge,
        "lt": operator.lt,
        "lte": operator.le,
    }
    if not isinstance(q, Q):
        return None
    results = []
    for child in q.children:
        if isinstance(child, Q):
            r = _evaluate_q(child, instance)
        else:
            key, value = child
            name, _, lookup = key.partition("__")
            lookup = lookup or "exact"
            if lookup == "isnull":
                r = (getattr(instance, name, None) is None) == value
            elif lookup in ops and not hasattr(value, "resolve_expression"):
                current = getattr(instance, name, None)
                if current is None:
                    r = None
                else:
                    try:
                        r = ops[lookup](current, value)
                    except TypeError:
                        r = None
            elif lookup == "in":
                r = getattr(instance, name, None) in value
            else:
                r = None
        results.append(r)
    if any(r is None for r in results):
        return None
    combined = all(results) if q.connector == Q.AND else any(results)
    return (not combined) if q.negated else combined
