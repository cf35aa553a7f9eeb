"""Client-mode tables for the client tests: an engine holding them, and the check that vectors are current."""

from __future__ import annotations

import numpy as np
from sqlalchemy import create_engine, insert, select

from tidb_embed_orm import HashingTestEmbedder, use_client_embedding
from tidb_embed_orm.testing.mariadb import create_sample_table

from .conftest import MINILM


def client_engine(backend: str, request, tmp_path, embedder: HashingTestEmbedder, *models):
    """A client-mode engine on ``backend`` ("embedded" or "mariadb") with each model's table; the first
    holds rows 1 "one" and 2 "two"."""
    if backend == "embedded":
        url = f"sqlite+tidb_embed:///{tmp_path / 'client.db'}"
    else:
        url = request.getfixturevalue("mariadb")["url"]
    engine = use_client_embedding(create_engine(url), embedders={MINILM: embedder})
    with engine.begin() as conn:
        for model in models:
            if backend == "embedded":
                model.metadata.create_all(conn)
            else:
                create_sample_table(conn, model.__tablename__)
        conn.execute(insert(models[0]), [{"id": 1, "content": "one"}, {"id": 2, "content": "two"}])
    return engine


def vectors_current(engine, model, embedder: HashingTestEmbedder) -> dict[int, str]:
    """Every row's vector is the embedding of its current text; returns id -> text."""
    with engine.connect() as conn:
        found = conn.execute(select(model.id, model.content, model.embedding).order_by(model.id)).all()
    for row in found:
        assert row.embedding is not None, f"row {row.id} has a NULL vector"
        np.testing.assert_allclose(row.embedding, embedder.embed([row.content])[0], atol=1e-6)
    return {row.id: row.content for row in found}
