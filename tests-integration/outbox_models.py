"""The outbox model of the integration tests (app label ``outbox_it``), shared with the
relay worker processes of ``outbox_worker.py``."""

from __future__ import annotations

import dorm
from dorm.contrib.outbox import OutboxEvent

APP = "outbox_it"


class Outbox(OutboxEvent):
    class Meta:
        app_label = APP
        db_table = "outbox_it_events"


class Receipt(dorm.Model):
    """Written by handlers inside the relay's transaction."""

    event_id = dorm.UUIDField()

    class Meta:
        app_label = APP
        db_table = "outbox_it_receipts"
