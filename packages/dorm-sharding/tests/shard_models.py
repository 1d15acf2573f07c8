from __future__ import annotations

import dorm


class Customer(dorm.Model):
    tenant_id = dorm.IntegerField()
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = "sharded"


class Order(dorm.Model):
    tenant_id = dorm.IntegerField(db_index=True)
    customer = dorm.ForeignKey(Customer, on_delete=dorm.CASCADE, null=True)
    total = dorm.IntegerField(default=0)

    class Meta:
        app_label = "sharded"


class Note(dorm.Model):
    """Not sharded: lives on ``default``."""

    text = dorm.CharField(max_length=50)

    class Meta:
        app_label = "sharded"
