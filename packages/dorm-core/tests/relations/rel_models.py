"""Models of the relation tests (app label ``relapp``).

Imported as a top-level module (``tests/relations`` is put on ``sys.path`` by the conftest).
Targets are given every supported way: a class, ``"Model"``, ``"app_label.Model"`` and
``"self"``; some are referenced before they are defined (lazy resolution).
"""

from __future__ import annotations

import dorm

APP = "relapp"


class Country(dorm.Model):
    code = dorm.CharField(max_length=2, unique=True)
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = APP
        ordering = ["code"]


class Publisher(dorm.Model):
    name = dorm.CharField(max_length=50)
    # A lazy "Model" reference, pointing at a non-primary-key unique column.
    country = dorm.ForeignKey(
        "Country", on_delete=dorm.SET_NULL, null=True, to_field="code", related_name="publishers"
    )

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Author(dorm.Model):
    name = dorm.CharField(max_length=50)
    age = dorm.IntegerField(default=30)
    # "app_label.Model" reference; and a self-reference.
    publisher = dorm.ForeignKey(
        "relapp.Publisher", on_delete=dorm.SET_NULL, null=True, related_name="authors"
    )
    mentor = dorm.ForeignKey("self", on_delete=dorm.SET_NULL, null=True, related_name="mentees")

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(dorm.Model):
    name = dorm.CharField(max_length=30, unique=True)

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Book(dorm.Model):
    title = dorm.CharField(max_length=100)
    pages = dorm.IntegerField(default=100)
    year = dorm.IntegerField(default=2000)
    author = dorm.ForeignKey(Author, on_delete=dorm.CASCADE, related_name="books")
    # A second FK to Author: a related_query_name different from the accessor.
    editor = dorm.ForeignKey(
        Author,
        on_delete=dorm.SET_NULL,
        null=True,
        related_name="edited",
        related_query_name="edited_book",
    )
    tags = dorm.ManyToManyField(Tag, related_name="books")
    # Referenced before it is defined.
    awards = dorm.ManyToManyField("Award", db_table="relapp_prizes")

    class Meta:
        app_label = APP
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Award(dorm.Model):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP


class Review(dorm.Model):
    """No related_name: ``book.review_set`` and ``Book.objects.filter(review__...)``."""

    book = dorm.ForeignKey(Book, on_delete=dorm.CASCADE)
    stars = dorm.IntegerField()

    class Meta:
        app_label = APP


# One-to-one ------------------------------------------------------------------------------


class Place(dorm.Model):
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = APP

    def __str__(self) -> str:
        return self.name


class Restaurant(dorm.Model):
    place = dorm.OneToOneField(Place, on_delete=dorm.CASCADE)
    serves_pizza = dorm.BooleanField(default=False)

    class Meta:
        app_label = APP


# Many-to-many: self, symmetrical, and an explicit through model --------------------------


class Person(dorm.Model):
    name = dorm.CharField(max_length=50)
    friends = dorm.ManyToManyField("self")  # symmetrical
    follows = dorm.ManyToManyField("self", symmetrical=False, related_name="followers")

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Group(dorm.Model):
    name = dorm.CharField(max_length=50)
    members = dorm.ManyToManyField(
        Person,
        through="Membership",
        through_fields=("group", "person"),
        related_name="groups",
    )

    class Meta:
        app_label = APP
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(dorm.Model):
    group = dorm.ForeignKey(Group, on_delete=dorm.CASCADE)
    person = dorm.ForeignKey(Person, on_delete=dorm.CASCADE)
    # A second FK to Person: why through_fields is needed.
    inviter = dorm.ForeignKey(
        Person, on_delete=dorm.SET_NULL, null=True, related_name="invitations"
    )
    role = dorm.CharField(max_length=20, default="member")
    level = dorm.IntegerField(default=1)

    class Meta:
        app_label = APP


# on_delete ---------------------------------------------------------------------------------


#: Primary keys of the owners SET_DEFAULT / SET(...) point at (the tests create them).
DEFAULT_OWNER = 998
FALLBACK_OWNER = 999


def fallback_owner() -> int:
    return FALLBACK_OWNER


class Owner(dorm.Model):
    name = dorm.CharField(max_length=30)

    class Meta:
        app_label = APP


class Cascaded(dorm.Model):
    owner = dorm.ForeignKey(Owner, on_delete=dorm.CASCADE, related_name="cascaded")

    class Meta:
        app_label = APP


class Protected(dorm.Model):
    owner = dorm.ForeignKey(Owner, on_delete=dorm.PROTECT, related_name="protected")

    class Meta:
        app_label = APP


class Nulled(dorm.Model):
    owner = dorm.ForeignKey(Owner, on_delete=dorm.SET_NULL, null=True, related_name="nulled")

    class Meta:
        app_label = APP


class Defaulted(dorm.Model):
    owner = dorm.ForeignKey(
        Owner, on_delete=dorm.SET_DEFAULT, default=DEFAULT_OWNER, related_name="defaulted"
    )

    class Meta:
        app_label = APP


class Settled(dorm.Model):
    owner = dorm.ForeignKey(
        Owner, on_delete=dorm.SET(fallback_owner), null=True, related_name="settled"
    )

    class Meta:
        app_label = APP


class Ignored(dorm.Model):
    owner = dorm.ForeignKey(
        Owner, on_delete=dorm.DO_NOTHING, db_constraint=False, related_name="ignored"
    )

    class Meta:
        app_label = APP


class Leaf(dorm.Model):
    """Cascade two levels down: Owner -> Cascaded -> Leaf."""

    parent = dorm.ForeignKey(Cascaded, on_delete=dorm.CASCADE, related_name="leaves")

    class Meta:
        app_label = APP


class Guard(dorm.Model):
    """PROTECT further down a cascade chain: Author -> Book -> Guard."""

    book = dorm.ForeignKey(Book, on_delete=dorm.PROTECT, related_name="guards")

    class Meta:
        app_label = APP


# Django's RESTRICT example (docs, "on_delete" / RESTRICT) ---------------------------------


class Artist(dorm.Model):
    name = dorm.CharField(max_length=10)

    class Meta:
        app_label = APP


class Album(dorm.Model):
    artist = dorm.ForeignKey(Artist, on_delete=dorm.CASCADE)

    class Meta:
        app_label = APP


class Song(dorm.Model):
    artist = dorm.ForeignKey(Artist, on_delete=dorm.CASCADE)
    album = dorm.ForeignKey(Album, on_delete=dorm.RESTRICT)

    class Meta:
        app_label = APP


#: Models whose tables the ``rel`` fixture creates, in dependency order (M2M through tables
#: are created with the model that declares the field).
MODELS = [
    Country,
    Publisher,
    Author,
    Tag,
    Award,
    Book,
    Review,
    Place,
    Restaurant,
    Person,
    Group,
    Membership,
    Owner,
    Cascaded,
    Protected,
    Nulled,
    Defaulted,
    Settled,
    Ignored,
    Leaf,
    Guard,
    Artist,
    Album,
    Song,
]
