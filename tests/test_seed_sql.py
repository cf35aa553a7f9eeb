"""The TiDB page's SQL is the contract: our models compile to exactly its statements."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, insert, select
from sqlalchemy.schema import CreateTable

from tidb_embed_orm import AutoEmbeddingVector, get_model
from tidb_embed_orm.testing.seed import sample_model

from .conftest import SEED_QUERY, normalize_sql

SEED_MODELS = {
    "huggingface/intfloat/multilingual-e5-large": 1024,
    "huggingface/BAAI/bge-m3": 1024,
    "huggingface/sentence-transformers/all-MiniLM-L6-v2": 384,
    "huggingface/sentence-transformers/all-mpnet-base-v2": 768,
    "huggingface/Qwen/Qwen3-Embedding-0.6B": 1024,
}


def seed_statements(seed_text: str, model: str) -> dict[str, str]:
    """The CREATE TABLE, INSERT and SELECT of the seed section using ``model``."""
    blocks = re.findall(r"```sql\n(.*?)```", seed_text, re.S)
    block = next(b for b in blocks if f'"{model}"' in b)
    statements = [s.strip() for s in block.split(";") if s.strip()]
    return {s.split()[0].upper(): s for s in statements}


def sample_table(model: str) -> Table:
    return Table(
        "sample",
        MetaData(),
        Column("id", Integer),
        Column("content", Text),
        Column("embedding", AutoEmbeddingVector(model, source="content")),
    )


@pytest.mark.parametrize("model", SEED_MODELS)
def test_create_table_is_the_seed_statement(seed_text, mysql_dialect, model):
    expected = seed_statements(seed_text, model)["CREATE"]
    compiled = str(CreateTable(sample_table(model)).compile(dialect=mysql_dialect))
    assert normalize_sql(compiled) == normalize_sql(expected)


@pytest.mark.parametrize("model", SEED_MODELS)
def test_registry_dimension_is_the_seed_dimension(model):
    assert get_model(model).dim == SEED_MODELS[model]
    assert AutoEmbeddingVector(model, source="content").dim == SEED_MODELS[model]


def test_qwen_has_its_token_limit():
    assert get_model("huggingface/Qwen/Qwen3-Embedding-0.6B").max_input_tokens == 512


@pytest.mark.parametrize("model", SEED_MODELS)
def test_insert_leaves_the_embedding_out(seed_text, mysql_dialect, model):
    table = sample_table(model)
    stmt = insert(table).values([{"id": 1, "content": "a"}, {"id": 2, "content": "b"}])
    compiled = str(stmt.compile(dialect=mysql_dialect))
    assert normalize_sql(compiled) == "INSERT INTO sample (id, content) VALUES (%s, %s), (%s, %s)"
    expected = seed_statements(seed_text, model)["INSERT"]
    assert normalize_sql(expected).startswith("INSERT INTO sample (id, content) VALUES")


Doc = sample_model("huggingface/sentence-transformers/all-MiniLM-L6-v2")


def test_orm_query_is_the_seed_query(seed_text, mysql_dialect):
    stmt = select(Doc.id, Doc.content).order_by(Doc.embedding.cosine_distance(SEED_QUERY)).limit(2)
    compiled = stmt.compile(dialect=mysql_dialect)
    assert normalize_sql(str(compiled)) == (
        "SELECT sample.id, sample.content FROM sample "
        "ORDER BY VEC_EMBED_COSINE_DISTANCE(sample.embedding, %s) LIMIT %s"
    )
    assert list(compiled.params.values()) == [SEED_QUERY, 2]
    # The seed's query, with its literal moved into the bound parameter, is the same statement.
    seed = seed_statements(seed_text, "huggingface/sentence-transformers/all-MiniLM-L6-v2")["SELECT"]
    seed = seed.replace(f'"{SEED_QUERY}"', "%s").replace("LIMIT 2", "LIMIT %s")
    assert normalize_sql(str(compiled)).replace("sample.", "") == normalize_sql(seed)


def test_orm_insert_never_writes_the_generated_column(mysql_dialect):
    stmt = insert(Doc).values(id=1, content="x")
    assert "embedding" not in str(stmt.compile(dialect=mysql_dialect))
    assert Doc.__table__.c.embedding.computed is not None
