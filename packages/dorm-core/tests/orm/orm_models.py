"""Models of the ORM acceptance tests (app label ``testapp``).

Imported as a top-level module (``tests/orm`` is put on ``sys.path`` by the conftest), so
every test module and the conftest share these very classes.
"""

from __future__ import annotations

import uuid
from typing import Any

import dorm
from dorm.db import connections
from dorm.exceptions import ValidationError
from dorm.validators import MinValueValidator

APP = "testapp"


class Author(dorm.Model):
    """Unordered: ``first()``/``last()`` fall back to the primary key."""

    name = dorm.CharField(max_length=100)
    age = dorm.IntegerField(null=True, blank=True)
    email = dorm.EmailField(unique=True, null=True, blank=True)
    rating = dorm.FloatField(null=True, blank=True)
    active = dorm.BooleanField(default=True)
    bio = dorm.TextField(blank=True, default="")

    class Meta:
        app_label = APP

    def __str__(self) -> str:
        return self.name


class Article(dorm.Model):
    """Ordered by ``-score, title``; ``get_latest_by = "published"``."""

    title = dorm.CharField(max_length=200)
    slug = dorm.SlugField(unique=True)
    score = dorm.IntegerField(default=0)
    published = dorm.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = APP
        ordering = ["-score", "title"]
        get_latest_by = "published"


class AllTypes(dorm.Model):
    """One column of every field type, all nullable."""

    small = dorm.SmallIntegerField(null=True)
    big = dorm.BigIntegerField(null=True)
    positive = dorm.PositiveIntegerField(null=True)
    flt = dorm.FloatField(null=True)
    dec = dorm.DecimalField(max_digits=8, decimal_places=2, null=True)
    flag = dorm.BooleanField(null=True)
    char = dorm.CharField(max_length=50, null=True)
    text = dorm.TextField(null=True)
    email = dorm.EmailField(null=True)
    slug = dorm.SlugField(null=True)
    url = dorm.URLField(null=True)
    uid = dorm.UUIDField(null=True)
    day = dorm.DateField(null=True)
    moment = dorm.DateTimeField(null=True)
    clock = dorm.TimeField(null=True)
    span = dorm.DurationField(null=True)
    blob = dorm.BinaryField(null=True)
    data = dorm.JSONField(null=True)
    ip = dorm.GenericIPAddressField(null=True)

    class Meta:
        app_label = APP


class Event(dorm.Model):
    """Dates and times for the date/time lookups."""

    name = dorm.CharField(max_length=50)
    when = dorm.DateTimeField()
    day = dorm.DateField(null=True)
    at = dorm.TimeField(null=True)

    class Meta:
        app_label = APP
        ordering = ["when"]


class Timestamped(dorm.Model):
    """Abstract: its fields, Meta.ordering and manager are inherited."""

    created = dorm.DateTimeField(auto_now_add=True)
    updated = dorm.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["created"]


class Note(Timestamped):
    text = dorm.CharField(max_length=100)

    class Meta(Timestamped.Meta):
        app_label = APP


def _next_code() -> str:
    return uuid.uuid4().hex[:8]


class Product(dorm.Model):
    """Options: db_column, choices, validators, db_default, callable default, editable,
    help_text, unique_together, indexes, UniqueConstraint and CheckConstraint."""

    KINDS = [("book", "Book"), ("toy", "Toy")]

    sku = dorm.CharField(max_length=20, db_column="product_sku")
    region = dorm.CharField(max_length=10, default="eu")
    kind = dorm.CharField(max_length=10, choices=KINDS, default="book")
    price = dorm.DecimalField(max_digits=8, decimal_places=2, validators=[MinValueValidator(0)])
    stock = dorm.IntegerField(db_default=7)
    code = dorm.CharField(max_length=8, default=_next_code, editable=False)
    label = dorm.CharField(max_length=30, blank=True, default="", help_text="Shown on the shelf")
    weight = dorm.PositiveIntegerField(default=1, db_index=True)

    class Meta:
        app_label = APP
        db_table = "shop_products"
        unique_together = [("sku", "region")]
        indexes = [dorm.Index(fields=["kind", "-price"], name="product_kind_price_idx")]
        constraints = [
            dorm.UniqueConstraint(fields=["code"], name="product_code_uniq"),
            dorm.CheckConstraint(condition=dorm.Q(price__gte=0), name="product_price_gte_0"),
        ]

    def clean(self) -> None:
        if self.kind == "toy" and self.label == "":
            raise ValidationError("Toys need a label.")


class Document(dorm.Model):
    """A UUID primary key with a Python default."""

    id = dorm.UUIDField(primary_key=True, default=uuid.uuid4)
    title = dorm.CharField(max_length=50)

    class Meta:
        app_label = APP


class Code(dorm.Model):
    """A natural (non-auto) primary key."""

    code = dorm.CharField(max_length=10, primary_key=True)
    value = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP


class Ticket(dorm.Model):
    """An explicit (32-bit) ``AutoField`` primary key under another name."""

    number = dorm.AutoField(primary_key=True)
    title = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP


class Legacy(dorm.Model):
    """``managed = False``: dorm never creates its table."""

    name = dorm.CharField(max_length=10)

    class Meta:
        app_label = APP
        managed = False
        db_table = "legacy_table"


# Managers ---------------------------------------------------------------------------------


class TagQuerySet(dorm.QuerySet[Any]):
    def visible(self) -> TagQuerySet:
        return self.filter(hidden=False)  # type: ignore[return-value]

    def named(self, prefix: str) -> TagQuerySet:
        return self.filter(name__startswith=prefix)  # type: ignore[return-value]


class VisibleManager(dorm.Manager[Any]):
    def get_queryset(self) -> Any:
        return super().get_queryset().filter(hidden=False)


TagManager = dorm.Manager.from_queryset(TagQuerySet)


class Tag(dorm.Model):
    name = dorm.CharField(max_length=30, unique=True)
    hidden = dorm.BooleanField(default=False)

    objects = TagManager()
    visible_only = VisibleManager()

    class Meta:
        app_label = APP


# Concurrency ------------------------------------------------------------------------------


class Counter(dorm.Model):
    name = dorm.CharField(max_length=30, unique=True)
    value = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP


class Ledger(dorm.Model):
    worker = dorm.IntegerField()
    seq = dorm.IntegerField()
    kind = dorm.CharField(max_length=10)

    class Meta:
        app_label = APP
        unique_together = [("worker", "seq", "kind")]


# Custom fields ------------------------------------------------------------------------------


class ShoutField(dorm.CharField):
    """Stored upper-cased: a subclass overriding ``get_prep_value`` of a passthrough field."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return value.upper() if isinstance(value, str) else value


class UpperMixin:
    """The mixin style of normalising field libraries: conversion from outside the field."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)  # type: ignore[misc]
        return value.upper() if isinstance(value, str) else value


class MixedShoutField(UpperMixin, dorm.CharField):
    pass


class Shout(dorm.Model):
    text = ShoutField(max_length=30)
    loud = dorm.BooleanField(default=True)
    mixed = MixedShoutField(max_length=30, default="")

    class Meta:
        app_label = APP


#: Models whose tables the ``orm`` fixture creates (``Legacy`` is unmanaged).
MODELS = [
    Author,
    Article,
    AllTypes,
    Event,
    Note,
    Product,
    Document,
    Code,
    Ticket,
    Tag,
    Counter,
    Ledger,
    Shout,
]


def create_tables(models: list[Any] = MODELS, alias: str = "default") -> None:
    """Create the tables of ``models`` on ``alias`` through the schema editor."""
    with connections[alias].schema_editor() as editor:
        for model in models:
            editor.create_model(model)


def drop_tables(models: list[Any] = MODELS, alias: str = "default") -> None:
    conn = connections[alias]
    for model in reversed(models):
        conn.execute(f"DROP TABLE IF EXISTS {conn.ops.quote_name(model._meta.db_table)}")
