"""Models of the PostgreSQL-only integration tests (app label ``pg_it``)."""

from __future__ import annotations

from typing import Any

import dorm
from dorm_postgres.fields import ArrayField

APP = "pg_it"


class Typed(dorm.Model):
    data = dorm.JSONField(null=True)
    uid = dorm.UUIDField(null=True)
    moment = dorm.DateTimeField(null=True)
    amount = dorm.DecimalField(max_digits=10, decimal_places=3, null=True)
    blob = dorm.BinaryField(null=True)
    span = dorm.DurationField(null=True)
    ip = dorm.GenericIPAddressField(null=True)
    day = dorm.DateField(null=True)
    tags = ArrayField(dorm.CharField(max_length=20), default=list)
    scores = ArrayField(dorm.IntegerField(), null=True)

    class Meta:
        app_label = APP
        db_table = "pg_it_typed"


class Kind(dorm.Model):
    name = dorm.CharField(max_length=50, unique=True)
    count = dorm.IntegerField(default=0)
    positive = dorm.PositiveIntegerField(default=0)

    class Meta:
        app_label = APP
        db_table = "pg_it_kind"


class Item(dorm.Model):
    kind = dorm.ForeignKey(Kind, on_delete=dorm.CASCADE, related_name="items")
    label = dorm.CharField(max_length=50)
    rank = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP
        db_table = "pg_it_item"


class Job(dorm.Model):
    status = dorm.CharField(max_length=20, default="pending")
    worker = dorm.CharField(max_length=20, blank=True, default="")
    created = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP
        db_table = "pg_it_job"


class Event(dorm.Model):
    name = dorm.CharField(max_length=50)
    when = dorm.DateTimeField()

    class Meta:
        app_label = APP
        db_table = "pg_it_event"


class TagsField(dorm.TextField):
    """A project's field stored as ``text[]``: not a plain text column."""

    def db_type(self, connection: Any) -> str:
        return "text[]"

    def get_prep_value(self, value: Any) -> Any:
        return value


class Tagged(dorm.Model):
    tags = TagsField(default=list)

    class Meta:
        app_label = APP
        db_table = "pg_it_tagged"


MODELS = [Typed, Kind, Item, Job, Event, Tagged]
