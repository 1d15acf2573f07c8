"""on_delete: CASCADE, PROTECT, RESTRICT, SET_NULL, SET_DEFAULT, SET(...), DO_NOTHING — collected
and run in one transaction by ``Model.delete()`` and ``QuerySet.delete()`` (sync and async),
returning Django's ``(total, {label: count})``, with signals per deleted instance."""

from __future__ import annotations

from typing import Any

import pytest
from rel_models import (
    DEFAULT_OWNER,
    FALLBACK_OWNER,
    Album,
    Artist,
    Author,
    Book,
    Cascaded,
    Defaulted,
    Group,
    Guard,
    Ignored,
    Leaf,
    Membership,
    Nulled,
    Owner,
    Person,
    Protected,
    Review,
    Settled,
    Song,
    Tag,
)

from dorm import signals
from dorm.exceptions import IntegrityError, ProtectedError, RestrictedError
from dorm.testing import CaptureQueries

BOOK_TAGS = "relapp.Book_tags"


async def delete(run: Any, target: Any) -> tuple[int, dict[str, int]]:
    """``target.delete()`` / ``await target.adelete()`` (an instance or a QuerySet)."""
    return await run.call(target, "delete")  # type: ignore[no-any-return]


async def library(run: Any) -> dict[str, Any]:
    """Ann: 2 books (2 tags each, 1 review); Bob: 1 book edited by Ann; Bob's mentor is Ann."""
    ann = await run(Author.objects.create, name="Ann")
    bob = await run(Author.objects.create, name="Bob", mentor=ann)
    tags = [await run(Tag.objects.create, name=n) for n in ("a", "b", "c")]
    b1 = await run(Book.objects.create, title="One", author=ann)
    b2 = await run(Book.objects.create, title="Two", author=ann)
    b3 = await run(Book.objects.create, title="Three", author=bob, editor=ann)
    await run(b1.tags.add, tags[0], tags[1])
    await run(b2.tags.add, tags[1], tags[2])
    await run(b3.tags.add, tags[0])
    await run(Review.objects.create, book=b1, stars=5)
    return {"ann": ann, "bob": bob, "tags": tags, "books": [b1, b2, b3]}


def assert_one_transaction(ctx: CaptureQueries) -> None:
    """The captured statements are one transaction: BEGIN first, COMMIT last, nothing else."""
    control = [
        q.split()[0].upper()
        for q in ctx.queries
        if q.split()[0].upper() in ("BEGIN", "START", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    ]
    assert control == ["BEGIN", "COMMIT"], control
    assert ctx.queries[0].upper().startswith("BEGIN") and ctx.queries[-1].upper() == "COMMIT"


async def count(run: Any, model: Any, **filters: Any) -> int:
    return await run(model.objects.filter(**filters).count)  # type: ignore[no-any-return]


# CASCADE and the counts ---------------------------------------------------------------------


async def test_cascade_deletes_dependents_and_m2m_rows_with_djangos_counts(
    run: Any, rel: Any
) -> None:
    lib = await library(run)
    ann = lib["ann"]
    result = await delete(run, ann)
    assert result == (
        8,
        {"relapp.Author": 1, "relapp.Book": 2, BOOK_TAGS: 4, "relapp.Review": 1},
    )
    assert ann.pk is None  # as Django: the deleted instance loses its primary key
    assert await count(run, Book) == 1 and await count(run, Review) == 0
    assert await count(run, Book.tags.rel.through) == 1
    assert await count(run, Tag) == 3  # the other side of an M2M is kept
    bob = await run(Author.objects.get, name="Bob")
    assert bob.mentor_id is None  # SET_NULL on the self FK
    assert (await run(Book.objects.get, title="Three")).editor_id is None


async def test_queryset_delete_cascades_the_same_way(run: Any, rel: Any) -> None:
    await library(run)
    async with CaptureQueries(include_transaction=True) as ctx:
        result = await delete(run, Book.objects.filter(author__name="Ann"))
    assert result == (7, {"relapp.Book": 2, BOOK_TAGS: 4, "relapp.Review": 1})
    assert_one_transaction(ctx)
    result = await delete(run, Author.objects.all())
    assert result == (4, {"relapp.Author": 2, "relapp.Book": 1, BOOK_TAGS: 1})
    assert await delete(run, Author.objects.all()) == (0, {})


async def test_deleting_the_other_side_of_an_m2m_removes_only_join_rows(run: Any, rel: Any) -> None:
    lib = await library(run)
    assert await delete(run, lib["tags"][1]) == (3, {"relapp.Tag": 1, BOOK_TAGS: 2})
    assert await count(run, Book) == 3
    assert [t.name for t in await run.list(lib["books"][0].tags.all())] == ["a"]


async def test_cascade_over_several_levels(run: Any, rel: Any) -> None:
    owner = await run(Owner.objects.create, name="o")
    other = await run(Owner.objects.create, name="other")
    for o, n in ((owner, 2), (other, 1)):
        for _ in range(n):
            c = await run(Cascaded.objects.create, owner=o)
            for _ in range(3):
                await run(Leaf.objects.create, parent=c)
    result = await delete(run, owner)
    assert result == (9, {"relapp.Owner": 1, "relapp.Cascaded": 2, "relapp.Leaf": 6})
    assert await count(run, Leaf) == 3 and await count(run, Cascaded) == 1


async def test_fast_path_without_relations_or_signals(run: Any, rel: Any) -> None:
    owner = await run(Owner.objects.create, name="o")
    c = await run(Cascaded.objects.create, owner=owner)
    for _ in range(3):
        await run(Leaf.objects.create, parent=c)
    async with CaptureQueries() as ctx:
        assert await delete(run, Leaf.objects.filter(parent=c)) == (3, {"relapp.Leaf": 3})
    assert len(ctx) == 1 and ctx.queries[0].startswith("DELETE")
    assert await delete(run, Leaf.objects.all()) == (0, {})


async def test_explicit_through_model_rows_cascade(run: Any, rel: Any) -> None:
    g = await run(Group.objects.create, name="g")
    john, mick = (
        await run(Person.objects.create, name="John"),
        await run(Person.objects.create, name="Mick"),
    )
    await run(Membership.objects.create, group=g, person=john, inviter=mick)
    await run(Membership.objects.create, group=g, person=mick)
    # Mick's own membership goes; John's, which Mick only invited, is kept with inviter NULL.
    assert await delete(run, mick) == (2, {"relapp.Person": 1, "relapp.Membership": 1})
    m = await run(Membership.objects.get)
    assert m.person_id == john.pk and m.inviter_id is None
    assert await delete(run, g) == (2, {"relapp.Group": 1, "relapp.Membership": 1})


async def test_symmetrical_m2m_rows_go_both_ways(run: Any, rel: Any) -> None:
    a, b = await run(Person.objects.create, name="A"), await run(Person.objects.create, name="B")
    await run(a.friends.add, b)
    await run(a.follows.add, b)
    result = await delete(run, a)
    assert result == (
        4,
        {"relapp.Person": 1, "relapp.Person_friends": 2, "relapp.Person_follows": 1},
    )
    assert await run(b.friends.count) == 0 and await run(b.followers.count) == 0


# SET_NULL, SET_DEFAULT, SET(...), DO_NOTHING ---------------------------------------------------


async def test_set_null_set_default_set_and_do_nothing(run: Any, rel: Any) -> None:
    await run(Owner.objects.create, id=DEFAULT_OWNER, name="default")
    await run(Owner.objects.create, id=FALLBACK_OWNER, name="fallback")
    owner = await run(Owner.objects.create, name="o")
    owner_pk = owner.pk
    n = await run(Nulled.objects.create, owner=owner)
    d = await run(Defaulted.objects.create, owner=owner)
    s = await run(Settled.objects.create, owner=owner)
    i = await run(Ignored.objects.create, owner=owner)
    result = await delete(run, owner)
    assert result == (1, {"relapp.Owner": 1})  # updated rows are not counted
    assert (await run(Nulled.objects.get, pk=n.pk)).owner_id is None
    assert (await run(Defaulted.objects.get, pk=d.pk)).owner_id == DEFAULT_OWNER
    assert (await run(Settled.objects.get, pk=s.pk)).owner_id == FALLBACK_OWNER
    assert (await run(Ignored.objects.get, pk=i.pk)).owner_id == owner_pk  # left dangling


async def test_set_null_runs_before_the_deletes_in_one_transaction(run: Any, rel: Any) -> None:
    await library(run)
    ann = await run(Author.objects.get, name="Ann")
    async with CaptureQueries(include_transaction=True) as ctx:
        await delete(run, ann)
    sql = [q.split(" WHERE")[0] for q in ctx.queries]
    writes = [q for q in sql if q.startswith(("UPDATE", "DELETE"))]
    # Django's order: rows deleted without loading them (join rows, reviews), then the
    # SET_NULL updates, then the collected instances, referencing before referenced.
    assert writes[-2:] == ['DELETE FROM "relapp_book"', 'DELETE FROM "relapp_author"']
    updates = [i for i, q in enumerate(writes) if q.startswith("UPDATE")]
    assert [writes[i] for i in updates] == [
        'UPDATE "relapp_author" SET "mentor_id" = %s',
        'UPDATE "relapp_book" SET "editor_id" = %s',
    ]
    assert writes.index('DELETE FROM "relapp_book_tags"') < updates[0]
    assert updates[-1] < len(writes) - 2
    assert_one_transaction(ctx)


# PROTECT and RESTRICT ----------------------------------------------------------------------


async def test_protect_refuses_and_deletes_nothing(run: Any, rel: Any) -> None:
    owner = await run(Owner.objects.create, name="o")
    await run(Cascaded.objects.create, owner=owner)
    guard = await run(Protected.objects.create, owner=owner)
    with pytest.raises(ProtectedError) as info:
        await delete(run, owner)
    assert isinstance(info.value, IntegrityError)
    assert [o.pk for o in info.value.protected_objects] == [guard.pk]
    assert "Protected.owner" in str(info.value)
    assert owner.pk is not None
    assert await count(run, Owner) == 1 and await count(run, Cascaded) == 1
    with pytest.raises(ProtectedError):
        await delete(run, Owner.objects.all())
    await delete(run, guard)
    assert await delete(run, owner) == (2, {"relapp.Owner": 1, "relapp.Cascaded": 1})


async def test_protect_further_down_a_cascade_aborts_everything(run: Any, rel: Any) -> None:
    lib = await library(run)
    await run(Guard.objects.create, book=lib["books"][1])
    with pytest.raises(ProtectedError):
        await delete(run, lib["ann"])
    assert await count(run, Author) == 2 and await count(run, Book) == 3
    assert await count(run, Book.tags.rel.through) == 5 and await count(run, Review) == 1
    assert (await run(Author.objects.get, name="Bob")).mentor_id == lib["ann"].pk


async def test_restrict_as_in_djangos_documentation(run: Any, rel: Any) -> None:
    artist_one = await run(Artist.objects.create, name="artist one")
    artist_two = await run(Artist.objects.create, name="artist two")
    album_one = await run(Album.objects.create, artist=artist_one)
    album_two = await run(Album.objects.create, artist=artist_two)
    await run(Song.objects.create, artist=artist_one, album=album_one)
    song_two = await run(Song.objects.create, artist=artist_one, album=album_two)
    with pytest.raises(RestrictedError) as info:
        await delete(run, album_one)
    assert isinstance(info.value, IntegrityError)
    with pytest.raises(RestrictedError) as info:
        await delete(run, artist_two)
    assert [o.pk for o in info.value.restricted_objects] == [song_two.pk]
    assert await count(run, Song) == 2 and await count(run, Album) == 2
    result = await delete(run, artist_one)
    assert result == (4, {"relapp.Song": 2, "relapp.Album": 1, "relapp.Artist": 1})
    assert await delete(run, Artist.objects.all()) == (2, {"relapp.Artist": 1, "relapp.Album": 1})


async def test_restrict_allows_the_cascade_from_a_queryset_delete(run: Any, rel: Any) -> None:
    artist = await run(Artist.objects.create, name="x")
    album = await run(Album.objects.create, artist=artist)
    await run(Song.objects.create, artist=artist, album=album)
    result = await delete(run, Artist.objects.all())
    assert result == (3, {"relapp.Artist": 1, "relapp.Album": 1, "relapp.Song": 1})


# Signals ------------------------------------------------------------------------------------------


async def test_signals_fire_for_every_deleted_instance(run: Any, rel: Any) -> None:
    lib = await library(run)
    events: list[tuple[str, str, Any]] = []

    def pre(sender: Any, instance: Any, **kwargs: Any) -> None:
        events.append(("pre", sender._meta.label, instance.pk))

    def post(sender: Any, instance: Any, **kwargs: Any) -> None:
        events.append(("post", sender._meta.label, instance.pk))

    ann_pk = lib["ann"].pk
    signals.pre_delete.connect(pre)
    signals.post_delete.connect(post)
    try:
        await delete(run, lib["ann"])
    finally:
        signals.pre_delete.disconnect(pre)
        signals.post_delete.disconnect(post)
    for kind in ("pre", "post"):
        labels = sorted(label for k, label, _ in events if k == kind)
        assert labels == sorted(
            ["relapp.Author", "relapp.Book", "relapp.Book", "relapp.Review"] + [BOOK_TAGS] * 4
        )
    first_post = next(i for i, e in enumerate(events) if e[0] == "post")
    assert all(e[0] == "pre" for e in events[:first_post])  # every pre before any post
    assert ("pre", "relapp.Author", ann_pk) in events  # the instance still had its pk
    assert ("post", "relapp.Author", ann_pk) in events


async def test_delete_inside_a_rolled_back_transaction_leaves_everything(
    run: Any, rel: Any
) -> None:
    lib = await library(run)
    with pytest.raises(RuntimeError):
        async with run.atomic():
            await delete(run, lib["ann"])
            raise RuntimeError("roll back")
    assert await count(run, Author) == 2 and await count(run, Book) == 3


async def test_deleting_an_unsaved_instance_is_refused(run: Any, rel: Any) -> None:
    with pytest.raises(ValueError, match="can't be deleted"):
        await delete(run, Author(name="x"))


# Acceptance: an author with 1,000 books --------------------------------------------------


async def _big_author(run: Any) -> tuple[Author, Author]:
    ann = await run(Author.objects.create, name="Ann")
    keep = await run(Author.objects.create, name="Keep")
    tags = [await run(Tag.objects.create, name=f"t{i}") for i in range(5)]
    books = await run(
        Book.objects.bulk_create, [Book(title=f"B{i}", author=ann) for i in range(1000)]
    )
    kept = await run(Book.objects.create, title="kept", author=keep)
    through = Book.tags.rel.through
    rows = [
        through(book_id=b.pk, tag_id=tags[(i + k) % 5].pk)
        for i, b in enumerate(books)
        for k in (0, 1)
    ]
    await run(through.objects.bulk_create, rows)
    await run(kept.tags.add, *tags)
    return ann, keep


async def test_deleting_an_author_with_1000_books(run: Any, rel: Any) -> None:
    ann, keep = await _big_author(run)
    async with CaptureQueries(include_transaction=True) as ctx:
        result = await delete(run, ann)
    assert result == (3001, {"relapp.Author": 1, "relapp.Book": 1000, BOOK_TAGS: 2000})
    assert_one_transaction(ctx)
    through = Book.tags.rel.through
    # No orphans: only Keep's book and its 5 join rows remain.
    assert await count(run, Book) == 1 and await count(run, through) == 5
    assert await count(run, through, book__author=keep) == 5
    assert await count(run, Author) == 1


async def test_protect_in_the_chain_of_1000_books_deletes_nothing(run: Any, rel: Any) -> None:
    await _big_author(run)
    victim = await run(Book.objects.get, title="B500")
    await run(Guard.objects.create, book=victim)
    with pytest.raises(ProtectedError):
        await delete(run, Author.objects.filter(name="Ann"))
    assert await count(run, Author) == 2
    assert await count(run, Book) == 1001
    assert await count(run, Book.tags.rel.through) == 2005
