"""Raw SQL, Python code, and split database/state operations."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from dorm.migrations.exceptions import IrreversibleError
from dorm.migrations.operations.base import Operation


def split_sql(sql: str) -> list[str]:
    """Split a script into statements on ``;`` outside quotes, comments and ``$$`` bodies."""
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in ("'", '"'):
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote
                        end += 2
                        continue
                    break
                end += 1
            buf.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end == -1 else end
            buf.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end == -1 else end + 2
            buf.append(sql[i:end])
            i = end
        elif ch == "$":
            tag_end = sql.find("$", i + 1)
            tag = sql[i : tag_end + 1] if tag_end != -1 else ""
            if tag and (tag == "$$" or tag[1:-1].isidentifier()):
                close = sql.find(tag, tag_end + 1)
                close = n if close == -1 else close + len(tag)
                buf.append(sql[i:close])
                i = close
            else:
                buf.append(ch)
                i += 1
        elif ch == ";":
            statements.append("".join(buf))
            buf = []
            i += 1
        else:
            buf.append(ch)
            i += 1
    statements.append("".join(buf))
    result = []
    for statement in statements:
        lines = [ln for ln in statement.strip().splitlines() if not ln.strip().startswith("--")]
        if "\n".join(lines).strip():
            result.append(statement.strip())
    return result


def _statements(sql: Any) -> list[tuple[str, Any]]:
    if isinstance(sql, str):
        return [(s, None) for s in split_sql(sql)]
    out: list[tuple[str, Any]] = []
    for item in sql:
        if isinstance(item, (list, tuple)):
            if len(item) != 2:
                raise ValueError(f"RunSQL items are 'sql' or ('sql', params), got {item!r}.")
            out.append((item[0], item[1]))
        else:
            out.append((item, None))
    return out


class RunSQL(Operation):
    """Run raw SQL: a string (split on ``;``), or a list of strings / ``(sql, params)``.

    ``reverse_sql`` makes it reversible (``RunSQL.noop`` reverses to nothing);
    ``state_operations`` tell the state what the SQL changed.
    """

    noop = ""

    def __init__(
        self,
        sql: Any,
        reverse_sql: Any = None,
        state_operations: Sequence[Operation] | None = None,
        hints: dict[str, Any] | None = None,
        elidable: bool = False,
    ) -> None:
        self.sql = sql
        self.reverse_sql = reverse_sql
        self.state_operations = list(state_operations or [])
        self.hints = dict(hints or {})
        self.elidable = elidable

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return self.reverse_sql is not None

    def state_forwards(self, app_label: str, state: Any) -> None:
        for operation in self.state_operations:
            operation.state_forwards(app_label, state)

    def _run(self, app_label: str, schema_editor: Any, sql: Any) -> None:
        from dorm.db import router

        if not router.allow_migrate(schema_editor.connection.alias, app_label, **self.hints):
            return
        for statement, params in _statements(sql):
            schema_editor.execute(statement, params)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        self._run(app_label, schema_editor, self.sql)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if self.reverse_sql is None:
            raise IrreversibleError("This RunSQL operation has no reverse_sql: it is irreversible.")
        self._run(app_label, schema_editor, self.reverse_sql)

    def describe(self) -> str:
        return "Raw SQL operation"


class RunPython(Operation):
    """Run Python code: ``code(apps, schema_editor)``, where ``apps`` holds the models as of
    this point of the migrations (``apps.get_model("shop", "Author")``).

    ``code`` may be an ``async def``: the async executor awaits it inside the migration's
    transaction. The sync executor runs a migration with async code through the async one
    (and the async executor runs sync code in a worker thread), so the code always shares
    the migration's connection and transaction.
    """

    reduces_to_sql = False

    def __init__(
        self,
        code: Callable[..., Any],
        reverse_code: Callable[..., Any] | None = None,
        atomic: bool | None = None,
        hints: dict[str, Any] | None = None,
        elidable: bool = False,
    ) -> None:
        if not callable(code):
            raise ValueError("RunPython needs a callable: RunPython(forwards, backwards).")
        if reverse_code is not None and not callable(reverse_code):
            raise ValueError("RunPython reverse_code must be callable.")
        self.code = code
        self.reverse_code = reverse_code
        self.atomic = atomic  # type: ignore[assignment]
        self.hints = dict(hints or {})
        self.elidable = elidable

    @staticmethod
    def noop(apps: Any, schema_editor: Any) -> None:
        """A do-nothing ``code``/``reverse_code`` (e.g. to make a data migration reversible)."""

    @property
    def reversible(self) -> bool:  # type: ignore[override]
        return self.reverse_code is not None

    def code_mode(self, backwards: bool = False) -> str | None:
        code = self.reverse_code if backwards else self.code
        if code is None or code is RunPython.noop:
            return None
        return "async" if inspect.iscoroutinefunction(code) else "sync"

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass

    def _call(self, code: Any, app_label: str, schema_editor: Any, state: Any) -> Any:
        from dorm.db import router

        if not router.allow_migrate(schema_editor.connection.alias, app_label, **self.hints):
            return None
        return code(state.apps, schema_editor)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> Any:
        return self._call(self.code, app_label, schema_editor, from_state)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> Any:
        if self.reverse_code is None:
            raise IrreversibleError(
                "This RunPython operation has no reverse_code: it is irreversible."
            )
        return self._call(self.reverse_code, app_label, schema_editor, from_state)

    def describe(self) -> str:
        return "Raw Python operation"


class SeparateDatabaseAndState(Operation):
    """Run ``database_operations`` on the database and ``state_operations`` on the state."""

    def __init__(
        self,
        database_operations: Sequence[Operation] | None = None,
        state_operations: Sequence[Operation] | None = None,
    ) -> None:
        self.database_operations = list(database_operations or [])
        self.state_operations = list(state_operations or [])

    def state_forwards(self, app_label: str, state: Any) -> None:
        for operation in self.state_operations:
            operation.state_forwards(app_label, state)

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        for operation in self.database_operations:
            to_state = from_state.clone()
            operation.state_forwards(app_label, to_state)
            operation.database_forwards(app_label, schema_editor, from_state, to_state)
            from_state = to_state

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        states = [to_state]
        for operation in self.database_operations[:-1]:
            state = states[-1].clone()
            operation.state_forwards(app_label, state)
            states.append(state)
        for operation, before in zip(
            reversed(self.database_operations), reversed(states), strict=True
        ):
            after = before.clone()
            operation.state_forwards(app_label, after)
            operation.database_backwards(app_label, schema_editor, after, before)

    def describe(self) -> str:
        return "Custom state/database change combination"
