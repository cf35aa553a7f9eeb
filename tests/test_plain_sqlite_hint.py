"""TiDB's functions on plain sqlite:// (not the embedded engine) fail with the URL that runs them."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from tidb_embed_orm import AutoEmbeddingVector, EmbeddedEngineRequiredError, Vector

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"


def docs():
    return Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
                 Column("embedding", AutoEmbeddingVector(MINILM, source="content")))


def test_embed_text_on_plain_sqlite_names_the_embedded_url(tmp_path):
    path = tmp_path / "app.db"
    engine = create_engine(f"sqlite:///{path}")
    table = docs()
    with pytest.raises(EmbeddedEngineRequiredError) as info:
        table.create(engine)  # SQLite checks a generated column's functions in CREATE TABLE
    message = str(info.value)
    assert message.startswith("EMBED_TEXT is a TiDB function, which plain SQLite (pysqlite) does not have")
    assert f"create the engine with sqlite+tidb_embed:///{path} (the embedded engine, same file)" in message
    plain = Table("points", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(3)))
    plain.create(engine)
    with pytest.raises(EmbeddedEngineRequiredError, match=r"^VEC_L2_DISTANCE is a TiDB function.*sqlite\+tidb_embed:///"):
        with engine.connect() as conn:
            conn.execute(select(plain.c.id).order_by(plain.c.v.l2_distance([1, 2, 3])))
    engine.dispose()


def test_other_sqlite_errors_are_left_alone():
    engine = create_engine("sqlite://")
    with engine.connect() as conn, pytest.raises(OperationalError, match="no such function: embed_textual"):
        conn.execute(select(func.embed_textual(1)))
    with engine.connect() as conn, pytest.raises(OperationalError, match="no such table"):
        conn.execute(text("SELECT * FROM nowhere"))
    engine.dispose()
