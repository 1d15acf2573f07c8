"""Attribute access across relations: ``book.author`` (cached, lazy; never a hidden sync query
inside async code), ``book.author_id``, reverse one-to-one, and the related managers
``author.books`` / ``book.tags`` with their ``a*`` twins."""

from __future__ import annotations

from typing import Any

import pytest
from rel_models import (
    Author,
    Book,
    Group,
    Membership,
    Owner,
    Person,
    Place,
    Publisher,
    Restaurant,
    Review,
    Tag,
)

from dorm import aprefetch_related_objects
from dorm.exceptions import IntegrityError, ObjectDoesNotExist
from dorm.models.related_descriptors import SynchronousOnlyOperation
from dorm.testing import CaptureQueries, assert_num_queries


def _sync_setup() -> tuple[Author, Author, Book]:
    ann = Author.objects.create(name="Ann")
    bob = Author.objects.create(name="Bob")
    book = Book.objects.create(title="Dune", author=ann)
    return ann, bob, book


async def _names(run: Any, qs: Any, attr: str = "name") -> list[str]:
    return [getattr(o, attr) for o in await run.list(qs)]


# Forward FK, sync: lazy and cached ----------------------------------------------------------


def test_forward_access_fetches_once_then_caches(rel: Any) -> None:
    ann, _, book = _sync_setup()
    book = Book.objects.get(pk=book.pk)
    with assert_num_queries(0):
        assert book.author_id == ann.pk  # the column is on the row: no query
    with assert_num_queries(1):
        assert book.author.name == "Ann"
    with assert_num_queries(0):
        assert book.author is book.author
    assert Book.author.is_cached(book)


def test_setting_the_id_drops_a_stale_cached_object(rel: Any) -> None:
    _, bob, book = _sync_setup()
    assert book.author.name == "Ann"  # cached by create(author=...)
    book.author_id = bob.pk
    assert not Book.author.is_cached(book)
    assert book.author.name == "Bob"
    book.save()
    assert Book.objects.get(pk=book.pk).author_id == bob.pk


def test_assigning_an_object_sets_the_id(rel: Any) -> None:
    ann, bob, book = _sync_setup()
    book.author = bob
    assert book.author_id == bob.pk
    with assert_num_queries(0):
        assert book.author is bob
    book.save()
    assert Book.objects.filter(author=bob).count() == 1
    # A nullable FK accepts None.
    book.editor = ann
    book.editor = None
    assert book.editor_id is None and book.editor is None


def test_null_fk_reads_none_without_a_query(rel: Any) -> None:
    ann, _, _ = _sync_setup()
    ann = Author.objects.get(pk=ann.pk)
    with assert_num_queries(0):
        assert ann.publisher is None
        assert ann.mentor is None


def test_missing_target_raises_related_object_does_not_exist(rel: Any) -> None:
    from rel_models import Ignored

    owner = Owner.objects.create(name="o")
    Ignored.objects.create(owner=owner)
    Owner.objects.filter(pk=owner.pk).delete()  # DO_NOTHING + db_constraint=False: dangling
    ignored = Ignored.objects.get()
    with pytest.raises(Owner.DoesNotExist):
        _ = ignored.owner
    with pytest.raises(AttributeError):  # RelatedObjectDoesNotExist is also an AttributeError
        _ = ignored.owner
    assert issubclass(Ignored.owner.RelatedObjectDoesNotExist, Owner.DoesNotExist)


def test_reverse_one_to_one_and_its_cache(rel: Any) -> None:
    place = Place.objects.create(name="Demon Dogs")
    empty = Place.objects.create(name="Ace Hardware")
    Restaurant.objects.create(place=place, serves_pizza=True)
    place = Place.objects.get(pk=place.pk)
    with assert_num_queries(1):
        restaurant = place.restaurant
        assert restaurant.serves_pizza
        assert restaurant.place is place  # both sides cached
    with pytest.raises(Place.restaurant.RelatedObjectDoesNotExist):
        _ = empty.restaurant
    with pytest.raises(Restaurant.DoesNotExist):
        _ = empty.restaurant
    assert not hasattr(empty, "restaurant")
    assert issubclass(Place.restaurant.RelatedObjectDoesNotExist, AttributeError)


def test_reverse_one_to_one_assignment(rel: Any) -> None:
    place = Place.objects.create(name="p")
    restaurant = Restaurant(serves_pizza=False)
    place.restaurant = restaurant
    assert restaurant.place_id == place.pk
    restaurant.save()
    assert Place.objects.get(pk=place.pk).restaurant.pk == restaurant.pk


# Forward FK inside an event loop --------------------------------------------------------------


async def test_lazy_read_inside_the_event_loop_is_refused(rel: Any) -> None:
    ann = await Author.objects.acreate(name="Ann")
    book = await Book.objects.acreate(title="Dune", author=ann)
    fresh = await Book.objects.aget(pk=book.pk)
    async with CaptureQueries() as ctx:
        with pytest.raises(SynchronousOnlyOperation, match=r"afetch_related\('author'\)"):
            _ = fresh.author
        place = await Place.objects.acreate(name="p")
        with pytest.raises(SynchronousOnlyOperation):
            _ = place.restaurant
    assert len(ctx) == 1  # only the INSERT: the refused reads ran nothing
    # Loaded values and None never need the database.
    assert fresh.author_id == ann.pk
    assert (await Author.objects.aget(pk=ann.pk)).publisher is None
    assert book.author is ann  # cached by acreate(author=ann)


async def test_afetch_related_loads_relations_for_async_code(rel: Any) -> None:
    pub = await Publisher.objects.acreate(name="Ace")
    ann = await Author.objects.acreate(name="Ann", publisher=pub)
    book = await Book.objects.acreate(title="Dune", author=ann, editor=ann)
    await Review.objects.acreate(book=book, stars=5)
    book = await Book.objects.aget(pk=book.pk)
    async with assert_num_queries(3):  # one per relation level
        await book.afetch_related("author__publisher", "review_set")
    async with assert_num_queries(0):
        assert book.author.name == "Ann"
        assert book.author.publisher.name == "Ace"
        assert [r.stars for r in book.review_set.all()] == [5]
    # A relation already loaded is not fetched again; a null FK needs no query.
    ann = await Author.objects.aget(pk=ann.pk)
    async with assert_num_queries(0):
        await ann.afetch_related("mentor")
    assert ann.mentor is None
    place = await Place.objects.acreate(name="p")
    await place.afetch_related("restaurant")
    with pytest.raises(Restaurant.DoesNotExist):
        _ = place.restaurant


async def test_descriptor_aget_twins(rel: Any) -> None:
    ann = await Author.objects.acreate(name="Ann")
    book = await Book.objects.acreate(title="Dune", author=ann)
    book = await Book.objects.aget(pk=book.pk)
    assert (await Book.author.aget(book)).name == "Ann"
    assert book.author.name == "Ann"  # cached now


# Reverse FK manager -------------------------------------------------------------------------


async def test_reverse_manager_reads_only_the_instances_rows(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    bob = await run(Author.objects.create, name="Bob")
    for title, author, pages in [("A", ann, 10), ("B", ann, 300), ("C", bob, 50)]:
        await run(Book.objects.create, title=title, author=author, pages=pages)
    assert await _names(run, ann.books.all(), "title") == ["A", "B"]
    assert await _names(run, ann.books.filter(pages__gt=100), "title") == ["B"]
    assert await run(ann.books.count) == 2
    assert await run(bob.books.exists)
    assert (await run(ann.books.get, title="B")).pages == 300
    with pytest.raises(Book.DoesNotExist):
        await run(ann.books.get, title="C")
    books = await run.list(ann.books.all())
    assert all(b.author is ann for b in books)  # the known instance is attached


async def test_reverse_manager_create_and_get_or_create(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(ann.books.create, title="New")
    assert book.author_id == ann.pk and book.pk is not None
    again, created = await run(ann.books.get_or_create, title="New")
    assert again.pk == book.pk and not created
    other, created = await run(ann.books.get_or_create, title="Other")
    assert created and other.author_id == ann.pk
    assert await run(Book.objects.filter(author=ann).count) == 2


async def test_reverse_manager_add_reassigns_the_fk(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    bob = await run(Author.objects.create, name="Bob")
    b1 = await run(Book.objects.create, title="One", author=ann)
    b2 = await run(Book.objects.create, title="Two", author=ann)
    await run(bob.books.add, b1, b2)
    assert b1.author_id == bob.pk
    assert await _names(run, bob.books.all(), "title") == ["One", "Two"]
    assert await run(ann.books.count) == 0
    # bulk=False saves each object (an unsaved one too).
    b3 = Book(title="Three", author=bob)
    await run(ann.books.add, b3, bulk=False)
    assert b3.pk is not None and b3.author_id == ann.pk
    with pytest.raises(ValueError, match="isn't saved"):
        await run(ann.books.add, Book(title="Four", author=ann))
    with pytest.raises(TypeError):
        await run(ann.books.add, ann)


async def test_reverse_manager_remove_clear_set_on_a_nullable_fk(run: Any, rel: Any) -> None:
    ed = await run(Author.objects.create, name="Ed")
    ann = await run(Author.objects.create, name="Ann")
    books = [
        await run(Book.objects.create, title=t, author=ann, editor=ed) for t in ("A", "B", "C")
    ]
    await run(ed.edited.remove, books[0])
    assert books[0].editor_id is None
    assert await _names(run, ed.edited.all(), "title") == ["B", "C"]
    await run(ed.edited.set, [books[0], books[1]])
    assert await _names(run, ed.edited.all(), "title") == ["A", "B"]
    assert (await run(Book.objects.get, title="C")).editor_id is None
    await run(ed.edited.clear)
    assert await run(ed.edited.count) == 0
    assert await run(Book.objects.count) == 3  # only unlinked, never deleted
    stranger = await run(Book.objects.create, title="D", author=ann)
    with pytest.raises(Author.DoesNotExist, match="is not related to"):  # as Django
        await run(ed.edited.remove, stranger)
    with pytest.raises(TypeError, match="'Book' instance expected"):
        await run(ed.edited.remove, ann)


async def test_remove_and_clear_need_a_nullable_fk(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(ann.books.create, title="A")
    with pytest.raises(AttributeError):
        await run(ann.books.remove, book)
    with pytest.raises(AttributeError):
        await run(ann.books.clear)
    assert await run(ann.books.count) == 1


async def test_reverse_manager_needs_a_saved_instance(run: Any, rel: Any) -> None:
    with pytest.raises(ValueError, match="primary key"):
        await run.list(Author(name="x").books.all())


def test_direct_assignment_to_a_reverse_or_m2m_side_is_refused() -> None:
    ann = Author(name="Ann")
    with pytest.raises(TypeError, match=r"books\.set\(\)"):
        ann.books = []  # type: ignore[assignment]
    book = Book(title="x")
    with pytest.raises(TypeError, match=r"tags\.set\(\)"):
        book.tags = []  # type: ignore[assignment]


# Many-to-many manager ------------------------------------------------------------------------


async def test_m2m_add_remove_clear_both_sides(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(Book.objects.create, title="Dune", author=ann)
    other = await run(Book.objects.create, title="Emma", author=ann)
    sf, cl, ro = [await run(Tag.objects.create, name=n) for n in ("sf", "classic", "romance")]
    await run(book.tags.add, sf, cl)
    await run(book.tags.add, sf)  # already there: ignored
    await run(book.tags.add, ro.pk)  # a primary key works too
    assert await _names(run, book.tags.all()) == ["classic", "romance", "sf"]
    assert await run(book.tags.count) == 3
    await run(cl.books.add, other)  # the reverse side writes the same table
    assert await _names(run, cl.books.all(), "title") == ["Dune", "Emma"]
    assert await _names(run, other.tags.all()) == ["classic"]
    await run(book.tags.remove, ro)
    assert await _names(run, book.tags.all()) == ["classic", "sf"]
    assert await _names(run, book.tags.filter(name__startswith="s")) == ["sf"]
    await run(cl.books.clear)
    assert await _names(run, book.tags.all()) == ["sf"]
    assert await run(other.tags.count) == 0
    assert await run(Tag.objects.count) == 3  # rows of the related table are kept
    through = Book.tags.rel.through
    assert await run(through.objects.count) == 1


async def test_m2m_set_keeps_existing_rows_and_clear_true_replaces(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(Book.objects.create, title="Dune", author=ann)
    a, b, c = [await run(Tag.objects.create, name=n) for n in "abc"]
    through = Book.tags.rel.through
    await run(book.tags.set, [a, b])
    kept = await run(through.objects.get, tag=b)
    await run(book.tags.set, [b, c])
    assert await _names(run, book.tags.all()) == ["b", "c"]
    assert (await run(through.objects.get, tag=b)).pk == kept.pk  # not re-created
    await run(book.tags.set, [b, c], clear=True)
    assert await _names(run, book.tags.all()) == ["b", "c"]
    assert (await run(through.objects.get, tag=b)).pk != kept.pk
    await run(book.tags.set, [])
    assert await run(book.tags.count) == 0


async def test_m2m_create_adds_the_new_object(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(Book.objects.create, title="Dune", author=ann)
    tag = await run(book.tags.create, name="fresh")
    assert tag.pk is not None
    assert await _names(run, book.tags.all()) == ["fresh"]
    back = await run(tag.books.create, title="Back", author=ann)
    assert await _names(run, tag.books.all(), "title") == ["Back", "Dune"]
    assert back.author_id == ann.pk


async def test_m2m_manager_needs_a_saved_instance(run: Any, rel: Any) -> None:
    with pytest.raises(ValueError, match="needs to have a value"):
        _ = Book(title="x").tags
    ann = await run(Author.objects.create, name="Ann")
    book = await run(Book.objects.create, title="Dune", author=ann)
    with pytest.raises(ValueError, match="not saved"):
        await run(book.tags.add, Tag(name="unsaved"))
    with pytest.raises(TypeError):
        await run(book.tags.add, ann)


async def test_through_model_with_through_defaults(run: Any, rel: Any) -> None:
    beatles = await run(Group.objects.create, name="Beatles")
    john, paul, ringo = [
        await run(Person.objects.create, name=n) for n in ("John", "Paul", "Ringo")
    ]
    await run(beatles.members.add, john, through_defaults={"role": "lead", "level": 3})
    await run(beatles.members.add, paul)  # the through model's own defaults
    await run(beatles.members.set, [john, paul, ringo], through_defaults={"role": "drums"})
    roles = {m.person_id: (m.role, m.level) for m in await run.list(Membership.objects.all())}
    assert roles == {john.pk: ("lead", 3), paul.pk: ("member", 1), ringo.pk: ("drums", 1)}
    george = await run(beatles.members.create, name="George", through_defaults={"role": "guitar"})
    assert (await run(Membership.objects.get, person=george)).role == "guitar"
    assert await _names(run, beatles.members.all()) == ["George", "John", "Paul", "Ringo"]
    assert await _names(run, john.groups.all()) == ["Beatles"]
    # The other FK to Person (inviter) plays no part in the relation.
    await run(Membership.objects.filter(person=paul).update, inviter=john)
    assert await run(john.groups.count) == 1
    await run(beatles.members.remove, paul)
    assert await run(Membership.objects.filter(person=paul).exists) is False
    await run(beatles.members.clear)
    assert await run(Membership.objects.count) == 0


async def test_symmetrical_self_m2m(run: Any, rel: Any) -> None:
    a, b, c = [await run(Person.objects.create, name=n) for n in ("A", "B", "C")]
    await run(a.friends.add, b, c)
    assert await _names(run, b.friends.all()) == ["A"]
    assert await _names(run, a.friends.all()) == ["B", "C"]
    through = Person.friends.rel.through
    assert await run(through.objects.count) == 4  # both directions stored, as Django
    await run(b.friends.remove, a)
    assert await _names(run, a.friends.all()) == ["C"]
    assert await run(b.friends.count) == 0


async def test_asymmetrical_self_m2m(run: Any, rel: Any) -> None:
    a, b = [await run(Person.objects.create, name=n) for n in ("A", "B")]
    await run(a.follows.add, b)
    assert await _names(run, a.follows.all()) == ["B"]
    assert await _names(run, b.followers.all()) == ["A"]
    assert await run(b.follows.count) == 0
    assert await run(a.followers.count) == 0


async def test_m2m_writes_are_atomic(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(Book.objects.create, title="Dune", author=ann)
    tag = await run(Tag.objects.create, name="t")
    with pytest.raises(IntegrityError):  # no tag 10**9: the foreign key check fails
        await run(book.tags.set, [tag, 10**9])
    assert await run(book.tags.count) == 0  # the valid row was rolled back with it


def test_related_object_does_not_exist_is_an_object_does_not_exist() -> None:
    assert issubclass(Book.author.RelatedObjectDoesNotExist, ObjectDoesNotExist)


async def test_m2m_get_or_create_and_update_or_create_add_what_they_create(
    run: Any, rel: Any
) -> None:
    ann = await run(Author.objects.create, name="Ann")
    book = await run(Book.objects.create, title="Dune", author=ann)
    tag, created = await run(book.tags.get_or_create, name="sf")
    assert created and await _names(run, book.tags.all()) == ["sf"]
    again, created = await run(book.tags.get_or_create, name="sf")
    assert not created and again.pk == tag.pk
    upd, created = await run(book.tags.update_or_create, name="sf", defaults={"name": "scifi"})
    assert not created and upd.name == "scifi"
    _, created = await run(book.tags.update_or_create, name="new")
    assert created and await _names(run, book.tags.all()) == ["new", "scifi"]
    beatles = await run(Group.objects.create, name="Beatles")
    ringo, created = await run(
        beatles.members.get_or_create, name="Ringo", through_defaults={"role": "drums"}
    )
    assert created and (await run(Membership.objects.get, person=ringo)).role == "drums"


async def test_refresh_from_db_drops_prefetched_relations(run: Any, rel: Any) -> None:
    ann = await run(Author.objects.create, name="Ann")
    await run(Book.objects.create, title="One", author=ann)
    ann = (await run.list(Author.objects.prefetch_related("books")))[0]
    await run(Book.objects.create, title="Two", author=ann)
    assert await run(ann.books.count) == 1  # the prefetched rows
    await run(ann.refresh_from_db, fields=["books"])
    assert await run(ann.books.count) == 2
    ann = (await run.list(Author.objects.prefetch_related("books")))[0]
    await run(Book.objects.create, title="Three", author=ann)
    await run(ann.refresh_from_db)
    assert await run(ann.books.count) == 3


def test_a_deferred_fk_column_is_loaded_before_the_related_object(rel: Any) -> None:
    ann, _, book = _sync_setup()
    book = Book.objects.only("title").get(pk=book.pk)
    with assert_num_queries(2):  # the author_id column, then the author
        assert book.author.name == "Ann"
    assert Book.objects.defer("author").get(pk=book.pk).author == ann


async def test_afetch_related_loads_a_deferred_fk_column_too(rel: Any) -> None:
    ann = await Author.objects.acreate(name="Ann")
    await Book.objects.acreate(title="Dune", author=ann)
    await Book.objects.acreate(title="Emma", author=ann)
    books = await Book.objects.only("title").alist()
    with pytest.raises(SynchronousOnlyOperation):
        _ = books[0].author
    async with assert_num_queries(2):  # the FK column of both books, then their author
        await aprefetch_related_objects(books, "author")
    assert [b.author.name for b in books] == ["Ann", "Ann"]
    book = await Book.objects.only("title").aget(title="Dune")
    assert (await Book.author.aget(book)).name == "Ann"
