"""Acceptance: models — Meta options, the implicit primary key, identity, save / delete /
refresh_from_db, validation and instance state, each DB operation run sync and async."""

from __future__ import annotations

import decimal
from typing import Any

import pytest
from orm_models import (
    Article,
    Author,
    Code,
    Document,
    Legacy,
    Note,
    Product,
    Tag,
    Timestamped,
)

import dorm
from dorm.apps import apps
from dorm.db import connections
from dorm.exceptions import (
    DatabaseError,
    IntegrityError,
    MultipleObjectsReturned,
    ObjectDoesNotExist,
    ValidationError,
)

pytestmark = pytest.mark.usefixtures("orm")


# Meta ---------------------------------------------------------------------------------------


def test_db_table_defaults_to_app_label_and_model_name() -> None:
    assert Author._meta.app_label == "testapp"
    assert Author._meta.db_table == "testapp_author"
    assert Note._meta.db_table == "testapp_note"
    assert Product._meta.db_table == "shop_products"  # explicit Meta.db_table
    assert Author._meta.label == "testapp.Author"
    assert Author._meta.model_name == "author"


def test_abstract_parent_gives_fields_meta_and_manager_but_no_table() -> None:
    assert Timestamped._meta.abstract is True
    assert Note._meta.abstract is False
    assert [f.name for f in Note._meta.fields] == ["id", "created", "updated", "text"]
    # The inherited fields are copies bound to the child.
    assert Note._meta.get_field("created").model is Note
    assert Note._meta.get_field("created") is not Timestamped._meta.get_field("created")
    assert Note._meta.ordering == ["created"]
    assert Note not in (Timestamped,) and Timestamped not in apps.get_models("testapp")
    assert not hasattr(Timestamped, "objects")
    assert hasattr(Note, "objects")


def test_meta_options_are_recorded() -> None:
    meta = Product._meta
    assert meta.unique_together == [("sku", "region")]
    assert [i.name for i in meta.indexes] == ["product_kind_price_idx"]
    assert [c.name for c in meta.constraints] == ["product_code_uniq", "product_price_gte_0"]
    assert Legacy._meta.managed is False
    assert Product._meta.managed is True
    assert Article._meta.get_latest_by == "published"
    assert Article._meta.ordering == ["-score", "title"]


def test_indexes_are_created(orm: Any) -> None:
    conn = connections["default"]
    if conn.vendor != "sqlite":
        pytest.skip("index introspection here uses sqlite_master")
    names = {
        row[0]
        for row in conn.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s",
            ["shop_products"],
        )
    }
    assert "product_kind_price_idx" in names
    assert any("weight" in n for n in names)  # db_index=True


def test_invalid_meta_attribute_is_rejected() -> None:
    with pytest.raises(TypeError, match="invalid attribute"):

        class Bad(dorm.Model):
            class Meta:
                app_label = "testapp_bad"
                colour = "red"


def test_implicit_id_is_a_big_auto_field_listed_first() -> None:
    pk = Author._meta.pk
    assert isinstance(pk, dorm.BigAutoField)
    assert pk.name == "id" and pk.auto_created and pk.primary_key
    assert Author._meta.get_field("id") is pk
    assert Author._meta.get_field("pk") is pk
    assert Author._meta.fields[0].name == "id"
    assert Code._meta.pk.name == "code"  # explicit primary key: no implicit id
    assert "id" not in {f.name for f in Code._meta.fields}


async def test_pk_is_an_alias_of_the_primary_key(run: Any) -> None:
    a = await run(Author.objects.create, name="Ann")
    assert a.pk == a.id and isinstance(a.pk, int)
    assert (await run(Author.objects.get, pk=a.id)) == a
    c = Code(code="X1")
    assert c.pk == "X1"
    c.pk = "X2"
    assert c.code == "X2"
    await run(c.save)
    assert await run(Code.objects.filter(pk__in=["X2"]).count) == 1


def test_per_model_exceptions() -> None:
    assert issubclass(Author.DoesNotExist, ObjectDoesNotExist)
    assert issubclass(Author.MultipleObjectsReturned, MultipleObjectsReturned)
    assert Author.DoesNotExist is not Article.DoesNotExist
    assert not issubclass(Author.DoesNotExist, Article.DoesNotExist)
    assert Author.DoesNotExist.__qualname__ == "Author.DoesNotExist"
    assert issubclass(dorm.ObjectDoesNotExist, Exception)


async def test_get_raises_the_models_own_exceptions(run: Any) -> None:
    with pytest.raises(Author.DoesNotExist):
        await run(Author.objects.get, name="nobody")
    await run(Author.objects.create, name="Twin")
    await run(Author.objects.create, name="Twin")
    with pytest.raises(Author.MultipleObjectsReturned):
        await run(Author.objects.get, name="Twin")
    with pytest.raises(ObjectDoesNotExist):
        await run(Article.objects.get, pk=1)


# Saving -----------------------------------------------------------------------------------


async def test_save_inserts_new_then_updates(run: Any, queries: Any) -> None:
    a = Author(name="Ann", age=30)
    assert a._state.adding is True and a._state.db is None and a.pk is None
    with queries() as log:
        await run(a.save)
    assert len(log) == 1 and log.queries[0].lstrip().upper().startswith("INSERT")
    assert a.pk is not None
    assert a._state.adding is False and a._state.db == "default"
    a.age = 31
    with queries() as log:
        await run(a.save)
    assert len(log) == 1 and log.queries[0].lstrip().upper().startswith("UPDATE")
    assert await run(Author.objects.count) == 1
    assert (await run(Author.objects.get, pk=a.pk)).age == 31


async def test_save_with_explicit_pk_inserts_when_row_is_missing(run: Any) -> None:
    a = Author(id=40, name="Fixed")
    await run(a.save)
    assert (await run(Author.objects.get, pk=40)).name == "Fixed"
    b = Author(id=40, name="Replaced")
    await run(b.save)  # UPDATE matched the row: no duplicate
    assert await run(Author.objects.count) == 1
    assert (await run(Author.objects.get, pk=40)).name == "Replaced"


async def test_save_with_pk_default_inserts(run: Any) -> None:
    d = Document(title="spec")
    assert d.pk is not None  # default=uuid4 applied at init
    await run(d.save)
    assert (await run(Document.objects.get, pk=d.pk)).title == "spec"
    d.title = "spec v2"
    await run(d.save)
    assert await run(Document.objects.count) == 1


async def test_save_update_fields_writes_only_those(run: Any, queries: Any) -> None:
    a = await run(Author.objects.create, name="Ann", age=30)
    a.name = "Anna"
    a.age = 99
    with queries() as log:
        await run(a.save, update_fields=["name"])
    assert len(log) == 1
    fresh = await run(Author.objects.get, pk=a.pk)
    assert (fresh.name, fresh.age) == ("Anna", 30)
    with queries() as log:
        await run(a.save, update_fields=[])
    assert len(log) == 0  # nothing to save: no query, as Django
    with pytest.raises(ValueError, match="nope"):
        await run(a.save, update_fields=["nope"])


async def test_save_update_fields_on_a_missing_row_fails(run: Any) -> None:
    a = await run(Author.objects.create, name="Gone")
    await run(Author.objects.filter(pk=a.pk).delete)
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        await run(a.save, update_fields=["name"])


async def test_force_insert_and_force_update(run: Any) -> None:
    a = await run(Author.objects.create, name="Ann")
    dup = Author(id=a.pk, name="Dup")
    with pytest.raises(IntegrityError):
        await run(dup.save, force_insert=True)
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        await run(Author(id=a.pk + 100, name="X").save, force_update=True)
    with pytest.raises(ValueError):
        await run(Author(name="X").save, force_update=True)  # no pk to update
    with pytest.raises(ValueError):
        await run(a.save, force_insert=True, force_update=True)
    assert await run(Author.objects.count) == 1


# Deleting and reloading ------------------------------------------------------------------


async def test_delete_returns_counts_and_clears_pk(run: Any) -> None:
    a = await run(Author.objects.create, name="Ann")
    await run(Author.objects.create, name="Bob")
    result = await run(a.delete)
    assert result == (1, {"testapp.Author": 1})
    assert a.pk is None
    assert await run(Author.objects.count) == 1
    with pytest.raises(ValueError, match="can't be deleted"):
        await run(Author(name="unsaved").delete)


async def test_refresh_from_db(run: Any) -> None:
    a = await run(Author.objects.create, name="Ann", age=30)
    await run(Author.objects.filter(pk=a.pk).update, name="Anna", age=31)
    await run(a.refresh_from_db)
    assert (a.name, a.age) == ("Anna", 31)
    await run(Author.objects.filter(pk=a.pk).update, name="Annie", age=32)
    a.age = 0
    await run(a.refresh_from_db, fields=["name"])
    assert (a.name, a.age) == ("Annie", 0)  # only the named field reloaded
    await run(Author.objects.filter(pk=a.pk).delete)
    with pytest.raises(Author.DoesNotExist):
        await run(a.refresh_from_db)


async def test_deferred_field_loads_on_access(run: Any) -> None:
    await run(Author.objects.create, name="Ann", bio="long text")
    (a,) = await run.list(Author.objects.defer("bio"))
    assert a.get_deferred_fields() == {"bio"}
    assert a.bio == "long text"  # loaded on first access
    assert a.get_deferred_fields() == set()


# Validation -------------------------------------------------------------------------------


def test_full_clean_reports_every_field() -> None:
    p = Product(sku="", price=decimal.Decimal("-1"), kind="bad", region="r" * 11)
    with pytest.raises(ValidationError) as info:
        p.full_clean()
    errors = info.value.message_dict
    assert errors["sku"] == ["This field cannot be blank."]
    assert errors["kind"] == ["Value 'bad' is not a valid choice."]
    assert errors["price"] == ["Ensure this value is greater than or equal to 0."]
    assert errors["region"] == ["Ensure this value has at most 10 characters (it has 11)."]
    assert "stock" not in errors  # db_default: the database provides it
    assert "code" not in errors


def test_full_clean_null_and_type_errors() -> None:
    a = Author(name=None, age="old", email="not-an-email")
    with pytest.raises(ValidationError) as info:
        a.full_clean()
    errors = info.value.message_dict
    assert errors["name"] == ["This field cannot be null."]
    assert errors["age"] == ["'old' value must be an integer."]
    assert errors["email"] == ["Enter a valid email address."]


def test_clean_errors_are_non_field_errors() -> None:
    p = Product(sku="T1", price=1, kind="toy")
    with pytest.raises(ValidationError) as info:
        p.full_clean()
    assert info.value.message_dict == {"__all__": ["Toys need a label."]}
    p.label = "Robot"
    p.full_clean()  # valid now
    p.full_clean(exclude=["label"])


def test_clean_fields_converts_values() -> None:
    a = Author(name="Ann", age="42")
    a.full_clean()
    assert a.age == 42


async def test_validate_unique(run: Any) -> None:
    await run(Author.objects.create, name="Ann", email="ann@example.com")
    dup = Author(name="Other", email="ann@example.com")
    with pytest.raises(ValidationError) as info:
        dup.full_clean()
    assert info.value.message_dict == {"email": ["Author with this Email already exists."]}
    dup.full_clean(validate_unique=False)
    # An existing row does not clash with itself.
    (ann,) = await run.list(Author.objects.filter(email="ann@example.com"))
    ann.full_clean()


async def test_validate_unique_together_and_unique_constraint(run: Any) -> None:
    first = await run(Product.objects.create, sku="S1", region="eu", price=1)
    dup = Product(sku="S1", region="eu", price=2, code=first.code)
    with pytest.raises(ValidationError) as info:
        dup.full_clean()
    errors = info.value.message_dict
    assert errors["__all__"] == ["Product with this Sku and Region already exists."]
    assert errors["code"] == ["Product with this Code already exists."]
    Product(sku="S1", region="us", price=2).full_clean()


def test_check_constraint_validation() -> None:
    p = Product(sku="C1", price=decimal.Decimal("-5"))
    with pytest.raises(ValidationError) as info:
        p.validate_constraints()
    assert info.value.message_dict == {"__all__": ["Constraint “product_price_gte_0” is violated."]}
    # A field that already failed is excluded from the constraint checks (as Django).
    with pytest.raises(ValidationError) as info:
        p.full_clean()
    assert "__all__" not in info.value.message_dict


async def test_database_enforces_unique_and_check_constraints(run: Any) -> None:
    p = await run(Product.objects.create, sku="U1", price=1)
    with pytest.raises(IntegrityError):
        await run(Product.objects.create, sku="U1", price=1)  # unique_together
    with pytest.raises(IntegrityError):
        await run(Product.objects.create, sku="U2", price=1, code=p.code)  # UniqueConstraint
    with pytest.raises(IntegrityError):
        await run(Product.objects.create, sku="U3", price=-1)  # CheckConstraint
    await run(Tag.objects.create, name="t")
    with pytest.raises(IntegrityError):
        await run(Tag.objects.create, name="t")  # unique=True
    assert await run(Product.objects.count) == 1


# Identity ---------------------------------------------------------------------------------


async def test_equality_and_hash_by_pk(run: Any) -> None:
    a = await run(Author.objects.create, name="Ann")
    again = await run(Author.objects.get, pk=a.pk)
    assert a == again and a is not again
    assert hash(a) == hash(again)
    assert len({a, again}) == 1
    art = Article(id=a.pk, title="t", slug="t")
    assert a != art  # same pk, different model
    u1, u2 = Author(name="x"), Author(name="x")
    assert u1 != u2 and u1 == u1
    with pytest.raises(TypeError, match="unhashable"):
        hash(u1)


async def test_repr_and_str(run: Any) -> None:
    a = await run(Author.objects.create, name="Ann")
    assert repr(a) == "<Author: Ann>"
    art = await run(Article.objects.create, title="T", slug="t")
    assert str(art) == f"Article object ({art.pk})"
    assert repr(art) == f"<Article: Article object ({art.pk})>"
    assert repr(Article(title="x")) == "<Article: Article object (None)>"


async def test_state_of_loaded_instances(run: Any) -> None:
    await run(Author.objects.create, name="Ann")
    loaded = await run(Author.objects.get, name="Ann")
    assert loaded._state.adding is False and loaded._state.db == "default"
    (listed,) = await run.list(Author.objects.all())
    assert listed._state.adding is False and listed._state.db == "default"
    assert (await run(Author.objects.first))._state.db == "default"


def test_init_rejects_unknown_keyword() -> None:
    with pytest.raises(TypeError, match="colour"):
        Author(name="x", colour="red")


def test_defaults_applied_at_init() -> None:
    a = Author(name="x")
    assert a.active is True and a.bio == "" and a.age is None
    p1, p2 = Product(sku="a", price=1), Product(sku="b", price=1)
    assert p1.code != p2.code  # callable default called per instance
    assert p1.region == "eu" and p1.kind == "book"
