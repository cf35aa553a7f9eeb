"""Text longer than the model's window: cut to the window as the hosted model cuts it, and said once."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert

from tidb_embed_orm import AutoEmbeddingVector, EmbeddingFailedError

from .conftest import MINILM

LONG = " ".join(f"word{i}" for i in range(600))  # ~1,800 WordPiece tokens; MiniLM reads 256


def table(**options):
    return Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
                 Column("embedding", AutoEmbeddingVector(MINILM, source="content", options=options or None)))


@pytest.mark.real_model
def test_an_overlong_text_is_cut_and_said_once_per_model(tmp_path, caplog):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'long.db'}")
    docs = table()
    docs.create(engine)
    with caplog.at_level(logging.WARNING, logger="tidb_embed_orm"):
        with engine.begin() as conn:
            conn.execute(insert(docs), [{"id": 1, "content": "short"}, {"id": 2, "content": LONG}])
            conn.execute(insert(docs), [{"id": 3, "content": LONG + " again"}])
    said = [r.getMessage() for r in caplog.records if "reads at most" in r.getMessage()]
    assert len(said) == 1
    assert "all-MiniLM-L6-v2 reads at most 256 tokens: a text of " in said[0]
    assert "embedded from its first 256 only" in said[0] and '{"truncate": false}' in said[0]
    engine.dispose()


@pytest.mark.real_model
def test_truncate_false_refuses_an_overlong_text(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'long.db'}")
    docs = table(truncate=False)
    docs.create(engine)
    with pytest.raises(EmbeddingFailedError, match="1728 tokens is longer than sentence-transformers/all-MiniLM-L6-v2's limit of 256"):
        with engine.begin() as conn:
            conn.execute(insert(docs), [{"id": 1, "content": LONG}])
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": 2, "content": "a short text is fine"}])
    engine.dispose()
