"""The LlamaIndex vector store, driven through a VectorStoreIndex on the embedded engine (local model, no network)."""

from __future__ import annotations

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.embeddings import BaseEmbedding, MockEmbedding  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from sqlalchemy import create_engine  # noqa: E402

from tidb_embed_orm.ext.llamaindex import TiDBVectorStore  # noqa: E402

from .conftest import MINILM, real_model_available  # noqa: E402

pytestmark = pytest.mark.skipif(not real_model_available(), reason="needs the real all-MiniLM-L6-v2")

DOCS = [
    Document(text="To get your money back, ask for a refund within 30 days of the order.", id_="refund",
             metadata={"topic": "billing", "year": 2024}),
    Document(text="Invoices are emailed after each payment.", id_="invoice", metadata={"topic": "billing", "year": 2023}),
    Document(text="Reset a forgotten password from the sign-in page.", id_="password",
             metadata={"topic": "account", "year": 2024}),
    Document(text="Parcels to Europe arrive in three to five working days.", id_="shipping",
             metadata={"topic": "shipping", "year": 2022}),
]


class LocalMiniLM(BaseEmbedding):
    """LlamaIndex embeddings from this library's local all-MiniLM-L6-v2 (files on this machine)."""

    def _vector(self, text: str) -> list[float]:
        from tidb_embed_orm.embedders.local import find_local_model
        from tidb_embed_orm.embedders.local_loading import load_local_model

        model = load_local_model(find_local_model("sentence-transformers/all-MiniLM-L6-v2", {}))
        return model.embed([text])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)


@pytest.fixture(params=["client", "auto"])
def index(request, tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'li.db'}")
    if request.param == "client":  # LlamaIndex's embedding model computes the vectors
        store = TiDBVectorStore(engine, "nodes", dimensions=384, fulltext=True)
        embed_model: BaseEmbedding = LocalMiniLM()
    else:  # the database embeds; LlamaIndex's embeddings are not used
        store = TiDBVectorStore(engine, "nodes", model=MINILM, fulltext=True)
        embed_model = MockEmbedding(embed_dim=1)
    index = VectorStoreIndex.from_documents(DOCS, storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=embed_model)
    yield index
    engine.dispose()


def test_a_retriever_finds_the_nearest_node_with_its_metadata(index):
    found = index.as_retriever(similarity_top_k=2).retrieve("how do I get my money back")
    assert found[0].node.ref_doc_id == "refund" and found[0].node.metadata["topic"] == "billing"
    assert "refund within 30 days" in found[0].node.get_content()
    assert 0 < found[0].score <= 1 and found[0].score >= found[1].score


def test_metadata_filters(index):
    def docs(filters, query="money"):
        return {n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=10, filters=filters).retrieve(query)}

    assert docs(MetadataFilters(filters=[MetadataFilter(key="topic", value="billing")])) == {"refund", "invoice"}
    assert docs(MetadataFilters(filters=[MetadataFilter(key="year", value=2024, operator=FilterOperator.GTE),
                                         MetadataFilter(key="topic", value="account", operator=FilterOperator.NE)])) == {"refund"}
    assert docs(MetadataFilters(filters=[MetadataFilter(key="topic", value="shipping"),
                                         MetadataFilter(key="year", value=2023)], condition=FilterCondition.OR)) == {"shipping", "invoice"}
    assert docs(MetadataFilters(filters=[MetadataFilter(key="year", value=[2022, 2023], operator=FilterOperator.IN)])) == {"shipping", "invoice"}
    with pytest.raises(ValueError, match="operator 'text_match' is not supported"):
        docs(MetadataFilters(filters=[MetadataFilter(key="topic", value="bill", operator=FilterOperator.TEXT_MATCH)]))


def test_hybrid_text_and_mmr_modes(index):
    hybrid = index.as_retriever(similarity_top_k=2, vector_store_query_mode="hybrid").retrieve("refund")
    assert hybrid[0].node.ref_doc_id == "refund" and hybrid[0].score > 0
    store = index.vector_store
    text = store.query(VectorStoreQuery(query_str="password", similarity_top_k=3, mode=VectorStoreQueryMode.TEXT_SEARCH))
    assert [n.ref_doc_id for n in text.nodes] == ["password"]
    mmr = index.as_retriever(similarity_top_k=2, vector_store_query_mode="mmr",
                             vector_store_kwargs={"mmr_threshold": 0.2}).retrieve("money refund invoice")
    assert len(mmr) == 2 and len({n.node.ref_doc_id for n in mmr}) == 2


def test_delete_and_get_nodes(index):
    store = index.vector_store
    (refund_node,) = store.get_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="doc_id", value="refund")]))
    assert store.get_nodes(node_ids=[refund_node.node_id, "missing"])[0].node_id == refund_node.node_id
    index.delete_ref_doc("refund")
    assert store.get_nodes(node_ids=[refund_node.node_id]) == []
    found = index.as_retriever(similarity_top_k=1).retrieve("how do I get my money back")
    assert found[0].node.ref_doc_id != "refund"
    store.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="topic", value="billing")]))
    assert {n.ref_doc_id for n in store.get_nodes()} == {"password", "shipping"}
    store.clear()
    assert store.get_nodes() == []
