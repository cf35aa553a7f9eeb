"""Against a live TiDB Cloud Starter cluster: runs only when TIDB_URL is set (skipped otherwise).

TIDB_URL=mysql+pymysql://user:pass@host:4000/test?ssl_verify_cert=true&ssl_verify_identity=true
Uses the free TiDB-hosted titan model (no key); set TIDB_HF_API_KEY to also run the seed's
HuggingFace model with your key.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, Table, create_engine
from sqlalchemy.orm import Session

from tidb_embed_orm import AutoEmbeddingVector, configure_provider
from tidb_embed_orm.testing.seed import add_seed_rows, sample_model, seed_search

pytestmark = pytest.mark.skipif(not os.environ.get("TIDB_URL"), reason="needs TIDB_URL (a TiDB Cloud Starter cluster)")

MODELS = ["tidbcloud_free/amazon/titan-embed-text-v2"]
if os.environ.get("TIDB_HF_API_KEY"):
    MODELS.append("huggingface/sentence-transformers/all-MiniLM-L6-v2")


@pytest.fixture
def engine():
    engine = create_engine(os.environ["TIDB_URL"])
    with engine.connect() as conn:
        try:
            conn.exec_driver_sql("SELECT EMBED_TEXT('tidbcloud_free/amazon/titan-embed-text-v2', 'probe')")
        except Exception:
            pytest.skip("this cluster has no EMBED_TEXT (Auto Embedding runs on TiDB Cloud Starter)")
    if os.environ.get("TIDB_HF_API_KEY"):
        configure_provider(engine, "huggingface", os.environ["TIDB_HF_API_KEY"])
    yield engine
    engine.dispose()


@pytest.mark.parametrize("model", MODELS)
def test_seed_flow_on_tidb(engine, model):
    Sample = sample_model(model, table="tidb_embed_orm_live_sample")
    Sample.metadata.drop_all(engine)
    Sample.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            add_seed_rows(session, Sample)
            assert seed_search(session, Sample) == [1, 4]
        reflected = Table("tidb_embed_orm_live_sample", MetaData(), autoload_with=engine)
        assert isinstance(reflected.c.embedding.type, AutoEmbeddingVector)
        assert reflected.c.embedding.type.model == model
    finally:
        Sample.metadata.drop_all(engine)
