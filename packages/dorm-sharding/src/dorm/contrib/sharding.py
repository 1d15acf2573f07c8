"""Hash-based horizontal sharding: a router, a shard-key context, and shard helpers.

::

    DATABASE_ROUTERS = [HashShardRouter(num_shards=4, shard_models={Order, Customer})]

    with with_shard_key(tenant_id):
        Order.objects.create(...)

The shard of a key is a BLAKE2b hash of a canonical encoding of the key (str, int, UUID or
bytes), optionally keyed with a salt — the same on every process and machine, unlike
Python's randomised ``hash()``. ``strategy="jump"`` uses jump consistent hashing, so growing
from N to N+1 shards moves only about 1/(N+1) of the keys (see :func:`reshard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dorm.exceptions import DormError, ImproperlyConfigured

__all__ = [
    "HashShardRouter",
    "ReshardReport",
    "ShardKeyRequired",
    "afor_each_shard",
    "for_each_shard",
    "get_shard_key",
    "jump_hash",
    "reshard",
    "shard_for",
    "with_shard_key",
]

T = TypeVar("T")
STRATEGIES = ("modulo", "jump")


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<no shard key>"


UNSET: Any = _Unset()
_shard_key: ContextVar[Any] = ContextVar("dorm_shard_key", default=UNSET)


class ShardKeyRequired(DormError, LookupError):
    """A sharded model was queried or saved with no shard key active."""


# Shard keys ----------------------------------------------------------------------------


@contextlib.contextmanager
def with_shard_key(key: Any) -> Iterator[Any]:
    """Make ``key`` the active shard key for the block (per thread / per asyncio task).

    A task created inside the block inherits the key; setting a key in one task never
    leaks into another, since the key lives in a ``ContextVar``.
    """
    _canonical(key)  # reject unsupported keys at the boundary, not deep in a query
    token = _shard_key.set(key)
    try:
        yield key
    finally:
        _shard_key.reset(token)


def get_shard_key(default: Any = UNSET) -> Any:
    """The active shard key; ``default`` (or ``ShardKeyRequired``) when none is active."""
    key = _shard_key.get()
    if key is UNSET:
        if default is not UNSET:
            return default
        raise ShardKeyRequired("No shard key is active; use `with with_shard_key(key):`.")
    return key


def _canonical(key: Any) -> bytes:
    # A type tag keeps 1, "1" and b"1" apart; ints use their decimal form so that
    # arbitrarily large ints encode the same everywhere.
    if isinstance(key, bool):
        raise TypeError("A shard key cannot be a bool.")
    if isinstance(key, int):
        return b"i:" + str(key).encode()
    if isinstance(key, str):
        return b"s:" + key.encode("utf-8")
    if isinstance(key, uuid.UUID):
        return b"u:" + key.bytes
    if isinstance(key, (bytes, bytearray, memoryview)):
        return b"b:" + bytes(key)
    raise TypeError(
        f"Unsupported shard key type {type(key).__name__}: use str, int, uuid.UUID or bytes."
    )


def jump_hash(key: int, num_buckets: int) -> int:
    """Jump consistent hash (Lamping & Veach, 2014) of a 64-bit ``key`` into ``num_buckets``."""
    if num_buckets <= 0:
        raise ValueError("num_buckets must be positive.")
    b, j = -1, 0
    key &= 0xFFFFFFFFFFFFFFFF
    while j < num_buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & 0xFFFFFFFFFFFFFFFF
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


def shard_for(key: Any, num_shards: int, *, salt: bytes = b"", strategy: str = "modulo") -> int:
    """The shard number (0-based) of ``key``: deterministic across processes and machines."""
    if not isinstance(num_shards, int) or num_shards <= 0:
        raise ValueError(f"num_shards must be a positive int, got {num_shards!r}.")
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}.")
    if len(salt) > 64:
        raise ValueError("salt must be at most 64 bytes (the BLAKE2b key size).")
    digest = hashlib.blake2b(_canonical(key), digest_size=8, key=bytes(salt)).digest()
    value = int.from_bytes(digest, "big")
    if strategy == "jump":
        return jump_hash(value, num_shards)
    return value % num_shards


# The router ----------------------------------------------------------------------------


class HashShardRouter:
    """Route sharded models to ``alias_format.format(shard_for(active key))``.

    Models not in ``shard_models`` (classes or ``"app_label.Model"`` labels) fall through to
    the next router / ``default``. M2M join tables of sharded models follow their model.
    """

    def __init__(
        self,
        num_shards: int,
        shard_models: Iterable[Any],
        *,
        alias_format: str = "shard_{}",
        salt: bytes = b"",
        strategy: str = "modulo",
    ) -> None:
        if not isinstance(num_shards, int) or num_shards <= 0:
            raise ImproperlyConfigured(
                f"HashShardRouter num_shards must be a positive int, got {num_shards!r}."
            )
        if strategy not in STRATEGIES:
            raise ImproperlyConfigured(
                f"HashShardRouter strategy must be one of {STRATEGIES}, got {strategy!r}."
            )
        if "{}" not in alias_format and "{0}" not in alias_format:
            raise ImproperlyConfigured(
                f"alias_format {alias_format!r} needs a '{{}}' for the shard number."
            )
        self.num_shards = num_shards
        self.alias_format = alias_format
        self.salt = bytes(salt)
        self.strategy = strategy
        self._labels = set()
        for model in shard_models:
            label = model if isinstance(model, str) else model._meta.label
            self._labels.add(label.lower())

    def __repr__(self) -> str:
        return f"<HashShardRouter {self.num_shards} shards {sorted(self._labels)}>"

    @property
    def aliases(self) -> list[str]:
        return [self.alias_format.format(i) for i in range(self.num_shards)]

    def is_sharded(self, model: Any) -> bool:
        meta = model._meta
        if meta.label_lower in self._labels:
            return True
        owner = getattr(meta, "auto_created", False)
        return bool(owner) and owner is not True and owner._meta.label_lower in self._labels

    def alias_for_key(self, key: Any) -> str:
        return self.alias_format.format(
            shard_for(key, self.num_shards, salt=self.salt, strategy=self.strategy)
        )

    def _route(self, model: Any, **hints: Any) -> str | None:
        if not self.is_sharded(model):
            return None
        key = _shard_key.get()
        if key is not UNSET:
            return self.alias_for_key(key)
        instance = hints.get("instance")
        db = getattr(getattr(instance, "_state", None), "db", None)
        if db in self.aliases:
            return db  # an object loaded from a shard stays on it
        raise ShardKeyRequired(
            f"{model._meta.label} is sharded but no shard key is active: wrap the call in "
            f"`with with_shard_key(key):` (dorm never falls back to 'default' for it)."
        )

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return self._route(model, **hints)

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return self._route(model, **hints)

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        if self.is_sharded(type(obj1)) or self.is_sharded(type(obj2)):
            # Rows on different shards cannot reference each other.
            return bool(obj1._state.db == obj2._state.db)
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        model = hints.get("model")
        if model is None and model_name is not None:
            from dorm.apps import apps

            try:
                model = apps.get_model(app_label, model_name)
            except LookupError:
                model = None
        if model is None:
            return None
        if self.is_sharded(model):
            return db in self.aliases
        return None


# Running on every shard ----------------------------------------------------------------


def _aliases(num_shards: int, alias_format: str) -> list[str]:
    return [alias_format.format(i) for i in range(num_shards)]


def for_each_shard(
    fn: Callable[[str], T], num_shards: int = 4, *, alias_format: str = "shard_{}"
) -> dict[str, T]:
    """``{alias: fn(alias)}`` for every shard, one after the other."""
    return {alias: fn(alias) for alias in _aliases(num_shards, alias_format)}


async def afor_each_shard(
    fn: Callable[[str], Awaitable[T]], num_shards: int = 4, *, alias_format: str = "shard_{}"
) -> dict[str, T]:
    """``{alias: await fn(alias)}`` for every shard, concurrently (``asyncio.gather``)."""
    aliases = _aliases(num_shards, alias_format)
    results = await asyncio.gather(*(fn(alias) for alias in aliases))
    return dict(zip(aliases, results, strict=True))


# Resharding ----------------------------------------------------------------------------


@dataclass
class ReshardReport:
    """What :func:`reshard` did."""

    scanned: int = 0
    moved: int = 0
    per_shard: dict[str, int] = field(default_factory=dict)

    @property
    def fraction_moved(self) -> float:
        return self.moved / self.scanned if self.scanned else 0.0


def reshard(
    model: Any,
    key: str | Callable[[Any], Any],
    old_num_shards: int,
    new_num_shards: int,
    *,
    salt: bytes = b"",
    strategy: str = "jump",
    alias_format: str = "shard_{}",
    batch_size: int = 500,
    progress: Callable[[ReshardReport], None] | None = None,
) -> ReshardReport:
    """Move rows of ``model`` whose shard changes from ``old_num_shards`` to ``new_num_shards``.

    ``key`` is the field holding each row's shard key (or a function of the row). Rows move
    in batches: inserted on the new shard (existing rows are left alone), then deleted from
    the old one, each step in its own transaction. Re-running after an interruption finishes
    the job — nothing is lost or duplicated, and rows already moved are not scanned again
    because they are no longer on a shard they do not belong to. The new shards' tables must
    exist (migrate them first). Returns a report with ``fraction_moved``.
    """
    from dorm import transaction

    if batch_size <= 0:
        raise ValueError("batch_size must be positive.")
    get_key = key if callable(key) else (lambda obj: getattr(obj, key))
    report = ReshardReport()
    manager = model._base_manager
    pk_name = model._meta.pk.attname
    for alias in _aliases(old_num_shards, alias_format):
        last_pk = None
        moved_here = 0
        while True:
            qs = manager.using(alias).order_by("pk")
            if last_pk is not None:
                qs = qs.filter(pk__gt=last_pk)
            batch = list(qs[:batch_size])
            if not batch:
                break
            last_pk = getattr(batch[-1], pk_name)
            report.scanned += len(batch)
            moves: dict[str, list[Any]] = {}
            for obj in batch:
                target = alias_format.format(
                    shard_for(get_key(obj), new_num_shards, salt=salt, strategy=strategy)
                )
                if target != alias:
                    moves.setdefault(target, []).append(obj)
            for target, objs in moves.items():
                copies = []
                for obj in objs:
                    copy = model(
                        **{f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}
                    )
                    copies.append(copy)
                with transaction.atomic(using=target):
                    manager.using(target).bulk_create(copies, ignore_conflicts=True)
                with transaction.atomic(using=alias):
                    manager.using(alias).filter(pk__in=[getattr(o, pk_name) for o in objs]).delete()
                report.moved += len(objs)
                moved_here += len(objs)
            if progress is not None:
                progress(report)
        report.per_shard[alias] = moved_here
    return report
