"""Plan and apply migrations on one database alias, from sync or async code.

Everything but I/O is written once: the plan, the project states, and the application of
one migration — a generator of *requests* (:meth:`MigrationExecutor.migration_requests`:
run this statement, open/commit the transaction, record the migration). Two small runners
answer those requests, one on the sync connection (:meth:`MigrationExecutor.migrate`), one
on the async connection (:meth:`MigrationExecutor.amigrate`); ``sqlmigrate`` collects the
same statements without running them (:meth:`MigrationExecutor.collect_sql`).

Each migration runs in its own transaction where the backend can roll DDL back
(``features.can_rollback_ddl``) unless the migration sets ``atomic = False``; it is
recorded as applied inside that transaction, so a failure leaves both the schema and the
``dorm_migrations`` table as they were.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator, Iterable
from typing import Any

from dorm.conf import DEFAULT_DB_ALIAS
from dorm.migrations.exceptions import InvalidMigrationPlan, MigrationError
from dorm.migrations.graph import Key
from dorm.migrations.loader import MigrationLoader
from dorm.migrations.migration import Migration, _close
from dorm.migrations.recorder import MigrationRecorder

Plan = list[tuple[Migration, bool]]
Target = tuple[str, str | None]
Requests = Generator[tuple[Any, ...], Any, None]


class MigrationExecutor:
    """Applies migrations to the database ``using``.

    ::

        executor = MigrationExecutor("default")
        executor.migrate()                          # everything, to the latest
        executor.migrate([("shop", "0002_author_age")])   # forwards or back to a migration
        executor.migrate([("shop", None)])          # unapply all of shop ("zero")
        await executor.amigrate()                   # the same, on the async connection

    ``progress_callback(action, migration, fake)`` is called with ``"apply_start"``,
    ``"apply_success"``, ``"unapply_start"`` and ``"unapply_success"``.
    """

    def __init__(
        self,
        using: str = DEFAULT_DB_ALIAS,
        loader: MigrationLoader | None = None,
        progress_callback: Callable[[str, Migration, bool], None] | None = None,
    ) -> None:
        self.using = using
        self.loader = loader if loader is not None else MigrationLoader()
        self.recorder = MigrationRecorder(using)
        self.progress_callback = progress_callback

    # Planning (pure) -------------------------------------------------------------------

    def default_targets(self) -> list[Target]:
        return list(self.loader.graph.leaf_nodes())

    def migration_plan(self, targets: Iterable[Target], applied: set[Key]) -> Plan:
        """The (migration, backwards) steps that bring the database to ``targets``.

        A target ``(app, None)`` unapplies every migration of ``app``; a target that is
        applied rolls back what comes after it in its app; else it is applied with its
        dependencies.
        """
        graph = self.loader.graph
        plan: Plan = []
        applied = set(applied)
        for target in targets:
            app, name = target
            if name is None:
                for root in graph.root_nodes(app):
                    if root in applied:
                        for key in graph.backwards_plan(root):
                            if key in applied:
                                plan.append((graph.nodes[key], True))
                                applied.discard(key)
                continue
            key = (app, name)
            if key not in graph.nodes:
                raise MigrationError(f"Migration {app}.{name} does not exist.")
            if key in applied:
                for child in sorted(c for c in graph.children[key] if c[0] == app):
                    for dependent in graph.backwards_plan(child):
                        if dependent in applied:
                            plan.append((graph.nodes[dependent], True))
                            applied.discard(dependent)
            else:
                for needed in graph.forwards_plan(key):
                    if needed not in applied:
                        plan.append((graph.nodes[needed], False))
                        applied.add(needed)
        directions = {backwards for _, backwards in plan}
        if len(directions) > 1:
            raise InvalidMigrationPlan(
                "The targets mix applying and unapplying migrations; migrate one app at a "
                "time: " + ", ".join(f"{m}{' (unapply)' if b else ''}" for m, b in plan)
            )
        return plan

    def states_for_plan(self, plan: Plan, applied: set[Key]) -> dict[Key, Any]:
        """The project state before each migration of ``plan``."""
        from dorm.migrations.state import ProjectState

        graph = self.loader.graph
        in_plan = {m.key for m, _ in plan}
        backwards = bool(plan) and plan[0][1]
        full: list[Key] = []
        for leaf in graph.leaf_nodes():
            for key in graph.forwards_plan(leaf):
                if key not in full:
                    full.append(key)
        states: dict[Key, Any] = {}
        state = ProjectState()
        for key in full:
            if key in in_plan:
                states[key] = state.clone()
            if key in applied or (not backwards and key in in_plan):
                state = graph.nodes[key].mutate_state(state, preserve=False)
        return states

    # Applying one migration (pure, as requests) ----------------------------------------------

    def migration_requests(
        self, migration: Migration, state: Any, backwards: bool, fake: bool, editor: Any
    ) -> Requests:
        """Apply (or unapply) ``migration`` as a sequence of requests to a runner:

        ``("execute", sql, params)``, ``("fetchall", sql, params)`` (its rows are sent back),
        ``("await", awaitable)``, ``("begin",)``, ``("commit",)``, ``("rollback", exc)`` and
        ``("record", app, name, applied)``.
        """
        key = (migration.app_label, migration.name)
        if fake:
            yield ("record", *key, not backwards)
            return
        atomic = migration.atomic and editor.connection.features.can_rollback_ddl
        for sql in editor.prologue_statements():
            yield ("execute", sql, None)
        try:
            if atomic:
                yield ("begin",)
            try:
                for step in migration.database_steps(state.clone(), editor, backwards):
                    if step[0] == "sql":
                        yield ("execute", step[1], step[2])
                    elif step[0] == "await":
                        yield step
                for sql in editor.check_statements():
                    rows = yield ("fetchall", sql, None)
                    editor.check_result(sql, rows)
                yield ("record", *key, not backwards)
            except Exception as exc:
                if atomic:
                    yield ("rollback", exc)
                raise
            if atomic:
                yield ("commit",)
        except Exception:
            for sql in editor.epilogue_statements():
                yield ("execute", sql, None)
            raise
        for sql in editor.epilogue_statements():
            yield ("execute", sql, None)

    def _editor(self, connection: Any, migration: Migration) -> Any:
        from dorm.db.backends.base.schema import BaseDatabaseSchemaEditor

        editor_class = connection.schema_editor_class or BaseDatabaseSchemaEditor
        editor = editor_class(connection, atomic=migration.atomic)
        return editor

    def _report(self, action: str, migration: Migration, fake: bool) -> None:
        if self.progress_callback is not None:
            self.progress_callback(action, migration, fake)

    # Sync ------------------------------------------------------------------------------

    def applied_migrations(self) -> set[Key]:
        return self.recorder.applied_migrations()

    def plan(self, targets: Iterable[Target] | None = None) -> Plan:
        """The plan :meth:`migrate` would run (reads the recorder table)."""
        applied = self.applied_migrations()
        self.loader.check_consistent_history(applied)
        return self.migration_plan(
            targets if targets is not None else self.default_targets(), applied
        )

    def migrate(
        self,
        targets: Iterable[Target] | None = None,
        plan: Plan | None = None,
        fake: bool = False,
    ) -> Plan:
        """Bring the database to ``targets`` (default: every app's latest migration)."""
        self.loader.check_conflicts()
        applied = self.applied_migrations()
        self.loader.check_consistent_history(applied)
        if plan is None:
            plan = self.migration_plan(
                targets if targets is not None else self.default_targets(), applied
            )
        states = self.states_for_plan(plan, applied)
        for migration, backwards in plan:
            self._apply_sync(migration, states[migration.key], backwards, fake)
        return plan

    def _apply_sync(self, migration: Migration, state: Any, backwards: bool, fake: bool) -> None:
        self._report("unapply_start" if backwards else "apply_start", migration, fake)
        if not fake and "async" in migration.code_modes(backwards):
            self._apply_through_async(migration, state, backwards)
        else:
            self.run_sync(migration, state, backwards, fake)
        self._report("unapply_success" if backwards else "apply_success", migration, fake)

    def run_sync(self, migration: Migration, state: Any, backwards: bool, fake: bool) -> None:
        """The sync runner: answer one migration's requests on ``connections[using]``."""
        from dorm.db import connections
        from dorm.transaction import atomic

        conn = connections[self.using]
        editor = self._editor(conn, migration)
        editor.outer_atomic = conn.tx.in_atomic_block
        requests = self.migration_requests(migration, state, backwards, fake, editor)
        opened: list[Any] = []
        send: Any = None
        throw: BaseException | None = None
        while True:
            try:
                request = requests.throw(throw) if throw is not None else requests.send(send)
            except StopIteration:
                return
            send, throw = None, None
            try:
                kind = request[0]
                if kind == "execute":
                    conn.execute(request[1], request[2] or None)
                elif kind == "fetchall":
                    send = conn.fetchall(request[1], request[2] or None)
                elif kind == "begin":
                    block = atomic(using=self.using)
                    block.__enter__()
                    opened.append(block)
                elif kind == "commit":
                    opened.pop().__exit__(None, None, None)
                elif kind == "rollback":
                    if opened:
                        exc = request[1]
                        opened.pop().__exit__(type(exc), exc, exc.__traceback__)
                elif kind == "record":
                    if request[3]:
                        self.recorder.record_applied(request[1], request[2])
                    else:
                        self.recorder.record_unapplied(request[1], request[2])
                elif kind == "await":
                    _close(request[1])
                    raise MigrationError(f"{migration} returned an awaitable to the sync runner.")
                else:  # pragma: no cover - programming error
                    raise MigrationError(f"Unknown migration request {kind!r}.")
            except Exception as exc:
                throw = exc

    def _apply_through_async(self, migration: Migration, state: Any, backwards: bool) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise MigrationError(
                f"{migration} runs async RunPython code; from async code apply it with "
                "`await executor.amigrate(...)` (or `await dorm.acall_command('migrate')`)."
            )

        async def run() -> None:
            from dorm.db import aclose_all

            try:
                await self.run_async(migration, state, backwards, False)
            finally:
                await aclose_all()

        asyncio.run(run())

    # Async -----------------------------------------------------------------------------

    async def aapplied_migrations(self) -> set[Key]:
        return await self.recorder.aapplied_migrations()

    async def aplan(self, targets: Iterable[Target] | None = None) -> Plan:
        applied = await self.aapplied_migrations()
        self.loader.check_consistent_history(applied)
        return self.migration_plan(
            targets if targets is not None else self.default_targets(), applied
        )

    async def amigrate(
        self,
        targets: Iterable[Target] | None = None,
        plan: Plan | None = None,
        fake: bool = False,
    ) -> Plan:
        """Async :meth:`migrate`, on ``async_connections[using]``."""
        self.loader.check_conflicts()
        applied = await self.aapplied_migrations()
        self.loader.check_consistent_history(applied)
        if plan is None:
            plan = self.migration_plan(
                targets if targets is not None else self.default_targets(), applied
            )
        states = self.states_for_plan(plan, applied)
        for migration, backwards in plan:
            state = states[migration.key]
            self._report("unapply_start" if backwards else "apply_start", migration, fake)
            if not fake and "sync" in migration.code_modes(backwards):
                # Sync RunPython code uses the sync connection: run the whole migration there
                # (in a worker thread), so its DDL and the code share one transaction.
                await asyncio.to_thread(self._run_sync_in_thread, migration, state, backwards)
            else:
                await self.run_async(migration, state, backwards, fake)
            self._report("unapply_success" if backwards else "apply_success", migration, fake)
        return plan

    def _run_sync_in_thread(self, migration: Migration, state: Any, backwards: bool) -> None:
        from dorm.db import connections

        try:
            self.run_sync(migration, state, backwards, False)
        finally:
            connections[self.using].close()

    async def run_async(
        self, migration: Migration, state: Any, backwards: bool, fake: bool
    ) -> None:
        """The async runner: one migration's requests on ``async_connections[using]``."""
        import inspect

        from dorm.db import async_connections
        from dorm.transaction import aatomic

        conn = async_connections[self.using]
        editor = self._editor(conn, migration)
        editor.outer_atomic = conn.tx.in_atomic_block
        requests = self.migration_requests(migration, state, backwards, fake, editor)
        # One driver connection for the whole migration (prologue, DDL, recording).
        binding = await conn.bind()
        opened: list[Any] = []
        send: Any = None
        throw: BaseException | None = None
        try:
            while True:
                try:
                    request = requests.throw(throw) if throw is not None else requests.send(send)
                except StopIteration:
                    return
                send, throw = None, None
                try:
                    kind = request[0]
                    if kind == "execute":
                        await conn.execute(request[1], request[2] or None)
                    elif kind == "fetchall":
                        send = await conn.fetchall(request[1], request[2] or None)
                    elif kind == "begin":
                        block = aatomic(using=self.using)
                        await block.__aenter__()
                        opened.append(block)
                    elif kind == "commit":
                        await opened.pop().__aexit__(None, None, None)
                    elif kind == "rollback":
                        if opened:
                            exc = request[1]
                            await opened.pop().__aexit__(type(exc), exc, exc.__traceback__)
                    elif kind == "record":
                        if request[3]:
                            await self.recorder.arecord_applied(request[1], request[2])
                        else:
                            await self.recorder.arecord_unapplied(request[1], request[2])
                    elif kind == "await":
                        result = request[1]
                        if inspect.isawaitable(result):
                            await result
                    else:  # pragma: no cover
                        raise MigrationError(f"Unknown migration request {kind!r}.")
                except Exception as exc:
                    throw = exc
        finally:
            conn.unbind(binding)

    # sqlmigrate --------------------------------------------------------------------------

    def collect_sql(self, plan: Plan) -> list[str]:
        """The SQL ``migrate`` would run for ``plan`` (``sqlmigrate``), one string per
        statement (ending with ``;``), with ``--`` comments naming each operation.

        Operations that are not SQL (``RunPython``) are named, not run.
        """
        from dorm.db import connections

        conn = connections[self.using]
        lines: list[str] = []
        for migration, backwards in plan:
            editor = self._editor(conn, migration)
            state = self.loader.graph.make_state(nodes=[migration.key], at_end=False)
            atomic = migration.atomic and conn.features.can_rollback_ddl
            if atomic:
                lines.append("BEGIN;")
            for step in migration.database_steps(state, editor, backwards, collect=True):
                if step[0] == "operation":
                    operation = step[1]
                    if operation.reduces_to_sql:
                        lines.append(f"--\n-- {operation.describe()}\n--")
                    else:
                        lines.append(
                            "--\n-- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS "
                            f"SQL:\n-- {operation.describe()}\n--"
                        )
                elif step[0] == "sql":
                    sql, params = step[1], step[2]
                    if params:
                        sql = sql % tuple(editor.quote_value(p) for p in params)
                    lines.append(sql + ";")
                else:
                    _close(step[1])
            if atomic:
                lines.append("COMMIT;")
        return lines
