"""Types are cacheable: searches differing only in their text share one compiled statement."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Integer, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm import AutoEmbeddingVector
from tidb_embed_orm.embedders import HashingTestEmbedder

MODEL = "huggingface/BAAI/bge-m3"


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str | None] = mapped_column(Text)
    body_vec: Mapped[np.ndarray | None] = mapped_column(AutoEmbeddingVector(MODEL, source="body"))


def search(text: str):
    return select(Note.id).order_by(Note.body_vec.cosine_distance(text)).limit(3)


def test_cache_keys_ignore_the_text():
    assert search("first")._generate_cache_key() == search("second")._generate_cache_key()


def test_cache_keys_differ_by_model_and_options():
    a = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="body")
    b = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="body", dim=512)
    assert a._static_cache_key != b._static_cache_key
    assert hash(b._static_cache_key)


def test_one_compiled_statement_for_many_searches():
    engine = create_engine("sqlite+tidb_embed://", embedders={MODEL: HashingTestEmbedder(1024)})
    Base.metadata.create_all(engine)
    cache: dict = {}
    with Session(engine.execution_options(compiled_cache=cache)) as session:
        session.add_all([Note(id=i, body=f"note {i}") for i in range(5)])
        session.flush()
        before = len(cache)
        results = [session.scalars(search(f"query {i}")).all() for i in range(20)]
    assert len(cache) == before + 1
    assert all(len(r) == 3 for r in results)
