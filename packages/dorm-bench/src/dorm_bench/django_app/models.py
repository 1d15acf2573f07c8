from __future__ import annotations

from django.db import models

from dorm_bench.core import TABLE


class Item(models.Model):
    name = models.CharField(max_length=100)
    value = models.IntegerField()
    active = models.BooleanField(default=True)

    class Meta:
        app_label = "dorm_bench"
        db_table = TABLE
