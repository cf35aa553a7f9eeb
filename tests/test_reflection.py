"""Reading TiDB's stored schema back: vector(N) and EMBED_TEXT generation expressions."""

from __future__ import annotations

import warnings

import pytest
from sqlalchemy.dialects import mysql

from tidb_embed_orm import AutoEmbeddingVector, Vector
from tidb_embed_orm.reflection import _reflect_auto_embedding, parse_embed_text

# What TiDB keeps in information_schema.COLUMNS.GENERATION_EXPRESSION and SHOW CREATE TABLE.
TIDB_STORED = [
    (
        "embed_text(_utf8mb4'huggingface/BAAI/bge-m3', `content`)",
        ("huggingface/BAAI/bge-m3", "content", None),
    ),
    (
        "embed_text(_utf8mb4'huggingface/sentence-transformers/all-MiniLM-L6-v2', `content`)",
        ("huggingface/sentence-transformers/all-MiniLM-L6-v2", "content", None),
    ),
    (
        "embed_text(_utf8mb4'tidbcloud_free/amazon/titan-embed-text-v2', `body text`, _utf8mb4'{\"dimensions\": 512}')",
        ("tidbcloud_free/amazon/titan-embed-text-v2", "body text", {"dimensions": 512}),
    ),
    ("EMBED_TEXT('huggingface/BAAI/bge-m3', \"content\")", ("huggingface/BAAI/bge-m3", "content", None)),
    ("(EMBED_TEXT('huggingface/BAAI/bge-m3', content))", ("huggingface/BAAI/bge-m3", "content", None)),
    ("embed_text(_utf8mb4'openai/text-embedding-3-small', `it``s`, _utf8mb4'{\"a\":\"b\\'c\"}')",
     ("openai/text-embedding-3-small", "it`s", {"a": "b'c"})),
]


@pytest.mark.parametrize("stored, expected", TIDB_STORED)
def test_parse_stored_generation_expressions(stored, expected):
    parsed = parse_embed_text(stored)
    assert (parsed.model, parsed.source, parsed.options) == expected


@pytest.mark.parametrize("other", ["concat(`a`, `b`)", "", "embed_text(`content`)", "upper(embed_text('m/x', c))"])
def test_other_expressions_are_not_auto_embedding(other):
    assert parse_embed_text(other) is None


SHOW_CREATE_TABLE = """CREATE TABLE `sample` (
  `id` int(11) DEFAULT NULL,
  `content` text DEFAULT NULL,
  `embedding` vector(1024) GENERATED ALWAYS AS (embed_text(_utf8mb4'huggingface/BAAI/bge-m3', `content`)) STORED,
  `titan` vector(512) GENERATED ALWAYS AS (embed_text(_utf8mb4'tidbcloud_free/amazon/titan-embed-text-v2', `content`, _utf8mb4'{"dimensions":512}')) STORED,
  `plain` vector(3) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""


def reflect_columns(show_create: str) -> dict:
    """Run SQLAlchemy's own MySQL reflection parser on TiDB's SHOW CREATE TABLE, then our hook."""
    dialect = mysql.dialect()
    dialect._connection_charset = "utf8mb4"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Did not recognize type 'vector'" would fail here
        parser = dialect._tabledef_parser
        state = parser.parse(show_create, "utf8mb4")
    columns = {}
    for info in state.columns:
        _reflect_auto_embedding(None, None, info)
        columns[info["name"]] = info
    return columns


def test_mysql_reflection_of_tidb_table():
    columns = reflect_columns(SHOW_CREATE_TABLE)
    assert type(columns["plain"]["type"]) is Vector and columns["plain"]["type"].dim == 3
    embedding = columns["embedding"]["type"]
    assert isinstance(embedding, AutoEmbeddingVector)
    assert (embedding.model, embedding.source, embedding.dim) == ("huggingface/BAAI/bge-m3", "content", 1024)
    assert "computed" not in columns["embedding"]
    titan = columns["titan"]["type"]
    assert (titan.dim, titan.options) == (512, {"dimensions": 512})
