"""Vector-index searches on the embedded engine give exactly the rows of a full scan, always fresh."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, delete, insert, select, update

from tidb_embed_orm import AutoEmbeddingVector, Vector, VectorIndex
from tidb_embed_orm.embedders import HashingTestEmbedder

DIM = 16


def tables(metric: str = "cosine"):
    metadata = MetaData()
    indexed = Table("indexed", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(DIM)),
                    VectorIndex("idx_v", "v", metric=metric))
    plain = Table("plain", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(DIM)))
    return metadata, indexed, plain


def top(conn, table, q, metric="cosine", k=5):
    distance = getattr(table.c.v, f"{metric}_distance")(q)
    return conn.execute(select(table.c.id).order_by(distance).limit(k)).scalars().all()


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'knn.db'}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_indexed_search_equals_the_full_scan(engine, metric):
    metadata, indexed, plain = tables(metric)
    metadata.create_all(engine)
    rng = np.random.default_rng(1)
    rows = [{"id": i, "v": rng.standard_normal(DIM)} for i in range(500)]
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows)
        conn.execute(plain.insert(), rows)
        conn.execute(indexed.insert().values(id=999, v=None))
        for q in rng.standard_normal((20, DIM)):
            assert top(conn, indexed, q, metric) == top(conn, plain, q, metric)


def test_the_index_is_used_only_for_its_own_shape(engine):
    metadata, indexed, _ = tables()
    q = np.ones(DIM)
    knn_sql = str(select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)).limit(3).compile(engine))
    assert "TIDB_EMBED_KNN" in knn_sql
    for stmt in [
        select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)),  # no LIMIT
        select(indexed.c.id).where(indexed.c.id > 3).order_by(indexed.c.v.cosine_distance(q)).limit(3),
        select(indexed.c.id).order_by(indexed.c.v.l2_distance(q)).limit(3),  # another metric
        select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)).limit(3).offset(2),
    ]:
        assert "TIDB_EMBED_KNN" not in str(stmt.compile(engine))


def test_writes_rollbacks_and_other_connections_are_seen(engine, tmp_path):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(2)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), [{"id": i, "v": rng.standard_normal(DIM)} for i in range(100)])
    with engine.connect() as conn:
        assert 1000 not in top(conn, indexed, q)
        conn.execute(insert(indexed).values(id=1000, v=q))
        assert top(conn, indexed, q)[0] == 1000
        conn.rollback()
        assert 1000 not in top(conn, indexed, q)
        conn.execute(insert(indexed).values(id=1001, v=-q))
        conn.execute(update(indexed).where(indexed.c.id == 1001).values(v=q * 2))
        assert top(conn, indexed, q)[0] == 1001
        conn.execute(delete(indexed).where(indexed.c.id == 1001))
        assert 1001 not in top(conn, indexed, q)
        conn.commit()
        other = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'knn.db'}")
        with other.begin() as other_conn:  # another engine, as another process would
            other_conn.exec_driver_sql("INSERT INTO indexed (id, v) VALUES (?, ?)", (2000, (q * 3).astype("<f4").tobytes()))
        other.dispose()
        assert top(conn, indexed, q)[0] == 2000


def test_text_search_on_an_indexed_auto_embedding_column(tmp_path):
    model = "huggingface/BAAI/bge-m3"
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'auto.db'}", embedders={model: HashingTestEmbedder(1024)})
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                 Column("body_vec", AutoEmbeddingVector(model, source="body")), VectorIndex("idx_body", "body_vec"))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(docs.insert(), [{"id": i, "body": f"text {i}"} for i in range(50)])
        stmt = select(docs.c.id).order_by(docs.c.body_vec.cosine_distance("text 17")).limit(3)
        assert "TIDB_EMBED_KNN" in str(stmt.compile(engine))
        assert conn.execute(stmt).scalars().first() == 17  # the same text embeds to the same vector
    engine.dispose()
