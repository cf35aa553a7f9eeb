"""Against a live TiDB Cloud Starter cluster: runs only when TIDB_URL is set (skipped otherwise).

TIDB_URL=mysql+pymysql://user:pass@host:4000/test?ssl_verify_cert=true&ssl_verify_identity=true
Uses the free TiDB-hosted titan model (no key); set TIDB_HF_API_KEY to also run the seed's
HuggingFace model with your key.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, Table, create_engine
from sqlalchemy.orm import Session

from tidb_embed_orm import AutoEmbeddingVector, configure_provider
from tidb_embed_orm.testing.seed import add_seed_rows, sample_model, seed_search

pytestmark = pytest.mark.skipif(not os.environ.get("TIDB_URL"), reason="needs TIDB_URL (a TiDB Cloud Starter cluster)")

MODELS = ["tidbcloud_free/amazon/titan-embed-text-v2"]
if os.environ.get("TIDB_HF_API_KEY"):
    MODELS.append("huggingface/sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture
def engine():
    engine = create_engine(os.environ["TIDB_URL"])
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql("SELECT EMBED_TEXT('tidbcloud_free/amazon/titan-embed-text-v2', 'probe')")
        except Exception:
            pytest.skip("this cluster has no EMBED_TEXT (Auto Embedding runs on TiDB Cloud Starter)")
    if os.environ.get("TIDB_HF_API_KEY"):
        configure_provider(engine, "huggingface", os.environ["TIDB_HF_API_KEY"])
    yield engine
    engine.dispose()


@pytest.mark.parametrize("model", MODELS)
def test_seed_flow_on_tidb(engine, model):
    Sample = sample_model(model, table="tidb_embed_orm_live_sample")
    Sample.metadata.drop_all(engine)
    Sample.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            add_seed_rows(session, Sample)
            assert seed_search(session, Sample) == [1, 4]
        reflected = Table("tidb_embed_orm_live_sample", MetaData(), autoload_with=engine)
        assert isinstance(reflected.c.embedding.type, AutoEmbeddingVector)
        assert reflected.c.embedding.type.model == model
    finally:
        Sample.metadata.drop_all(engine)


def test_full_text_and_hybrid_search_on_tidb(engine):
    """TiDB's "Hybrid Search with SQL" page through the ORM (full-text search: Starter, some AWS regions)."""
    import numpy as np
    from sqlalchemy import Integer, select
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    from tidb_embed_orm import STANDARD, FulltextIndex, SearchableText, hybrid_search
    from tidb_embed_orm.alembic.fulltext import reflect_fulltext_indexes

    class Base(DeclarativeBase):
        pass

    class Doc(Base):
        __tablename__ = "tidb_embed_orm_live_docs"
        __table_args__ = (FulltextIndex("ft_content", "content", parser=STANDARD),)
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        content: Mapped[str] = mapped_column(SearchableText)
        content_vector: Mapped[np.ndarray] = mapped_column(
            AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="content"), deferred=True)

    Base.metadata.drop_all(engine)
    try:
        Base.metadata.create_all(engine)
    except DBAPIError as exc:
        pytest.skip(f"this cluster has no full-text search: {exc.orig}")
    rows = ["TiDB error 8200 means a vector index cannot be added to a partitioned table.",
            "Store agent memory in one table with a vector index and transactions.",
            "Solar panels convert sunlight into renewable energy.",
            "Use EXPLAIN to check whether a query uses the vector index.",
            "Partitioning a table by tenant lets the optimizer prune partitions.",
            "A cat sat on the warm windowsill all afternoon."]
    try:
        with Session(engine) as session:
            session.add_all([Doc(id=i, content=c) for i, c in enumerate(rows, start=1)])
            session.commit()
            match = Doc.content.fts_match("error 8200")
            assert session.scalars(select(Doc.id).where(match).order_by(match.desc()).limit(3)).all() == [1]
            q = "vector index error 8200 partitioned table"
            top = session.execute(hybrid_search(Doc, vector=Doc.content_vector.cosine_distance(q),
                                                text=Doc.content.fts_match(q), limit=3)).first()
            assert top.Doc.id == 1 and (top.vector_rank, top.fulltext_rank) == (1, 1)
        with engine.connect() as conn:
            assert reflect_fulltext_indexes(conn, "tidb_embed_orm_live_docs") == {"ft_content": (("content",), STANDARD)}
    finally:
        Base.metadata.drop_all(engine)


def test_langchain_store_with_auto_embedding_and_a_threshold(engine):
    """The LangChain store on TiDB: the database embeds; the filter and threshold sit outside the index's KNN."""
    pytest.importorskip("langchain_core")
    from tidb_embed_orm.ext.langchain import TiDBVectorStore

    store = TiDBVectorStore(engine, "lc_live_docs", model="tidbcloud_free/amazon/titan-embed-text-v2")
    try:
        store.add_texts(["Refunds go back to your card within five days.", "Reset your password from the sign-in page."],
                        [{"topic": "billing"}, {"topic": "account"}], ids=["refund", "password"])
        found = store.similarity_search_with_score("how do I get my money back", k=2)
        assert found[0][0].id == "refund" and found[0][1] < found[1][1]
        near = store.similarity_search_with_score("how do I get my money back", k=2, max_distance=found[0][1] + 1e-6)
        assert [d.id for d, _ in near] == ["refund"]
        assert [d.id for d in store.similarity_search("money", k=2, filter={"topic": "account"})] == ["password"]
    finally:
        store.store.drop()
