"""Support of dorm-outbox's unit tests: their models and a fake clock.

(Named uniquely: ``tests/conftest.py`` puts this folder on ``sys.path`` and the unit suites of
every package run in one pytest session.)
"""

from __future__ import annotations

import datetime

import dorm
from dorm.contrib.outbox import OutboxEvent


class FakeClock:
    """An aware-UTC clock that only moves when told to: ``clock.advance(30)``."""

    def __init__(self) -> None:
        # A little in the future, so events recorded "now" (real clock) are already due.
        self.now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class Order(dorm.Model):
    customer = dorm.CharField(max_length=100)
    total = dorm.DecimalField(max_digits=10, decimal_places=2)

    class Meta:
        app_label = "outbox_tests"


class Outbox(OutboxEvent):
    class Meta:
        app_label = "outbox_tests"
        db_table = "outbox"


class TenantOutbox(OutboxEvent):
    """A subclass with a field of its own, set through record_event(**extra)."""

    tenant = dorm.CharField(max_length=50, default="")

    class Meta:
        app_label = "outbox_tests"
        db_table = "tenant_outbox"


class Audit(dorm.Model):
    """Written by handlers: shows the per-event savepoint (kept or rolled back)."""

    note = dorm.CharField(max_length=100)

    class Meta:
        app_label = "outbox_tests"


MODELS = (Order, Outbox, TenantOutbox, Audit)
