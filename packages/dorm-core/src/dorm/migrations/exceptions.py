"""Errors of the migration framework (all under ``dorm.exceptions.DormError``)."""

from __future__ import annotations

from dorm.exceptions import DormError


class MigrationError(DormError):
    """Something is wrong with the migrations or with applying them."""


class BadMigrationError(MigrationError):
    """A migration file cannot be loaded (syntax error, no ``Migration`` class, ...)."""


class NodeNotFoundError(MigrationError, LookupError):
    """A dependency (or a target) names a migration that does not exist."""

    def __init__(self, message: str, node: tuple[str, str] | None = None) -> None:
        super().__init__(message)
        self.node = node


class CircularDependencyError(MigrationError):
    """The dependency graph has a cycle."""


class InconsistentMigrationHistory(MigrationError):
    """A migration is recorded as applied but one of its dependencies is not."""


class IrreversibleError(MigrationError):
    """An operation cannot be reversed (``RunSQL`` without ``reverse_sql``, ...)."""


class InvalidMigrationPlan(MigrationError):
    """The requested plan mixes forwards and backwards steps, or cannot be run."""


class ConflictError(MigrationError):
    """An app has more than one leaf migration (``makemigrations --merge`` fixes it)."""


class AmbiguityError(MigrationError):
    """A migration name prefix matches more than one migration."""
