"""Live calls to each provider, run only when that provider's key is in the environment.

``OPENAI_API_KEY``, ``COHERE_API_KEY``, ``JINA_API_KEY``, ``GEMINI_API_KEY``, ``NVIDIA_API_KEY``:
each test embeds a document and a query through the real API, on the embedded engine, as a column
declared like TiDB's docs declare it, and checks the ranking the docs show.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select

from tidb_embed_orm import AutoEmbeddingVector, configure_provider

LIVE = [
    ("openai", "OPENAI_API_KEY", "openai/text-embedding-3-small"),
    ("cohere", "COHERE_API_KEY", "cohere/embed-v4.0"),
    ("jina_ai", "JINA_API_KEY", "jina_ai/jina-embeddings-v3"),
    ("gemini", "GEMINI_API_KEY", "gemini/gemini-embedding-001"),
    ("nvidia_nim", "NVIDIA_API_KEY", "nvidia_nim/baai/bge-m3"),
]
ROWS = [
    (1, "Java: Object-oriented language for cross-platform development."),
    (2, "Java coffee: Bold Indonesian beans with low acidity."),
    (3, "Java island: Densely populated, home to Jakarta."),
    (4, "Java's syntax is used in Android apps."),
    (5, "Dark roast Java beans enhance espresso blends."),
]


@pytest.mark.parametrize("provider, variable, model", LIVE, ids=[p for p, _, _ in LIVE])
def test_live_provider(provider, variable, model, tmp_path):
    key = os.environ.get(variable)
    if not key:
        pytest.skip(f"set {variable} to call the {provider} API")
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'live.db'}")
    configure_provider(engine, provider, key)
    table = Table("sample", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
                  Column("embedding", AutoEmbeddingVector(model, source="content")))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "content": c} for i, c in ROWS])
        top = conn.execute(select(table.c.id).order_by(
            table.c.embedding.cosine_distance("How to start learning Java programming?")).limit(2)).scalars().all()
    assert set(top) <= {1, 4} and top[0] in (1, 4)  # the docs' answer
    engine.dispose()
