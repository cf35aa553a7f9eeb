"""Vector indexes compile to TiDB's HNSW DDL and bring the TiFlash replica they need."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text
from sqlalchemy.schema import CreateIndex, DropIndex

from tidb_embed_orm import AutoEmbeddingVector, SetTiFlashReplica, Vector, VectorIndex


def table_with(*indexes):
    return Table(
        "docs", MetaData(),
        Column("id", Integer, primary_key=True),
        Column("content", Text),
        Column("embedding", AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content")),
        Column("v", Vector(3)),
        *indexes,
    )


@pytest.mark.parametrize("metric, function", [("cosine", "VEC_COSINE_DISTANCE"), ("l2", "VEC_L2_DISTANCE")])
def test_create_vector_index(mysql_dialect, metric, function):
    table = table_with(VectorIndex("idx_embedding", "embedding", metric=metric))
    index = next(iter(table.indexes))
    assert str(CreateIndex(index).compile(dialect=mysql_dialect)) == (
        f"CREATE VECTOR INDEX idx_embedding ON docs (({function}(embedding))) USING HNSW"
    )
    assert str(DropIndex(index).compile(dialect=mysql_dialect)).strip() == "DROP INDEX idx_embedding ON docs"


def test_index_on_a_column_object(mysql_dialect):
    table = table_with()
    index = VectorIndex("idx_v", table.c.v, metric="l2")
    assert str(CreateIndex(index).compile(dialect=mysql_dialect)) == (
        "CREATE VECTOR INDEX idx_v ON docs ((VEC_L2_DISTANCE(v))) USING HNSW"
    )


@pytest.mark.parametrize("metric", ["l1", "negative_inner_product", "dot"])
def test_other_metrics_are_refused(metric):
    with pytest.raises(ValueError, match="TiDB vector indexes support the metrics 'cosine', 'l2'"):
        VectorIndex("idx", "embedding", metric=metric)


def test_tiflash_replica_statement(mysql_dialect):
    table = table_with()
    assert str(SetTiFlashReplica(table).compile(dialect=mysql_dialect)) == "ALTER TABLE docs SET TIFLASH REPLICA 1"
    assert str(SetTiFlashReplica("docs", 2).compile(dialect=mysql_dialect)) == "ALTER TABLE docs SET TIFLASH REPLICA 2"


def test_create_all_sets_the_replica_before_the_index(mysql_dialect):
    from sqlalchemy import create_mock_engine

    statements = []
    engine = create_mock_engine("mysql+pymysql://", lambda sql, *a, **k: statements.append(str(sql.compile(dialect=engine.dialect)).strip()))
    table = table_with(VectorIndex("idx_embedding", "embedding"))
    table.metadata.create_all(engine, checkfirst=False)
    assert statements[1:] == [
        "ALTER TABLE docs SET TIFLASH REPLICA 1",
        "CREATE VECTOR INDEX idx_embedding ON docs ((VEC_COSINE_DISTANCE(embedding))) USING HNSW",
    ]
