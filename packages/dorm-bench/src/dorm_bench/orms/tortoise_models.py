"""The Tortoise model (Tortoise loads models from a module path)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from dorm_bench.core import TABLE


class Item(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    value = fields.IntField()
    active = fields.BooleanField(default=True)

    class Meta:
        table = TABLE
        app = "bench"
