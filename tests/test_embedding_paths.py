"""One column, one set of vectors: every path embeds stored text with the stored options and a query
with the search options (TiDB's ``k@search`` rule), whatever route the text takes.

Options that differ give different vectors here (the test embedder hashes them with the text), so a
path that hands a provider the wrong options stores or searches with visibly different vectors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, bindparam, create_engine, insert, select, update
from sqlalchemy.orm import Session

from tidb_embed_orm import (
    AutoEmbeddingVector,
    FulltextIndex,
    VectorIndex,
    fts_match,
    hybrid_search,
    nearest,
    use_client_embedding,
)
from tidb_embed_orm.embedders import HashingTestEmbedder

from .test_alembic_sqlite_rebuild import run_migration

MODEL = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
OPTIONS = {"mode": "doc", "mode@search": "query"}
STORED, SEARCH = {"mode": "doc"}, {"mode": "query"}


class Recording(HashingTestEmbedder):
    """The test embedder, noting the options of every text it embeds."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.seen: list[tuple[str, dict | None]] = []

    def embed(self, texts, options=None):
        self.seen.extend((text, dict(options) if options else None) for text in texts)
        return super().embed(texts, options)


def expected(text: str, options: dict | None) -> np.ndarray:
    return HashingTestEmbedder(384).embed([text], options)[0]


def docs_table(metadata: MetaData, *, indexed: bool, options=OPTIONS) -> Table:
    extra = [VectorIndex("idx_docs_embedding", "embedding")] if indexed else []
    return Table("docs", metadata, Column("id", Integer, primary_key=True), Column("content", Text),
                 Column("embedding", AutoEmbeddingVector(MODEL, source="content", options=options)), *extra)


TEXTS = [f"document number {i} about {'cats' if i % 3 else 'dogs'}" for i in range(50)]


@pytest.mark.parametrize("indexed", [False, True], ids=["scan", "vector index"])
def test_a_query_is_embedded_with_the_search_options_with_or_without_a_vector_index(tmp_path, indexed):
    recorder = Recording(384)
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'q.db'}", embedders={MODEL: recorder})
    docs = docs_table(MetaData(), indexed=indexed)
    docs.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": i, "content": t} for i, t in enumerate(TEXTS)])
    query = "which document talks about dogs"
    with Session(engine) as session:
        top = session.scalars(select(docs.c.id).order_by(docs.c.embedding.cosine_distance(query)).limit(3)).all()
        near = [row.id for row in session.execute(nearest(docs, docs.c.embedding.cosine_distance(query), k=3))]
    asked = [options_ for text, options_ in recorder.seen if text == query]
    assert asked and all(options_ == SEARCH for options_ in asked)
    # The exact answer, computed by hand from the vectors each side must have.
    q = expected(query, SEARCH)
    distances = [1 - float(np.dot(expected(t, STORED), q)) for t in TEXTS]
    assert top == sorted(range(len(TEXTS)), key=distances.__getitem__)[:3]
    assert near == top
    engine.dispose()


def test_hybrid_search_embeds_its_query_with_the_search_options(tmp_path):
    recorder = Recording(384)
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'h.db'}", embedders={MODEL: recorder})
    docs = docs_table(MetaData(), indexed=True)
    FulltextIndex("ft_docs_content", docs.c.content)
    docs.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": i, "content": t} for i, t in enumerate(TEXTS)])
    with Session(engine) as session:
        statement = hybrid_search(docs, vector=docs.c.embedding.cosine_distance("dogs"),
                                  text=fts_match(docs.c.content, "dogs"), limit=3)
        assert len(session.execute(statement).all()) == 3
    assert [options_ for text, options_ in recorder.seen if text == "dogs"] == [SEARCH]
    engine.dispose()


def stored_vectors(engine, table="docs", column="embedding") -> dict[int, np.ndarray]:
    with engine.connect() as conn:
        rows = conn.execute(select(Table(table, MetaData(), autoload_with=conn))).mappings().all()
    return {row["id"]: row[column] for row in rows}


@pytest.mark.parametrize("client", [False, True], ids=["server", "client mode"])
def test_insert_update_and_executemany_store_the_same_vectors(tmp_path, client):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'w.db'}", embedders={MODEL: Recording(384)})
    if client:
        use_client_embedding(engine)
    docs = docs_table(MetaData(), indexed=False)
    docs.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": 0, "content": TEXTS[0]}])  # one row
        conn.execute(insert(docs).values(content=bindparam("c")), [{"id": i, "c": TEXTS[i]} for i in (1, 2, 3)])
        conn.execute(update(docs).where(docs.c.id == 3).values(content=TEXTS[4]))
    with Session(engine) as session:
        session.execute(insert(docs), [{"id": 5, "content": TEXTS[5]}])
        session.commit()
    texts = {0: TEXTS[0], 1: TEXTS[1], 2: TEXTS[2], 3: TEXTS[4], 5: TEXTS[5]}
    vectors = stored_vectors(engine)
    for key, text in texts.items():
        np.testing.assert_array_equal(vectors[key], expected(text, STORED), err_msg=f"row {key}")
    engine.dispose()


def test_executemany_through_a_custom_bind_name_embeds_in_batches(tmp_path):
    recorder = Recording(384)
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'b.db'}", embedders={MODEL: recorder})
    docs = docs_table(MetaData(), indexed=False, options=None)
    docs.metadata.create_all(engine)
    before = recorder.calls
    with engine.begin() as conn:
        conn.execute(insert(docs).values(content=bindparam("c")), [{"id": i, "c": f"text {i}"} for i in range(100)])
    assert recorder.calls - before <= 2
    engine.dispose()


ALTER_WITH_OPTIONS = """
op.alter_auto_embedding("docs", "embedding", tidb_embed_orm.AutoEmbeddingVector(
    "huggingface/sentence-transformers/all-MiniLM-L6-v2", source="content",
    options={"mode": "doc2", "mode@search": "query2"}))
"""


@pytest.mark.parametrize("client", [False, True], ids=["server", "client mode"])
def test_a_rebuild_stores_the_vectors_an_insert_would_and_embeds_in_batches(tmp_path, client):
    recorder = Recording(384)
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'r.db'}", embedders={MODEL: recorder})
    if client:
        use_client_embedding(engine)
    docs = docs_table(MetaData(), indexed=False)
    docs.metadata.create_all(engine)
    rows = [{"id": i, "content": f"row {i} of the rebuilt table"} for i in range(300)]
    with engine.begin() as conn:
        conn.execute(insert(docs), rows)
    calls = recorder.calls
    run_migration(tmp_path, engine, ALTER_WITH_OPTIONS)
    assert recorder.calls - calls <= 2 * math.ceil(len(rows) / 64)  # batched, not one text per call
    assert {frozenset(o.items()) for _, o in recorder.seen[-len(rows):]} == {frozenset({"mode": "doc2"}.items())}
    vectors = stored_vectors(engine)
    for row in rows:
        np.testing.assert_array_equal(vectors[row["id"]], expected(row["content"], {"mode": "doc2"}))
    engine.dispose()
