"""The docs pages marked ``<!-- requires: postgresql -->``, run on the integration server.

dorm-core's ``tests/test_docs.py`` runs every page, but skips these without
``DORM_TEST_POSTGRES_DSN``; here they always run (CI runs this suite), each on a fresh
database of the session's server, through the same runner (``run_postgres_page``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dorm.db import hooks, registry

ROOT = Path(__file__).resolve().parent.parent
TEST_DOCS = ROOT / "packages" / "dorm-core" / "tests" / "test_docs.py"


def _load_docs_runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dorm_core_docs_runner", TEST_DOCS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


docs = _load_docs_runner()
PAGES = [page for page in docs.PAGES if docs.requires_postgresql(page)]


def test_there_are_postgresql_pages() -> None:
    assert "postgresql-features.md" in {page.name for page in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_postgresql_page_examples_run(
    postgres: Any, page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = postgres.create_database("dorm_docs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    environ = dict(os.environ)
    modules = set(sys.modules)
    had_hooks = (hooks.has_sync(), hooks.has_async())
    docs.close_all()
    try:
        docs.run_postgres_page(page, tmp_path, dsn)
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
