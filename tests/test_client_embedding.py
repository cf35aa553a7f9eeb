"""Client-side embedding through the HuggingFace Inference API contract, and databases without EMBED_TEXT."""

from __future__ import annotations

import logging
import math
import os

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select, update
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from tidb_embed_orm import (
    AutoEmbeddingVector,
    EmbeddingFailedError,
    EmbeddingUnavailableError,
    configure_provider,
    use_client_embedding,
)
from tidb_embed_orm.catalog import EmbeddingModel, register_model
from tidb_embed_orm.embedders.huggingface_api import HuggingFaceAuthError, HuggingFaceInferenceEmbedder
from tidb_embed_orm.testing.seed import add_seed_rows, sample_model, seed_search

from .conftest import SEED_QUERY, SEED_ROWS
from .hf_server import FeatureExtractionServer

KEY = "hf_client_SECRET_abc123XYZ"
# all-mpnet-base-v2 is not on this machine, so the only way to serve it is the API; the test
# server answers with all-MiniLM-L6-v2 (384) for every repo, so we declare the column for that.
REMOTE = "huggingface/acme/remote-minilm"
register_model(EmbeddingModel(REMOTE, 384))


Doc = Base = sample_model(REMOTE)


@pytest.fixture(scope="module")
def server():
    with FeatureExtractionServer() as running:
        yield running


@pytest.fixture
def client_engine(server, tmp_path):
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'client.db'}"), batch_size=50)
    configure_provider(engine, "huggingface", KEY, base_url=server.base_url)
    Base.metadata.create_all(engine)
    server.requests.clear()
    server.script.clear()
    yield engine
    engine.dispose()


def count_rows(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(Doc.id)).all())


@pytest.mark.real_model
def test_seed_flow_in_client_mode_through_the_api(client_engine, server):
    with Session(client_engine) as session:
        add_seed_rows(session, Doc)
        assert len(server.requests) == 1  # one batched call per flush
        assert server.requests[0]["path"] == "/models/acme/remote-minilm/pipeline/feature-extraction"
        assert server.requests[0]["authorization"] == f"Bearer {KEY}"
        assert seed_search(session, Doc) == [1, 4]
        assert server.requests[-1]["inputs"] == [SEED_QUERY]


def test_client_mode_ddl_and_sql():
    engine = create_engine("sqlite+tidb_embed://")
    assert "GENERATED" in str(CreateTable(Doc.__table__).compile(engine))
    use_client_embedding(engine)
    assert "GENERATED" not in str(CreateTable(Doc.__table__).compile(engine))
    mysql_engine = use_client_embedding(create_engine("mysql+pymysql://u@127.0.0.1/db"))
    ddl = " ".join(str(CreateTable(Doc.__table__).compile(mysql_engine)).split())
    assert "embedding VECTOR(384)" in ddl and "EMBED_TEXT" not in ddl
    query = select(Doc.id).order_by(Doc.embedding.cosine_distance("q")).limit(2)
    assert "VEC_COSINE_DISTANCE(sample.embedding, %(param_1)s)" in str(query.compile(mysql_engine))
    assert "VEC_EMBED_COSINE_DISTANCE" in str(query.compile(dialect=mysql.dialect()))


def test_updates_re_embed_and_null_text_gives_null(client_engine, server):
    with Session(client_engine) as session:
        session.add_all([Doc(id=1, content="Java"), Doc(id=2, content=None)])
        session.commit()
        assert session.get(Doc, 2).embedding is None
        before = session.get(Doc, 1).embedding.copy()
        session.get(Doc, 1).content = "Espresso with dark roast beans"
        session.commit()
        assert not np.allclose(before, session.get(Doc, 1).embedding)
        session.execute(update(Doc).where(Doc.id == 2).values(content="now with text"))
        session.commit()
        assert session.get(Doc, 2).embedding.shape == (384,)


def test_core_inserts_get_embeddings(client_engine):
    with client_engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": i, "content": c} for i, c in SEED_ROWS[:3]])
        conn.execute(insert(Doc).values(id=4, content=SEED_ROWS[3][1]))
        with pytest.raises(Exception, match="pass the rows as parameters"):
            conn.execute(insert(Doc).values([{"id": 8, "content": "a"}, {"id": 9, "content": "b"}]))
    with client_engine.connect() as conn:
        assert all(v is not None for v in conn.execute(select(Doc.embedding)).scalars())


def test_batching_counts_requests_at_the_server(client_engine, server):
    with Session(client_engine) as session:
        session.add_all([Doc(id=i, content=f"document {i} about topic {i % 17}") for i in range(1000)])
        session.commit()
    # 20 batches of 50 from the service, each sent as TiDB's batcher sends: at most 16 texts a request
    assert len(server.requests) == math.ceil(1000 / 50) * math.ceil(50 / 16)
    assert max(len(r["inputs"]) for r in server.requests) == 16
    assert sum(len(r["inputs"]) for r in server.requests) == 1000


@pytest.mark.parametrize(
    "script, error, message",
    [
        (["401"], HuggingFaceAuthError, r"refused the API key \(401\).*configure_provider"),
        (["404"], EmbeddingUnavailableError, r"not served by the HuggingFace Inference API .*\(404\)"),
        (["wrong_count"], EmbeddingFailedError, r"answered 4 vectors for 5 texts"),
        (["wrong_dim"], EmbeddingFailedError, r"100-dimensional vectors, but the column is VECTOR\(384\)"),
        (["503"] * 10, EmbeddingFailedError, r"kept failing .* \(503\) after 5 attempts"),
    ],
)
def test_failures_write_nothing(client_engine, server, script, error, message):
    server.script[:] = script
    with Session(client_engine) as session:
        session.add_all([Doc(id=i, content=c) for i, c in SEED_ROWS])
        with pytest.raises(error, match=message) as info:
            session.commit()
        assert KEY not in str(info.value) and KEY not in repr(info.value)
    assert count_rows(client_engine) == 0


@pytest.mark.parametrize("script", [["429"], ["503"], ["429", "503", "429"]])
def test_transient_failures_are_retried(client_engine, server, script):
    server.script[:] = list(script)
    with Session(client_engine) as session:
        session.add_all([Doc(id=i, content=c) for i, c in SEED_ROWS])
        session.commit()
    assert len(server.requests) == len(script) + 1
    assert count_rows(client_engine) == 5


def test_a_hang_times_out(server):
    server.script[:] = ["hang", "hang"]
    server.hang_seconds = 2.0
    embedder = HuggingFaceInferenceEmbedder("acme/remote-minilm", api_key=KEY, base_url=server.base_url,
                                            timeout=0.5, max_retries=1, backoff=0)
    with pytest.raises(EmbeddingFailedError, match="did not answer .* in time .2 attempts."):
        embedder.embed(["hello"])
    assert KEY not in repr(embedder)


def test_retry_after_is_honoured(server):
    delays = []
    server.script[:] = ["429"]
    embedder = HuggingFaceInferenceEmbedder("acme/remote-minilm", api_key=KEY, base_url=server.base_url,
                                            sleep=delays.append)
    assert embedder.embed(["a", "b"]).shape == (2, 384)
    assert delays == [0.0]


def test_the_key_never_reaches_the_logs(server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'log.db'}", echo=True))
    configure_provider(engine, "huggingface", KEY, base_url=server.base_url)
    Base.metadata.create_all(engine)
    server.script[:] = ["429", "401"]
    with Session(engine) as session:
        session.add(Doc(id=1, content="x"))
        with pytest.raises(HuggingFaceAuthError):
            session.commit()
    assert "Bearer" in str(server.requests[-1]["authorization"])
    assert KEY not in caplog.text
    engine.dispose()


def test_embedded_engine_serves_non_local_models_through_the_api(server, tmp_path):
    metadata = MetaData()
    table = Table("remote", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                  Column("vec", AutoEmbeddingVector(REMOTE, source="body")))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'remote.db'}")
    metadata.create_all(engine)
    with pytest.raises(EmbeddingUnavailableError, match="configure_provider"):
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "body": "hello"}])
    engine2 = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'remote.db'}")
    configure_provider(engine2, "huggingface", KEY, base_url=server.base_url)
    with engine2.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "body": "hello"}, {"id": 2, "body": "world"}])
        assert all(v.shape == (384,) for v in conn.execute(select(table.c.vec)).scalars())
    engine.dispose()
    engine2.dispose()


@pytest.mark.skipif(not os.environ.get("TIDB_URL"), reason="needs TIDB_URL (a self-managed TiDB)")
def test_live_self_managed_tidb(server):
    engine = use_client_embedding(create_engine(os.environ["TIDB_URL"]))
    configure_provider(engine, "huggingface", KEY, base_url=server.base_url)
    Live = sample_model(REMOTE, table="tidb_embed_orm_live_client")  # never touches a user's "sample"
    Live.metadata.drop_all(engine)
    Live.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            add_seed_rows(session, Live)
            assert seed_search(session, Live) == [1, 4]
    finally:
        Live.metadata.drop_all(engine)


def test_hf_token_from_the_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_from_environment_123")
    monkeypatch.setenv("TIDB_EMBED_ORM_HF_BASE_URL", server.base_url)
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'env.db'}"))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Doc(id=1, content="from the environment"))
        session.commit()
        assert session.get(Doc, 1).embedding.shape == (384,)
    assert server.requests[-1]["authorization"] == "Bearer hf_from_environment_123"
    engine.dispose()
