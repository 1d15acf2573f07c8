"""The demo's models: authors, books and tags."""

from __future__ import annotations

import dorm


class Author(dorm.Model):
    name = dorm.CharField(max_length=100)
    email = dorm.EmailField(unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(dorm.Model):
    name = dorm.SlugField(unique=True)


class Book(dorm.Model):
    title = dorm.CharField(max_length=200)
    price = dorm.DecimalField(max_digits=6, decimal_places=2)
    in_print = dorm.BooleanField(default=True)
    published = dorm.DateField(null=True)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    tags = dorm.ManyToManyField(Tag, related_name="books")

    def __str__(self) -> str:
        return self.title
