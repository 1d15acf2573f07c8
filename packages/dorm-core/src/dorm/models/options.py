"""``Model._meta``: table name, fields, ordering, indexes, constraints."""

from __future__ import annotations

import re
from typing import Any

from dorm.exceptions import FieldDoesNotExist, ImproperlyConfigured

DEFAULT_NAMES = (
    "db_table",
    "app_label",
    "abstract",
    "ordering",
    "unique_together",
    "indexes",
    "constraints",
    "managed",
    "get_latest_by",
    "verbose_name",
    "verbose_name_plural",
    "default_related_name",
    "base_manager_name",
    "default_manager_name",
    "db_table_comment",
    "required_db_vendor",
    "select_on_save",
    "apps",
)


def _app_label_from_module(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == "models" and len(parts) > 1:
        return parts[-2]
    if len(parts) > 2 and parts[-2] == "models":
        return parts[-3]
    return parts[-1].strip("_") or "main"


class Options:
    """Metadata of one model class (``Author._meta``)."""

    def __init__(self, meta: Any, model_name: str, module: str) -> None:
        self.object_name = model_name
        self.model_name = model_name.lower()
        self.db_table = ""
        self.app_label = ""
        self.abstract = False
        self.ordering: list[Any] = []
        self.unique_together: list[tuple[str, ...]] = []
        self.indexes: list[Any] = []
        self.constraints: list[Any] = []
        self.managed = True
        self.get_latest_by: Any = None
        self.verbose_name = re.sub(r"(?<!^)(?=[A-Z])", " ", model_name).lower()
        self.verbose_name_plural: str | None = None
        self.default_related_name: str | None = None
        self.base_manager_name: str | None = None
        self.default_manager_name: str | None = None
        self.db_table_comment: str | None = None
        self.required_db_vendor: str | None = None
        self.select_on_save = False
        # The registry the model registers in (and resolves lazy relations through); the
        # global ``dorm.apps.apps`` unless Meta.apps names another (migration state models).
        self.apps: Any = None
        self.local_fields: list[Any] = []
        self.local_many_to_many: list[Any] = []
        self.private_fields: list[Any] = []
        self.related_objects: list[Any] = []
        self.managers: list[Any] = []
        self.pk: Any = None
        self.model: Any = None
        self.parents: dict[Any, Any] = {}
        # The model this one was auto-created for (M2M through tables), else False.
        self.auto_created: Any = False
        self.original_attrs: dict[str, Any] = {}
        self._field_cache: dict[str, Any] | None = None
        if meta is not None:
            for name, value in meta.__dict__.items():
                if name.startswith("_"):
                    continue
                if name not in DEFAULT_NAMES:
                    raise TypeError(f"'class Meta' got invalid attribute(s): {name}")
                self.original_attrs[name] = value
                setattr(self, name, value)
        if not self.app_label:
            self.app_label = _app_label_from_module(module)
        if self.apps is None:
            from dorm.apps import apps

            self.apps = apps
        if self.unique_together and isinstance(self.unique_together[0], str):
            self.unique_together = [tuple(self.unique_together)]  # type: ignore[list-item]
        self.unique_together = [tuple(u) for u in self.unique_together]
        if self.verbose_name_plural is None:
            self.verbose_name_plural = self.verbose_name + "s"
        if isinstance(self.ordering, str):
            raise ImproperlyConfigured(
                f"{model_name}.Meta.ordering must be a list or tuple, not a string."
            )

    def contribute_to_class(self, cls: Any) -> None:
        self.model = cls
        if not self.db_table:
            self.db_table = f"{self.app_label}_{self.model_name}"

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.object_name}"

    @property
    def label_lower(self) -> str:
        return f"{self.app_label}.{self.model_name}"

    def add_field(self, field: Any, private: bool = False) -> None:
        if private:
            self.private_fields.append(field)
        elif getattr(field, "many_to_many", False):
            self.local_many_to_many.append(field)
        else:
            self.local_fields.append(field)
            self.local_fields.sort()
        if field.primary_key:
            if self.pk is not None and self.pk is not field:
                raise ImproperlyConfigured(
                    f"{self.object_name} has more than one primary key: {self.pk.name!r} and "
                    f"{field.name!r}."
                )
            self.pk = field
        self._expire_cache()

    def _expire_cache(self) -> None:
        self._field_cache = None
        for name in ("fields", "concrete_fields", "many_to_many", "_attname_map"):
            self.__dict__.pop(f"_cached_{name}", None)

    @property
    def fields(self) -> list[Any]:
        cached = self.__dict__.get("_cached_fields")
        if cached is None:
            cached = self.__dict__["_cached_fields"] = [*self.local_fields, *self.private_fields]
        return cached  # type: ignore[no-any-return]

    @property
    def concrete_fields(self) -> list[Any]:
        cached = self.__dict__.get("_cached_concrete_fields")
        if cached is None:
            cached = self.__dict__["_cached_concrete_fields"] = [
                f for f in self.local_fields if f.concrete
            ]
        return cached  # type: ignore[no-any-return]

    @property
    def local_concrete_fields(self) -> list[Any]:
        return self.concrete_fields

    @property
    def many_to_many(self) -> list[Any]:
        return list(self.local_many_to_many)

    def get_fields(self, include_hidden: bool = False) -> list[Any]:
        result = [*self.fields, *self.local_many_to_many]
        for rel in self.related_objects:
            if include_hidden or not getattr(rel, "hidden", False):
                result.append(rel)
        return result

    def get_field(self, name: str) -> Any:
        """The field called ``name`` (also by attname, and ``pk``)."""
        cache = self._field_cache
        if cache is None:
            cache = {}
            for field in self.get_fields(include_hidden=True):
                cache[field.name] = field
                attname = getattr(field, "attname", None)
                if attname:
                    cache.setdefault(attname, field)
            self._field_cache = cache
        if name == "pk" and self.pk is not None:
            return self.pk
        try:
            return cache[name]
        except KeyError:
            raise FieldDoesNotExist(
                f"{self.object_name} has no field named {name!r}. Choices are: "
                f"{', '.join(sorted(f.name for f in self.get_fields()))}."
            ) from None

    @property
    def _attname_map(self) -> dict[str, Any]:
        cached = self.__dict__.get("_cached__attname_map")
        if cached is None:
            cached = self.__dict__["_cached__attname_map"] = {
                f.attname: f for f in self.concrete_fields
            }
        return cached  # type: ignore[no-any-return]

    @property
    def total_unique_constraints(self) -> list[Any]:
        from dorm.models.constraints import UniqueConstraint

        return [
            c for c in self.constraints if isinstance(c, UniqueConstraint) and c.condition is None
        ]

    def __repr__(self) -> str:
        return f"<Options for {self.object_name}>"
