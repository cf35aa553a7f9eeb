"""The LangChain vector store as a RAG application uses it: Auto Embedding, filters, MMR, hybrid, retrievers."""

from __future__ import annotations

import asyncio
import contextlib
import re

import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from sqlalchemy import create_engine, event  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

from tidb_embed_orm.ext.langchain import TiDBVectorStore  # noqa: E402
from tidb_embed_orm.testing.tidb_standin import tidb_standin  # noqa: E402

from .conftest import MINILM, real_model_available  # noqa: E402

needs_model = pytest.mark.skipif(not real_model_available(), reason="needs the real all-MiniLM-L6-v2")

FAQ = [
    Document(id="refund", page_content="To get your money back, open the order and ask for a refund within 30 days.",
             metadata={"topic": "billing", "year": 2024}),
    Document(id="invoice", page_content="Invoices are emailed after each payment; download them from billing settings.",
             metadata={"topic": "billing", "year": 2023}),
    Document(id="password", page_content="Reset a forgotten password from the sign-in page.",
             metadata={"topic": "account", "year": 2024}),
    Document(id="shipping", page_content="Parcels to Europe arrive in three to five working days.",
             metadata={"topic": "shipping", "year": 2022}),
    Document(id="refund-2", page_content="Refunds go back to the card you paid with; your money arrives in a week.",
             metadata={"topic": "billing", "year": 2022}),
]


@pytest.fixture()
def store(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'rag.db'}")
    store = TiDBVectorStore(engine, "faq", model=MINILM, fulltext=True)
    store.add_documents(FAQ)
    yield store
    engine.dispose()


@needs_model
def test_the_database_embeds_and_distances_come_with_the_documents(store):
    found = store.similarity_search_with_score("how do I get my money back", k=3)
    assert found[0][0].id in ("refund", "refund-2")
    assert [d for _, d in found] == sorted(d for _, d in found) and 0 <= found[0][1] < 1
    assert found[0][0].metadata["topic"] == "billing"
    relevance = store.similarity_search_with_relevance_scores("how do I get my money back", k=1)
    assert relevance[0][1] == pytest.approx(1 - found[0][1])
    assert store.similarity_search_with_score("how do I get my money back", k=5, max_distance=found[1][1]) == found[:2]


@needs_model
def test_metadata_filters(store):
    def ids(filter):
        return {d.id for d in store.similarity_search("money", k=10, filter=filter)}

    assert ids({"topic": "billing"}) == {"refund", "invoice", "refund-2"}
    assert ids({"topic": "billing", "year": {"$gte": 2024}}) == {"refund"}
    assert ids({"year": {"$in": [2022, 2023]}}) == {"invoice", "shipping", "refund-2"}
    assert ids({"$or": [{"topic": "account"}, {"year": {"$lt": 2023}}]}) == {"password", "shipping", "refund-2"}
    assert ids({"topic": {"$ne": "billing"}, "year": {"$nin": [2022]}}) == {"password"}
    with pytest.raises(ValueError, match="operators are"):
        ids({"year": {"$between": [1, 2]}})
    with pytest.raises(ValueError, match="a field name is letters, digits and _"):
        ids({"year') OR 1=1 --": 1})


@needs_model
def test_mmr_prefers_diverse_documents(store):
    similar = [d.id for d in store.similarity_search("refund money back", k=2)]
    diverse = [d.id for d in store.max_marginal_relevance_search("refund money back", k=2, fetch_k=5, lambda_mult=0.1)]
    assert set(similar) == {"refund", "refund-2"}  # the two refund answers say nearly the same
    assert diverse[0] == similar[0] and diverse[1] != similar[1]


@needs_model
def test_hybrid_search_and_the_retriever_search_types(store):
    hybrid = store.hybrid_search_with_score("refund", k=3)
    assert {d.id for d, _ in hybrid[:2]} == {"refund", "refund-2"}  # both hold the word and mean it
    assert [s for _, s in hybrid] == sorted((s for _, s in hybrid), reverse=True)
    retriever = store.as_retriever(search_type="hybrid", search_kwargs={"k": 2, "filter": {"year": 2022}})
    found = retriever.invoke("refund")
    assert found[0].id == "refund-2" and {d.id for d in found} <= {"refund-2", "shipping"}  # only 2022's documents
    assert [d.id for d in store.as_retriever(search_kwargs={"k": 1}).invoke("forgot my password")] == ["password"]
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 5})
    assert len(mmr.invoke("money")) == 2
    with pytest.raises(ValueError, match="not allowed"):
        store.as_retriever(search_type="keyword")


@needs_model
def test_async_variants(store):
    async def run():
        await store.aadd_documents([Document(id="gift", page_content="Gift cards never expire.", metadata={"topic": "gifts"})])
        found = await store.asimilarity_search("do gift cards expire", k=1)
        hybrid = await store.as_retriever(search_type="hybrid", search_kwargs={"k": 1}).ainvoke("gift cards")
        got = await store.aget_by_ids(["gift", "nope"])
        await store.adelete(["gift"])
        return found, hybrid, got, await store.aget_by_ids(["gift"])

    found, hybrid, got, after = asyncio.run(run())
    assert found[0].id == hybrid[0].id == "gift" and [d.id for d in got] == ["gift"] and after == []


def test_client_vectors_from_a_langchain_embeddings(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'client.db'}")
    embedding = DeterministicFakeEmbedding(size=16)
    store = TiDBVectorStore.from_texts(["alpha", "beta", "gamma"], embedding, [{"n": 1}, {"n": 2}, {"n": 3}],
                                       ids=["a", "b", "c"], engine=engine, table_name="client_docs")
    assert [d.id for d in store.similarity_search("beta", k=1)] == ["b"]
    assert [d.id for d in store.similarity_search_by_vector(embedding.embed_query("gamma"), k=1)] == ["c"]
    assert [d.id for d in store.similarity_search("beta", k=3, filter={"n": {"$gt": 1}})][0] == "b"
    with pytest.raises(ValueError, match="hybrid search needs the full-text index"):
        store.hybrid_search("beta")
    engine.dispose()


def test_configuration_errors(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'e.db'}")
    with pytest.raises(ValueError, match="give model='provider/name' for Auto Embedding"):
        TiDBVectorStore(engine, "t")
    with pytest.raises(ValueError, match="not both"):
        TiDBVectorStore(engine, "t", model=MINILM, embedding=DeterministicFakeEmbedding(size=4))
    with pytest.raises(ValueError, match="table_name is letters, digits and _"):
        TiDBVectorStore(engine, "t; DROP TABLE x", embedding=DeterministicFakeEmbedding(size=4))
    engine.dispose()


def test_on_tidb_the_store_sends_texts_and_searches_in_the_index_friendly_form(mariadb):
    """Over a real MySQL-protocol server (MariaDB standing in for TiDB): what the store sends."""
    engine = create_engine(mariadb["url"])
    sent: list[tuple[str, object]] = []  # what our code sends, before the stand-in rewrites TiDB's words
    event.listen(engine, "before_cursor_execute", lambda conn, cur, stmt, params, ctx, many: sent.append((stmt, params)))
    tidb_standin(engine)
    store = TiDBVectorStore(engine, "lc_tidb", model="tidbcloud_free/amazon/titan-embed-text-v2")
    try:
        create = next(s for s, _ in sent if s.lstrip().startswith("CREATE TABLE"))
        assert "EMBED_TEXT('tidbcloud_free/amazon/titan-embed-text-v2', `content`)" in create
        store.add_texts(["how to get a refund"], [{"topic": "billing"}], ids=["r"])
        insert = next(s for s, _ in sent if s.startswith("INSERT"))
        assert "embedding" not in insert  # the database embeds: no vector leaves the client
        sent.clear()
        # MariaDB has VEC_EMBED_COSINE_DISTANCE only when another test made its stand-in function first:
        # the statement sent is what counts here, not whether MariaDB could run it.
        with contextlib.suppress(DBAPIError):
            store.similarity_search("money back", k=2, filter={"topic": "billing"})
        statement, params = sent[-1]
        inner = re.search(r"INNER JOIN \(SELECT lc_tidb.id AS id, VEC_EMBED_COSINE_DISTANCE\(lc_tidb.embedding, %\(\w+\)s\) "
                          r"AS tidb_embed_distance \nFROM lc_tidb ORDER BY tidb_embed_distance \n LIMIT %\(\w+\)s\)", statement)
        assert inner, statement  # the index serves the inner KNN; the metadata filter is outside it
        assert "JSON_UNQUOTE(JSON_EXTRACT(lc_tidb.metadata" in statement[inner.end():]
        assert {"money back", "billing"} <= set(params.values())  # bound, never pasted
    finally:
        store.store.drop()
        engine.dispose()


@needs_model
def test_filters_on_bools_and_on_keys_in_any_script(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'rag.db'}")
    store = TiDBVectorStore(engine, "notes", model=MINILM)
    store.add_documents([
        Document(id="tokyo", page_content="Sushi in Tokyo 🍣", metadata={"都市": "東京", "public": True, "stars": 5}),
        Document(id="paris", page_content="Croissants in Paris", metadata={"都市": "Paris", "public": False, "stars": 4}),
    ])

    def ids(filter):
        return {d.id for d in store.similarity_search("food", k=10, filter=filter)}

    assert ids({"public": True}) == {"tokyo"}
    assert ids({"public": {"$ne": True}}) == {"paris"}
    assert ids({"$or": [{"public": False}, {"stars": {"$gt": 4}}]}) == {"tokyo", "paris"}
    assert ids({"都市": "東京"}) == {"tokyo"}
    assert ids({"città": {"$in": ["Roma"]}}) == set()
    with pytest.raises(ValueError, match="a bool is compared with \\$eq or \\$ne only"):
        ids({"public": {"$gt": False}})
    for unsafe in ('a"b', "a.b", "a[0]", "1a", "a b"):
        with pytest.raises(ValueError, match="a field name is letters, digits and _"):
            ids({unsafe: 1})
    engine.dispose()


def test_metadata_that_is_not_json_is_refused_before_anything_is_written(tmp_path):
    import datetime
    import uuid

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'rag.db'}")
    store = TiDBVectorStore(engine, "notes", model=MINILM)
    store.add_texts(["kept"], [{"n": 1}], ids=["kept"])
    cases = [({"when": datetime.date(2026, 12, 4)}, r"key 'when': date .* is not JSON .*isoformat"),
             ({"ref": uuid.UUID(int=7)}, r"key 'ref': UUID .* is not JSON .*str\(\)"),
             ({"score": float("nan")}, r"key 'score': float nan is not JSON"),
             ({"deep": {"limit": float("inf")}}, r"key 'deep': dict .* is not JSON")]
    for metadata, message in cases:
        with pytest.raises(ValueError, match=message):
            store.add_texts(["fine", "bad"], [{"ok": True}, metadata], ids=["fine", "bad"])
    assert {d.id for d in store.similarity_search("anything", k=10)} == {"kept"}  # nothing of the refused calls
    engine.dispose()
