"""Types are cacheable: searches differing only in their text share one compiled statement."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tidb_embed_orm import AutoEmbeddingVector
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing.seed import sample_model

MODEL = "huggingface/BAAI/bge-m3"


Note = sample_model(MODEL, table="note")


def search(text: str):
    return select(Note.id).order_by(Note.embedding.cosine_distance(text)).limit(3)


def test_cache_keys_ignore_the_text():
    assert search("first")._generate_cache_key() == search("second")._generate_cache_key()


def test_cache_keys_differ_by_model_and_options():
    a = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="body")
    b = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="body", dim=512)
    assert a._static_cache_key != b._static_cache_key
    assert hash(b._static_cache_key)


def test_one_compiled_statement_for_many_searches():
    engine = create_engine("sqlite+tidb_embed://", embedders={MODEL: HashingTestEmbedder(1024)})
    Note.metadata.create_all(engine)
    cache: dict = {}
    with Session(engine.execution_options(compiled_cache=cache)) as session:
        session.add_all([Note(id=i, content=f"note {i}") for i in range(5)])
        session.flush()
        before = len(cache)
        results = [session.scalars(search(f"query {i}")).all() for i in range(20)]
    assert len(cache) == before + 1
    assert all(len(r) == 3 for r in results)
