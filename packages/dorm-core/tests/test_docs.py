"""Every code example in ``docs/*.md`` runs, as written, as part of the test suite.

Conventions for writing a docs page (follow them when you add one):

* Every fenced block whose info string starts with ``python`` (or ``py``) is executed. There is
  no way to opt out: ``no-run``, ``skip`` or any other tag fails the test. If an example cannot
  run, rewrite it until it can (or show it in a ``text`` block and say it is not code).
* A page's blocks run in order, in ONE namespace, like cells of a notebook: a later block sees
  the names an earlier one defined. Each page starts from a fresh namespace whose ``__name__``
  is ``"__main__"``.
* The working directory is a fresh temporary directory, which is also first on ``sys.path`` so
  that files written there import. Relative database paths (``"app.sqlite3"``) land there.
* ```` ```python file=PATH ```` writes the block to ``PATH`` (relative to that directory,
  folders created) instead of running it: for settings modules and backend modules that later
  blocks import or load. It is still compiled, so it must be valid Python.
* A block may use top-level ``await`` (``await conn.fetchall(...)``, ``async with aatomic():``).
  All such blocks of a page run in one event loop, kept for the whole page, so async
  connections made in one block are reused by the next. Plain blocks run outside any loop
  (``asyncio.run()`` works in them).
* Show results with ``assert`` (checked) rather than only ``print`` (not checked); ``print``
  is fine for showing a message.
* Fences must start at the beginning of a line (no indented fences); other languages
  (``toml``, ``bash``, ``text``, ...) are shown, not run.
* The runner closes every dorm connection before and after each page, restores the working
  directory, ``sys.path``, ``os.environ`` and ``sys.modules`` (modules imported from the temp
  directory), and clears the engine cache. A page must remove the execution hooks it
  registers (the test checks none is left behind).
* Tracebacks point at the page itself: a failure in a block reports ``docs/page.md`` and the
  line number within it.
* A page whose FIRST line is ``<!-- requires: postgresql -->`` needs a PostgreSQL server: it
  runs only when ``DORM_TEST_POSTGRES_DSN`` is set (a server where databases may be created),
  on a fresh database made from that DSN and dropped after. The runner configures dorm's
  ``default`` alias on it and sets ``DATABASE_URL`` to its DSN (the page may configure dorm
  from it). Without the variable the page is skipped, saying so. ``tests-integration`` runs
  such pages too (through :func:`run_postgres_page`), so CI always executes them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dorm.db import aclose_all, close_all, hooks, registry

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
PYTHON_LANGS = {"python", "py"}
#: Pages that must exist (the foundation's); other pages are picked up automatically.
REQUIRED_PAGES = {"configuration.md", "backends.md", "connections.md"}
#: First line of a page that needs PostgreSQL; the variable naming the server to use.
REQUIRES_POSTGRESQL = "<!-- requires: postgresql -->"
POSTGRES_DSN_ENV = "DORM_TEST_POSTGRES_DSN"


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the first code line
    lang: str
    options: dict[str, str]
    code: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a page, in order."""
    blocks: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("```"):
            i += 1
            continue
        fence = line[: len(line) - len(line.lstrip("`"))]
        info = line[len(fence) :].split()
        start = i + 1
        end = start
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        if end == len(lines):
            raise AssertionError(f"{page.relative_to(ROOT)}:{i + 1}: unclosed code fence")
        lang = info[0].lower() if info else ""
        options: dict[str, str] = {}
        for word in info[1:]:
            key, sep, value = word.partition("=")
            options[key] = value if sep else ""
        blocks.append(Block(page, start + 1, lang, options, "\n".join(lines[start:end]) + "\n"))
        i = end + 1
    return blocks


def python_blocks(page: Path) -> list[Block]:
    blocks = [b for b in parse_blocks(page) if b.lang in PYTHON_LANGS]
    for block in blocks:
        unknown = set(block.options) - {"file"}
        assert not unknown, (
            f"{block.where}: python blocks take no {sorted(unknown)} tag; every example must "
            "run (see the conventions at the top of tests/test_docs.py)"
        )
        if "file" in block.options:
            target = block.options["file"]
            assert target and not Path(target).is_absolute() and ".." not in Path(target).parts, (
                f"{block.where}: file= needs a relative path inside the working directory"
            )
    return blocks


def compile_block(block: Block, *, allow_await: bool) -> object:
    # Pad with blank lines so line numbers in tracebacks are the page's own.
    source = "\n" * (block.line - 1) + block.code
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if allow_await else 0
    return compile(source, str(block.page), "exec", flags=flags, dont_inherit=True)


def run_page(page: Path, workdir: Path) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    loop = asyncio.new_event_loop()
    try:
        for block in python_blocks(page):
            try:
                if "file" in block.options:
                    compile_block(block, allow_await=False)
                    target = workdir / block.options["file"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(block.code, encoding="utf-8")
                    continue
                code = compile_block(block, allow_await=True)
                if code.co_flags & inspect.CO_COROUTINE:  # type: ignore[attr-defined]
                    loop.run_until_complete(eval(code, namespace))
                else:
                    exec(code, namespace)
            except BaseException as exc:
                exc.add_note(f"in the python block at {block.where}")
                raise
    finally:
        try:
            loop.run_until_complete(aclose_all())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
            close_all()


def requires_postgresql(page: Path) -> bool:
    return page.read_text(encoding="utf-8").split("\n", 1)[0].strip() == REQUIRES_POSTGRESQL


def run_postgres_page(page: Path, workdir: Path, dsn: str) -> None:
    """Run a PostgreSQL page on the (empty) database ``dsn``; the caller restores os.environ."""
    import dorm

    os.environ["DATABASE_URL"] = dsn
    dorm.configure(DATABASES={"default": {"ENGINE": "postgresql", "OPTIONS": {"conninfo": dsn}}})
    try:
        run_page(page, workdir)
    finally:
        from dorm_postgres import close_pools

        close_pools()


@contextlib.contextmanager
def fresh_postgres_database(admin_dsn: str) -> Iterator[str]:
    """A new database on the server of ``admin_dsn`` (its DSN), dropped afterwards."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"dorm_docs_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_conninfo(admin_dsn, dbname=name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_required_pages_exist() -> None:
    assert {page.name for page in PAGES} >= REQUIRED_PAGES


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert python_blocks(page), f"{page.name} has no python example"
    admin_dsn = os.environ.get(POSTGRES_DSN_ENV)
    if requires_postgresql(page) and not admin_dsn:
        pytest.skip(f"{page.name} requires PostgreSQL: set {POSTGRES_DSN_ENV} to run it")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    environ = dict(os.environ)
    modules = set(sys.modules)
    had_hooks = (hooks.has_sync(), hooks.has_async())
    close_all()
    try:
        if requires_postgresql(page):
            with fresh_postgres_database(admin_dsn or "") as dsn:
                run_postgres_page(page, tmp_path, dsn)
        else:
            run_page(page, tmp_path)
        assert (hooks.has_sync(), hooks.has_async()) == had_hooks, (
            f"{page.name} left an execution hook registered; remove() it in the example"
        )
    finally:
        os.environ.clear()
        os.environ.update(environ)
        for name in set(sys.modules) - modules:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if name == "settings" or file.startswith(str(tmp_path)):
                del sys.modules[name]
        registry.clear_cache()
