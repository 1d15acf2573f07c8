"""Relation fields: declarations, lazy target resolution, columns, auto-created through tables,
reverse names — and that what they declare works against the database."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rel_models import (
    Author,
    Award,
    Book,
    Cascaded,
    Country,
    Group,
    Ignored,
    Membership,
    Person,
    Place,
    Publisher,
    Restaurant,
    Review,
    Tag,
)

import dorm
from dorm.apps import apps
from dorm.db import connections
from dorm.exceptions import FieldError, IntegrityError

# Declarations --------------------------------------------------------------------------


def test_foreign_key_column_attname_and_target() -> None:
    field = Book._meta.get_field("author")
    assert field.many_to_one and not field.one_to_one and not field.many_to_many
    assert field.attname == "author_id" and field.column == "author_id"
    assert field.related_model is Author
    assert field.target_field is Author._meta.pk
    assert Book._meta.get_field("author_id") is field  # also found by attname
    assert field.db_index  # FKs are indexed by default
    assert field.remote_field.on_delete is dorm.CASCADE


def test_targets_given_as_class_name_label_and_self_are_resolved() -> None:
    assert Book._meta.get_field("author").related_model is Author  # class
    assert Publisher._meta.get_field("country").related_model is Country  # "Country"
    assert Author._meta.get_field("publisher").related_model is Publisher  # "relapp.Publisher"
    assert Author._meta.get_field("mentor").related_model is Author  # "self"
    # "Award" was referenced before its class existed.
    assert Book._meta.get_field("awards").related_model is Award
    assert ("relapp", "award") not in apps.pending_operations()


def test_lazy_reference_is_resolved_when_the_target_is_defined() -> None:
    label = f"relapp_lazy_{uuid.uuid4().hex[:8]}"  # a fresh app: the test may run again

    class Leaflet(dorm.Model):
        brochure = dorm.ForeignKey("Brochure", on_delete=dorm.CASCADE)
        topics = dorm.ManyToManyField(f"{label}.Brochure", related_name="leaflets")

        class Meta:
            app_label = label

    assert (label, "brochure") in apps.pending_operations()
    with pytest.raises(FieldError, match="cannot be resolved"):
        _ = Leaflet._meta.get_field("brochure").related_model

    class Brochure(dorm.Model):
        class Meta:
            app_label = label

    assert Leaflet._meta.get_field("brochure").related_model is Brochure
    assert Leaflet._meta.get_field("topics").related_model is Brochure
    assert (label, "brochure") not in apps.pending_operations()
    # The reverse sides were installed on the target once it existed.
    assert Brochure._meta.get_field("leaflet").related_model is Leaflet
    assert hasattr(Brochure, "leaflet_set") and hasattr(Brochure, "leaflets")


def test_to_field_points_the_column_at_another_unique_field() -> None:
    field = Publisher._meta.get_field("country")
    assert field.to_field == "code"
    assert field.target_field is Country._meta.get_field("code")
    assert field.column == "country_id"


def test_one_to_one_is_a_unique_foreign_key() -> None:
    field = Restaurant._meta.get_field("place")
    assert field.one_to_one and not field.many_to_one
    assert field.unique and field.column == "place_id"
    rel = Place._meta.get_field("restaurant")
    assert rel.one_to_one and rel.related_model is Restaurant
    assert rel.get_accessor_name() == "restaurant"


def test_reverse_names_follow_related_name_and_related_query_name() -> None:
    # related_name: both the accessor and the query name.
    assert Author._meta.get_field("books").field is Book._meta.get_field("author")
    assert Author.books.related.get_accessor_name() == "books"
    # related_query_name overrides the query name only.
    assert Author._meta.get_field("edited_book").field is Book._meta.get_field("editor")
    assert Author.edited.related.get_accessor_name() == "edited"
    # No related_name: <model>_set accessor, <model> query name.
    assert Book._meta.get_field("review").field is Review._meta.get_field("book")
    assert hasattr(Book, "review_set")
    # M2M reverse.
    assert Tag._meta.get_field("books").field is Book._meta.get_field("tags")
    assert Award._meta.get_field("book").field is Book._meta.get_field("awards")
    assert hasattr(Award, "book_set")


def test_invalid_declarations_are_rejected() -> None:
    with pytest.raises(TypeError, match="on_delete must be callable"):
        dorm.ForeignKey(Author, on_delete=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="first argument must be a model"):
        dorm.ForeignKey(42, on_delete=dorm.CASCADE)  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="null=True"):
        dorm.ForeignKey(Author, on_delete=dorm.SET_NULL)
    with pytest.raises(FieldError, match="db_table"):
        dorm.ManyToManyField(Tag, through="Membership", db_table="x")


def test_deconstruct_keeps_the_relation_arguments() -> None:
    _, path, _, kwargs = Book._meta.get_field("editor").deconstruct()
    assert path.endswith("ForeignKey")
    assert kwargs["to"] == "relapp.Author"
    assert kwargs["on_delete"] is dorm.SET_NULL
    assert kwargs["related_name"] == "edited"
    assert kwargs["related_query_name"] == "edited_book"
    assert kwargs["null"] is True
    _, _, _, kwargs = Publisher._meta.get_field("country").deconstruct()
    assert kwargs["to_field"] == "code"
    _, _, _, kwargs = Ignored._meta.get_field("owner").deconstruct()
    assert kwargs["db_constraint"] is False
    _, path, _, kwargs = Group._meta.get_field("members").deconstruct()
    assert path.endswith("ManyToManyField")
    assert kwargs["through"] == "relapp.Membership"
    _, _, _, kwargs = Book._meta.get_field("awards").deconstruct()
    assert kwargs["db_table"] == "relapp_prizes" and "through" not in kwargs


# Auto-created through tables -------------------------------------------------------------


def test_auto_created_through_model_uses_djangos_names() -> None:
    field = Book._meta.get_field("tags")
    through = field.remote_field.through
    assert through._meta.auto_created is Book
    assert through.__name__ == "Book_tags"
    assert through._meta.label == "relapp.Book_tags"
    assert through._meta.db_table == "relapp_book_tags"
    assert [f.column for f in through._meta.fields] == ["id", "book_id", "tag_id"]
    assert through._meta.unique_together == [("book", "tag")]
    assert field.m2m_field_name() == "book" and field.m2m_reverse_field_name() == "tag"
    # db_table= renames the table, not the columns.
    awards = Book._meta.get_field("awards").remote_field.through
    assert awards._meta.db_table == "relapp_prizes"
    assert [f.column for f in awards._meta.fields] == ["id", "book_id", "award_id"]


def test_self_referencing_through_model_uses_from_and_to_columns() -> None:
    for name in ("friends", "follows"):
        through = Person._meta.get_field(name).remote_field.through
        assert [f.column for f in through._meta.fields] == ["id", "from_person_id", "to_person_id"]
    assert Person._meta.get_field("friends").remote_field.symmetrical
    assert not Person._meta.get_field("follows").remote_field.symmetrical


def test_explicit_through_model_and_through_fields() -> None:
    field = Group._meta.get_field("members")
    assert field.remote_field.through is Membership
    assert field.m2m_field_name() == "group"
    assert field.m2m_reverse_field_name() == "person"


def test_through_table_is_created_with_the_declaring_model(rel: Any) -> None:
    conn = connections["default"]
    qn = conn.ops.quote_name
    # The table exists and has Django's columns.
    rows = conn.fetchall(f"SELECT {qn('book_id')}, {qn('tag_id')} FROM {qn('relapp_book_tags')}")
    assert rows == []
    conn.fetchall(f"SELECT {qn('book_id')}, {qn('award_id')} FROM {qn('relapp_prizes')}")
    conn.fetchall(
        f"SELECT {qn('from_person_id')}, {qn('to_person_id')} FROM {qn('relapp_person_follows')}"
    )


def test_db_constraint_controls_the_references_clause(rel: Any) -> None:
    conn = connections["default"]
    if not conn.features.supports_foreign_keys:
        pytest.skip("the backend creates no foreign keys")
    editor = conn.schema_editor()
    cascaded = " ".join(sql for sql, _ in editor.create_model_statements(Cascaded))
    ignored = " ".join(sql for sql, _ in editor.create_model_statements(Ignored))
    assert "REFERENCES" in cascaded
    assert "REFERENCES" not in ignored


# Values through the fields ---------------------------------------------------------------


async def test_fk_accepts_an_instance_or_the_raw_id(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    b1 = await run(Book.objects.create, title="One", author=ann)
    b2 = await run(Book.objects.create, title="Two", author_id=ann.pk)
    assert b1.author_id == b2.author_id == ann.pk
    fresh = await run(Book.objects.get, pk=b2.pk)
    assert fresh.author_id == ann.pk
    assert await run(Book.objects.filter(author=ann).count) == 2
    assert await run(Book.objects.filter(author_id=ann.pk).count) == 2
    assert await run(Book.objects.filter(author=ann.pk).count) == 2
    assert await run(Book.objects.filter(author__in=[ann]).count) == 2
    assert await run(Book.objects.filter(author__pk=ann.pk).count) == 2


async def test_to_field_stores_the_target_value(run: Any, rel: Any) -> None:
    fr = await run(Country.objects.create, code="FR", name="France")
    pub = await run(Publisher.objects.create, name="Gallimard", country=fr)
    assert pub.country_id == "FR"
    fresh = await run(Publisher.objects.get, pk=pub.pk)
    assert fresh.country_id == "FR"
    assert await run(Publisher.objects.filter(country=fr).count) == 1
    assert await run(Publisher.objects.filter(country__name="France").count) == 1
    assert await run(Publisher.objects.filter(country_id="FR").count) == 1
    assert await run(Country.objects.filter(publishers__name="Gallimard").count) == 1


async def test_null_fk_defaults_to_none(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    assert ann.publisher_id is None and ann.publisher is None
    fresh = await run(Author.objects.get, pk=ann.pk)
    assert fresh.publisher_id is None
    await run(fresh.refresh_from_db)
    assert await run(Author.objects.filter(publisher=None).count) == 1
    assert await run(Author.objects.filter(publisher__isnull=True).count) == 1


async def test_non_null_fk_requires_a_value(run: Any, rel: Any) -> None:
    with pytest.raises(IntegrityError):
        await run(Book.objects.create, title="Orphan")


async def test_saving_a_reference_to_an_unsaved_object_is_refused(run: Any, rel: Any) -> None:
    ghost = Author(name="Ghost")
    book = Book(title="Haunted", author=ghost)
    with pytest.raises(ValueError, match="unsaved related object 'author'"):
        await run(book.save)
    await run(ghost.save)
    await run(book.save)  # the pk assigned since is picked up
    assert book.author_id == ghost.pk


def test_assigning_the_wrong_model_is_refused() -> None:
    with pytest.raises(ValueError, match='must be a "Author" instance'):
        Book(title="x", author=Tag(name="t"))
