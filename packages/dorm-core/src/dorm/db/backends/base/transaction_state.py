"""Transaction bookkeeping shared by the sync and async wrappers.

``atomic`` blocks ask this state what to do (``BEGIN``, ``SAVEPOINT``, ``COMMIT``, ...);
the wrappers only carry the answers out, so nesting rules exist once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dorm.exceptions import TransactionManagementError

_sid_counter = itertools.count(1)

# Actions: ("begin",), ("commit",), ("rollback",), ("savepoint", sid), ("release", sid),
# ("rollback_to", sid)
Action = tuple[str, ...]


@dataclass(slots=True)
class _Frame:
    sid: str | None
    durable: bool


@dataclass(slots=True)
class TransactionState:
    """Nesting of ``atomic`` blocks on one connection (per thread, or per task for async)."""

    frames: list[_Frame] = field(default_factory=list)
    needs_rollback: bool = False
    # (savepoint ids active when registered, callback, robust)
    on_commit: list[tuple[set[str], Callable[[], Any], bool]] = field(default_factory=list)

    @property
    def in_atomic_block(self) -> bool:
        return bool(self.frames)

    def enter(self, savepoint: bool, durable: bool) -> Action | None:
        if durable and self.frames:
            raise RuntimeError(
                "A durable atomic block cannot be nested within another atomic block."
            )
        if not self.frames:
            self.needs_rollback = False
            self.frames.append(_Frame(None, durable))
            return ("begin",)
        if savepoint and not self.needs_rollback:
            sid = f"s{next(_sid_counter)}"
            self.frames.append(_Frame(sid, durable))
            return ("savepoint", sid)
        self.frames.append(_Frame(None, durable))
        return None

    def exit(self, failed: bool) -> list[Action]:
        """Pop a block; ``failed`` when it is left by an exception."""
        frame = self.frames.pop()
        if not self.frames:
            if failed or self.needs_rollback:
                self.needs_rollback = False
                return [("rollback",)]
            return [("commit",)]
        if frame.sid is None:
            if failed:
                # No savepoint to go back to: the whole transaction is doomed.
                self.needs_rollback = True
            return []
        if failed or self.needs_rollback:
            self.needs_rollback = False
            self.discard_callbacks(frame.sid)
            return [("rollback_to", frame.sid), ("release", frame.sid)]
        return [("release", frame.sid)]

    def savepoint_ids(self) -> set[str]:
        return {f.sid for f in self.frames if f.sid is not None}

    def add_on_commit(self, func: Callable[[], Any], robust: bool) -> None:
        self.on_commit.append((self.savepoint_ids(), func, robust))

    def discard_callbacks(self, sid: str) -> None:
        self.on_commit = [entry for entry in self.on_commit if sid not in entry[0]]

    def take_callbacks(self) -> list[tuple[set[str], Callable[[], Any], bool]]:
        callbacks, self.on_commit = self.on_commit, []
        return callbacks

    def check_usable(self) -> None:
        if self.needs_rollback:
            raise TransactionManagementError(
                "An error occurred in the current transaction. You can't execute queries "
                "until the end of the 'atomic' block."
            )
