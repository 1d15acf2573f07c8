"""The dependency graph of migrations across apps."""

from __future__ import annotations

from typing import Any

from dorm.migrations.exceptions import (
    CircularDependencyError,
    NodeNotFoundError,
)

Key = tuple[str, str]


class MigrationGraph:
    """Nodes are ``(app_label, name)``; an edge ``child -> parent`` is a dependency."""

    def __init__(self) -> None:
        self.nodes: dict[Key, Any] = {}
        self.parents: dict[Key, set[Key]] = {}
        self.children: dict[Key, set[Key]] = {}
        self._pending: list[tuple[Key, Key, Any]] = []

    def add_node(self, key: Key, migration: Any) -> None:
        self.nodes[key] = migration
        self.parents.setdefault(key, set())
        self.children.setdefault(key, set())

    def add_dependency(self, migration: Any, child: Key, parent: Key) -> None:
        """``child`` depends on ``parent``; both must be nodes (checked by :meth:`validate`)."""
        self._pending.append((child, parent, migration))

    def validate(self) -> None:
        """Resolve the dependencies added; raise on missing nodes and cycles."""
        missing = []
        for child, parent, migration in self._pending:
            if child not in self.nodes:
                missing.append(
                    (
                        child,
                        f"Migration {migration} has a run_before on {child[0]}.{child[1]}, "
                        "which does not exist.",
                    )
                )
                continue
            if parent not in self.nodes:
                missing.append(
                    (
                        parent,
                        f"Migration {migration} depends on {parent[0]}.{parent[1]}, which does "
                        "not exist (is the app in INSTALLED_APPS, and the migration file "
                        "there?).",
                    )
                )
                continue
            self.parents[child].add(parent)
            self.children[parent].add(child)
        self._pending.clear()
        if missing:
            node, message = missing[0]
            raise NodeNotFoundError(message, node)
        self.ensure_not_cyclic()

    def ensure_not_cyclic(self) -> None:
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.nodes, white)
        for start in sorted(self.nodes):
            if color[start] != white:
                continue
            stack: list[tuple[Key, list[Key]]] = [(start, sorted(self.parents[start]))]
            color[start] = grey
            path = [start]
            while stack:
                node, todo = stack[-1]
                if not todo:
                    stack.pop()
                    path.pop()
                    color[node] = black
                    continue
                parent = todo.pop()
                if color[parent] == grey:
                    cycle = [*path[path.index(parent) :], parent]
                    raise CircularDependencyError(
                        "Circular dependency between migrations: "
                        + " -> ".join(f"{a}.{n}" for a, n in cycle)
                        + ". Edit their dependencies so that one comes first."
                    )
                if color[parent] == white:
                    color[parent] = grey
                    path.append(parent)
                    stack.append((parent, sorted(self.parents[parent])))

    def _check(self, key: Key) -> None:
        if key not in self.nodes:
            raise NodeNotFoundError(f"Migration {key[0]}.{key[1]} does not exist.", key)

    def forwards_plan(self, target: Key) -> list[Key]:
        """``target`` and everything it depends on, dependencies first."""
        self._check(target)
        return self._walk(target, self.parents)

    def backwards_plan(self, target: Key) -> list[Key]:
        """``target`` and everything depending on it, dependents first."""
        self._check(target)
        return self._walk(target, self.children)

    def _walk(self, target: Key, edges: dict[Key, set[Key]]) -> list[Key]:
        result: list[Key] = []
        seen: set[Key] = set()
        stack: list[tuple[Key, bool]] = [(target, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                if node not in seen:
                    seen.add(node)
                    result.append(node)
                continue
            if node in seen:
                continue
            stack.append((node, True))
            for nxt in sorted(edges[node], reverse=True):
                if nxt not in seen:
                    stack.append((nxt, False))
        return result

    def leaf_nodes(self, app: str | None = None) -> list[Key]:
        """Nodes no other node of the same app depends on."""
        leaves = set()
        for node in self.nodes:
            if app is not None and node[0] != app:
                continue
            if not any(child[0] == node[0] for child in self.children[node]):
                leaves.add(node)
        return sorted(leaves)

    def root_nodes(self, app: str | None = None) -> list[Key]:
        """Nodes depending on no other node of the same app."""
        roots = set()
        for node in self.nodes:
            if app is not None and node[0] != app:
                continue
            if not any(parent[0] == node[0] for parent in self.parents[node]):
                roots.add(node)
        return sorted(roots)

    def make_state(self, nodes: list[Key] | None = None, at_end: bool = True) -> Any:
        """The project state after applying ``nodes`` (and their dependencies); all leaf
        nodes when ``None``. ``at_end=False`` stops before the nodes themselves."""
        from dorm.migrations.state import ProjectState

        if nodes is None:
            nodes = self.leaf_nodes()
        plan: list[Key] = []
        for node in nodes:
            for key in self.forwards_plan(node):
                if key in plan:
                    continue
                if not at_end and key in nodes:
                    continue
                plan.append(key)
        state = ProjectState()
        for key in plan:
            state = self.nodes[key].mutate_state(state, preserve=False)
        return state

    def __contains__(self, key: object) -> bool:
        return key in self.nodes

    def __repr__(self) -> str:
        edges = sum(len(p) for p in self.parents.values())
        return f"<MigrationGraph: nodes={len(self.nodes)}, edges={edges}>"
