"""The embedded engine runs the seed page for real: SQLite + sqlite-vec + all-MiniLM-L6-v2."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select, text, update
from sqlalchemy.orm import Session

from tidb_embed_orm import AutoEmbeddingVector, EmbeddingFailedError, EmbeddingUnavailableError, Vector
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing.seed import add_seed_rows, sample_model, seed_search

from .conftest import MINILM, SEED_QUERY, SEED_ROWS

Doc = sample_model(MINILM)
Base = Doc


def seed(engine) -> None:
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        add_seed_rows(session, Doc)


def top2(session) -> list[int]:
    return seed_search(session, Doc)


@pytest.mark.real_model
def test_seed_flow_with_the_real_model(embedded_engine):
    seed(embedded_engine)
    with Session(embedded_engine) as session:
        assert top2(session) == [1, 4]
        doc = session.get(Doc, 1)
        assert isinstance(doc.embedding, np.ndarray) and doc.embedding.dtype == np.float32
        assert doc.embedding.shape == (384,)
        assert np.linalg.norm(doc.embedding) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.real_model
def test_distances_in_select_and_where_match_numpy(embedded_engine):
    seed(embedded_engine)
    with Session(embedded_engine) as session:
        query_vector = embedded_engine.dialect.embedding_service.embed_one(MINILM, SEED_QUERY)
        rows = session.execute(
            select(Doc.id, Doc.embedding, Doc.embedding.cosine_distance(SEED_QUERY).label("d")).order_by(Doc.id)
        ).all()
        for _, vector, distance in rows:
            expected = 1 - vector @ query_vector / (np.linalg.norm(vector) * np.linalg.norm(query_vector))
            assert distance == pytest.approx(float(expected), abs=1e-5)
        near = session.scalars(select(Doc.id).where(Doc.embedding.cosine_distance(SEED_QUERY) < rows[0][2] + 1e-6))
        assert 1 in list(near)
        by_l2 = session.scalars(select(Doc.id).order_by(Doc.embedding.l2_distance(SEED_QUERY)).limit(2)).all()
        assert by_l2 == [1, 4]  # unit vectors: L2 order is cosine order


@pytest.mark.real_model
def test_persistence_across_engine_restarts(tmp_path):
    url = f"sqlite+tidb_embed:///{tmp_path / 'persist.db'}"
    first = create_engine(url)
    seed(first)
    first.dispose()
    second = create_engine(url)
    with Session(second) as session:
        assert top2(session) == [1, 4]
        assert session.get(Doc, 3).embedding.shape == (384,)
    second.dispose()


@pytest.mark.real_model
def test_null_and_empty_text(embedded_engine):
    Base.metadata.create_all(embedded_engine)
    with Session(embedded_engine) as session:
        session.add_all([Doc(id=1, content=None), Doc(id=2, content="")])
        session.commit()
        assert session.get(Doc, 1).embedding is None
        assert session.get(Doc, 2).embedding.shape == (384,)
        distances = session.execute(select(Doc.id, Doc.embedding.cosine_distance("x")).order_by(Doc.id)).all()
        assert distances[0][1] is None and distances[1][1] is not None


@pytest.mark.real_model
def test_update_re_embeds_and_delete_removes(embedded_engine):
    seed(embedded_engine)
    with Session(embedded_engine) as session:
        doc = session.get(Doc, 2)
        before = doc.embedding.copy()
        doc.content = "Python: a programming language loved by beginners."
        session.commit()
        assert not np.allclose(before, session.get(Doc, 2).embedding)
        assert top2(session)[0] in (1, 2, 4)
        session.execute(update(Doc).where(Doc.id == 3).values(content=None))
        assert session.get(Doc, 3).embedding is None
        session.delete(session.get(Doc, 1))
        session.commit()
        assert 1 not in top2(session)


@pytest.mark.real_model
def test_core_insert_executemany_and_raw_sql_fill_the_column(embedded_engine):
    Base.metadata.create_all(embedded_engine)
    with embedded_engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": i, "content": c} for i, c in SEED_ROWS[:3]])
        conn.execute(insert(Doc).values(id=4, content=SEED_ROWS[3][1]))
        conn.exec_driver_sql("INSERT INTO sample (id, content) VALUES (?, ?)", (5, SEED_ROWS[4][1]))
        conn.execute(text("INSERT INTO sample (id, content) VALUES (:id, :c)"), [{"id": 6, "c": "Kotlin on Android"}])
    with Session(embedded_engine) as session:
        assert all(d.embedding is not None for d in session.scalars(select(Doc)))
        assert top2(session) == [1, 4]


def test_a_statement_embeds_in_batches(tmp_path):
    counting = HashingTestEmbedder(384)
    engine = create_engine(
        f"sqlite+tidb_embed:///{tmp_path / 'batch.db'}", embedders={MINILM: counting}, embedding_batch_size=100
    )
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Doc(id=i, content=f"document number {i}") for i in range(1000)])
        session.commit()
        assert counting.calls == math.ceil(1000 / 100)
        assert counting.texts_embedded == 1000
        session.scalars(select(Doc.id).order_by(Doc.embedding.cosine_distance("query text")).limit(5)).all()
        assert counting.texts_embedded == 1001  # the query text once, not once per row
    with engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": 2000 + i, "content": f"core row {i}"} for i in range(250)])
    assert counting.calls == 10 + 1 + 3
    engine.dispose()


def test_the_cache_is_bounded(tmp_path):
    counting = HashingTestEmbedder(384)
    engine = create_engine("sqlite+tidb_embed://", embedders={MINILM: counting}, embedding_cache_size=10)
    service = engine.dialect.embedding_service
    service.embed(MINILM, [f"t{i}" for i in range(50)])
    assert len(service._cache) == 10
    service.embed(MINILM, ["t49"])
    assert counting.texts_embedded == 50  # recent text served from the cache


class Boom:
    def embed(self, texts):
        raise ConnectionError("provider is down")


def test_failing_embedder_rolls_back_and_says_why(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'fail.db'}", embedders={MINILM: HashingTestEmbedder(384)})
    seed(engine)
    engine.dispose()
    broken = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'fail.db'}", embedders={MINILM: Boom()})
    with Session(broken) as session:
        session.add_all([Doc(id=10, content="new one"), Doc(id=11, content="another")])
        with pytest.raises(EmbeddingFailedError, match=r"embedding 2 texts with .*all-MiniLM-L6-v2.* failed: provider is down"):
            session.commit()
    with broken.connect() as conn:
        with pytest.raises(EmbeddingFailedError, match="provider is down"):
            conn.exec_driver_sql("INSERT INTO sample (id, content) VALUES (12, 'raw sql row')")
        conn.rollback()
        assert conn.execute(select(Doc.id).order_by(Doc.id)).scalars().all() == [1, 2, 3, 4, 5]


def test_wrong_sized_embeddings_are_refused(tmp_path):
    engine = create_engine("sqlite+tidb_embed://", embedders={MINILM: HashingTestEmbedder(100)})
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Doc(id=1, content="x"))
        with pytest.raises(EmbeddingFailedError, match="returned 100-dimensional vectors, but the column is VECTOR.384."):
            session.commit()
        session.rollback()
        assert session.scalars(select(Doc)).all() == []


def test_a_model_that_cannot_be_served_names_the_ways_to_serve_it():
    metadata = MetaData()
    Table("t", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
          Column("v", AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="body")))
    engine = create_engine("sqlite+tidb_embed://")
    metadata.create_all(engine)  # declaring is fine; the first statement that embeds fails
    with engine.connect() as conn:
        with pytest.raises(EmbeddingUnavailableError, match=r"'huggingface/BAAI/bge-m3'.*register_local_model.*register_embedder"):
            conn.execute(metadata.tables["t"].insert().values(id=1, body="hello"))


def test_plain_vector_columns_round_trip_exactly(embedded_engine):
    metadata = MetaData()
    table = Table("vectors", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(4)))
    metadata.create_all(embedded_engine)
    values = np.array([[0.1, -2.5, 3e-38, 1e30], [1, 2, 3, 4]], dtype=np.float32)
    with embedded_engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "v": values[0]}, {"id": 2, "v": values[1].tolist()}])
        got = conn.execute(select(table.c.v).order_by(table.c.id)).scalars().all()
        assert got[0].tobytes() == values[0].tobytes() and got[1].dtype == np.float32
        nearest = conn.execute(select(table.c.id).order_by(table.c.v.l2_distance([1, 2, 3, 4.1])).limit(1)).scalar()
        assert nearest == 2


@pytest.mark.real_model
def test_tidb_functions_in_raw_sql(embedded_engine):
    with embedded_engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT VEC_DIMS(VEC_FROM_TEXT('[1,2,3]')), VEC_L2_NORM(VEC_FROM_TEXT('[3,4]')), "
            "VEC_AS_TEXT(VEC_FROM_TEXT('[0.5,-1]')), VEC_COSINE_DISTANCE('[1,0]', '[0,1]'), "
            "VEC_L2_DISTANCE('[0,0]', '[3,4]'), VEC_L1_DISTANCE('[0,0]', '[3,4]'), "
            "VEC_NEGATIVE_INNER_PRODUCT('[1,2]', '[3,4]'), VEC_COSINE_DISTANCE(NULL, '[1]')"
        ).one()
        assert tuple(row) == (3, 5.0, "[0.5,-1]", 1.0, 5.0, 7.0, -11.0, None)  # TiDB's text form
        vector = conn.exec_driver_sql(f"SELECT EMBED_TEXT('{MINILM}', 'hello')").scalar()
        assert len(vector) == 384 * 4


def test_long_embedding_work_reports_progress(tmp_path):
    reports = []
    engine = create_engine(
        f"sqlite+tidb_embed:///{tmp_path / 'progress.db'}",
        embedders={MINILM: HashingTestEmbedder(384)},
        embedding_batch_size=10,
        embedding_progress=lambda model, done, total: reports.append((model, done, total)),
    )
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": i, "content": f"text {i}"} for i in range(35)])
    assert reports == [(MINILM, 10, 35), (MINILM, 20, 35), (MINILM, 30, 35), (MINILM, 35, 35)]
    engine.dispose()


def test_a_statement_larger_than_the_cache_embeds_each_text_once_in_batches(tmp_path):
    counting = HashingTestEmbedder(384)
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'big.db'}", embedders={MINILM: counting},
                           embedding_cache_size=1000)
    Base.metadata.create_all(engine)
    texts = [f"document {i % 20_000}" for i in range(25_000)]  # 20,000 distinct, 5,000 repeated far apart
    with engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": i, "content": t} for i, t in enumerate(texts)])
    assert counting.texts_embedded == 20_000
    assert counting.calls == math.ceil(20_000 / 64)
    with engine.connect() as conn:
        stored = conn.execute(select(Doc.id, Doc.embedding).where(Doc.id.in_([3, 20_003]))).all()
    assert np.array_equal(stored[0][1], stored[1][1])  # the same text, the same vector
    assert len(engine.dialect.embedding_service._cache) <= 1000
    engine.dispose()


def test_a_multi_values_insert_embeds_in_batches(tmp_path):
    counting = HashingTestEmbedder(384)
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'mv.db'}", embedders={MINILM: counting})
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Doc).values([{"id": i, "content": f"row {i}"} for i in range(200)]))
        stored = conn.execute(select(Doc.embedding).where(Doc.id == 150)).scalar_one()
    assert counting.calls == math.ceil(200 / 64) and counting.texts_embedded == 200
    assert np.array_equal(stored, counting.embed(["row 150"])[0])
    engine.dispose()
