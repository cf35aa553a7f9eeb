"""LangChain's own standard vector-store test suite (sync and async) on the embedded engine."""

from __future__ import annotations

import itertools

import pytest

pytest.importorskip("langchain_core")
langchain_tests = pytest.importorskip("langchain_tests.integration_tests")

from sqlalchemy import create_engine  # noqa: E402

from tidb_embed_orm.ext.langchain import TiDBVectorStore  # noqa: E402

from .conftest import MINILM, real_model_available  # noqa: E402

_tables = itertools.count()


class TestClientVectors(langchain_tests.VectorStoreIntegrationTests):
    """LangChain's embeddings (its deterministic fake) computed on the client, stored in a Vector column."""

    @pytest.fixture()
    def vectorstore(self, tmp_path):
        engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'lc.db'}")
        store = TiDBVectorStore(engine, f"lc_{next(_tables)}", embedding=self.get_embeddings(), fulltext=True)
        try:
            yield store
        finally:
            store.delete()  # the suite checks that the store is empty again
            engine.dispose()


@pytest.mark.real_model
@pytest.mark.skipif(not real_model_available(), reason="needs the real all-MiniLM-L6-v2")
class TestAutoEmbedding(langchain_tests.VectorStoreIntegrationTests):
    """No LangChain embeddings at all: the engine embeds texts and queries (Auto Embedding)."""

    @pytest.fixture()
    def vectorstore(self, tmp_path):
        engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'lc.db'}")
        store = TiDBVectorStore(engine, f"lc_auto_{next(_tables)}", model=MINILM, fulltext=True)
        try:
            yield store
        finally:
            store.delete()
            engine.dispose()
