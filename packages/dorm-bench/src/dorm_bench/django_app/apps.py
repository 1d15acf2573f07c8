from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "dorm_bench.django_app"
    label = "dorm_bench"
    default_auto_field = "django.db.models.AutoField"
