"""Models of the expression tests (app label ``exprapp``).

Imported as a top-level module (``tests/expressions`` is put on ``sys.path`` by the conftest).
Publisher / Author / Book / Store follow the models of Django's aggregation guide.
"""

from __future__ import annotations

import dorm

APP = "exprapp"


class Publisher(dorm.Model):
    name = dorm.CharField(max_length=60)
    num_awards = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP

    def __str__(self) -> str:
        return self.name


class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    age = dorm.IntegerField()
    rating = dorm.FloatField(null=True)

    class Meta:
        app_label = APP

    def __str__(self) -> str:
        return self.name


class Book(dorm.Model):
    name = dorm.CharField(max_length=100)
    pages = dorm.IntegerField()
    rating = dorm.FloatField()
    price = dorm.DecimalField(max_digits=6, decimal_places=2)
    pubdate = dorm.DateField()
    publisher = dorm.ForeignKey(Publisher, on_delete=dorm.CASCADE, related_name="books")
    authors = dorm.ManyToManyField(Author, related_name="books")

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Store(dorm.Model):
    name = dorm.CharField(max_length=60)
    books = dorm.ManyToManyField(Book, related_name="stores")

    class Meta:
        app_label = APP


class Employee(dorm.Model):
    """The window-function examples of Django's docs."""

    name = dorm.CharField(max_length=40)
    department = dorm.CharField(max_length=40)
    salary = dorm.IntegerField()
    hired = dorm.DateField()

    class Meta:
        app_label = APP


class Number(dorm.Model):
    """Numbers and texts for the math and text functions; every column nullable."""

    label = dorm.CharField(max_length=40, default="")
    integer = dorm.IntegerField(null=True)
    big = dorm.BigIntegerField(null=True)
    dec = dorm.DecimalField(max_digits=10, decimal_places=3, null=True)
    flt = dorm.FloatField(null=True)
    text = dorm.CharField(max_length=60, null=True)
    other = dorm.CharField(max_length=60, null=True)

    class Meta:
        app_label = APP


class Event(dorm.Model):
    """Dates and times for Extract*/Trunc*."""

    name = dorm.CharField(max_length=40)
    start = dorm.DateTimeField()
    day = dorm.DateField()
    clock = dorm.TimeField()
    length = dorm.DurationField(null=True)

    class Meta:
        app_label = APP


MODELS = [Publisher, Author, Book, Store, Employee, Number, Event]
