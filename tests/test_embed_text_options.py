"""EMBED_TEXT's JSON options flow as on TiDB: into the provider's request, with ``k@search`` for queries."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from tidb_embed_orm import EmbeddingFailedError, configure_provider, use_client_embedding
from tidb_embed_orm.catalog import EmbeddingModel, register_model
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.embedders.base import UnsupportedOptionsError
from tidb_embed_orm.exc import EmbedOptionsError
from tidb_embed_orm.options import EmbedOptions, stored_options
from tidb_embed_orm.testing.seed import sample_model

from .conftest import MINILM
from .hf_server import FeatureExtractionServer

REMOTE = "huggingface/acme/options-minilm"
register_model(EmbeddingModel(REMOTE, 384))
OPTIONS = {"normalize": True, "truncation_direction": "right", "truncation_direction@search": "left", "inputs": "x"}


class RecordingEmbedder(HashingTestEmbedder):
    """Records the options each batch was embedded with."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.seen: list[tuple[list[str], dict | None]] = []

    def embed(self, texts, options=None):
        self.seen.append((list(texts), options))
        return super().embed(texts)


def test_search_keys_replace_for_queries_and_vanish_for_stored_text():
    declared = EmbedOptions.parse('{"a":1,"a@search":2,"b@search":3,"c":4}')
    assert declared.stored().json == '{"a":1,"c":4}'
    assert declared.search().json == '{"a":2,"b":3,"c":4}'
    assert EmbedOptions.parse('{"a@search":1}').stored() is None
    with pytest.raises(EmbedOptionsError, match="EMBED_TEXT expects options in JSON format"):
        stored_options("{invalid_json}")
    with pytest.raises(EmbedOptionsError, match="EMBED_TEXT expects options in JSON format"):
        stored_options("null")
    assert stored_options("") is None


def test_embedded_engine_sends_stored_and_search_options(tmp_path):
    recorder = RecordingEmbedder(384)
    Doc = sample_model(MINILM, options={"mode": "doc", "mode@search": "query"})
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'o.db'}", embedders={MINILM: recorder})
    Doc.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Doc(id=1, content="alpha"), Doc(id=2, content="beta")])
        session.commit()
        session.scalars(select(Doc.id).order_by(Doc.embedding.cosine_distance("gamma"))).all()
        session.execute(select(Doc.id)).all()
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT id FROM sample ORDER BY VEC_EMBED_L2_DISTANCE(embedding, 'delta')").all()
    seen = {text: options for texts, options in recorder.seen for text in texts}
    assert seen == {
        "alpha": {"mode": "doc"},
        "beta": {"mode": "doc"},
        "gamma": {"mode": "query"},
        "delta": {"mode": "query"},
    }


def test_client_mode_sends_stored_and_search_options(tmp_path):
    recorder = RecordingEmbedder(384)
    Doc = sample_model(MINILM, options={"mode": "doc", "mode@search": "query"})
    engine = use_client_embedding(
        create_engine(f"sqlite+tidb_embed:///{tmp_path / 'c.db'}"), embedders={MINILM: recorder}
    )
    Doc.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Doc(id=1, content="alpha"))
        session.commit()
        session.scalars(select(Doc.id).order_by(Doc.embedding.cosine_distance("gamma"))).all()
    assert [options for _, options in recorder.seen] == [{"mode": "doc"}, {"mode": "query"}]


@pytest.mark.real_model
def test_options_reach_the_huggingface_request_body_beside_inputs(tmp_path):
    Doc = sample_model(REMOTE, options=OPTIONS)
    with FeatureExtractionServer() as server:
        engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'hf.db'}")
        configure_provider(engine, "huggingface", "hf_options_KEY123", base_url=server.base_url)
        Doc.metadata.create_all(engine)
        with Session(engine) as session:
            session.add_all([Doc(id=1, content="Java island"), Doc(id=2, content="Java coffee")])
            session.commit()
            assert session.scalars(select(Doc.id).order_by(Doc.embedding.l2_distance("Jakarta")).limit(1)).one() == 1
    stored, query = server.requests[0]["body"], server.requests[-1]["body"]
    assert stored == {"inputs": ["Java island", "Java coffee"], "normalize": True, "truncation_direction": "right"}
    assert query == {"inputs": ["Jakarta"], "normalize": True, "truncation_direction": "left"}


def test_invalid_options_null_model_and_null_text_behave_as_on_tidb(embedded_engine):
    with embedded_engine.connect() as conn:
        with pytest.raises(EmbedOptionsError, match="EMBED_TEXT expects options in JSON format"):
            conn.exec_driver_sql(f"SELECT EMBED_TEXT('{MINILM}', 'x', '{{invalid_json}}')").scalar()
        assert conn.exec_driver_sql("SELECT EMBED_TEXT(NULL, 'x')").scalar() is None
        assert conn.exec_driver_sql(f"SELECT EMBED_TEXT('{MINILM}', NULL, '{{}}')").scalar() is None


def test_more_than_16383_dimensions_is_an_error(tmp_path):
    huge = "huggingface/acme/huge"
    engine = create_engine("sqlite+tidb_embed://", embedders={huge: HashingTestEmbedder(16384)})
    with engine.connect() as conn, pytest.raises(EmbeddingFailedError, match="at most 16383 dimensions"):
        conn.exec_driver_sql(f"SELECT EMBED_TEXT('{huge}', 'x')").scalar()


class TextsOnly:
    def embed(self, texts):
        return HashingTestEmbedder(384).embed(texts)


def test_an_embedder_without_options_refuses_a_column_with_options(tmp_path):
    Doc = sample_model(MINILM, options={"mode": "doc"})
    engine = create_engine("sqlite+tidb_embed://", embedders={MINILM: TextsOnly()})
    Doc.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Doc(id=1, content="alpha"))
        with pytest.raises(UnsupportedOptionsError, match=r"TextsOnly\) takes no EMBED_TEXT options.*\['mode'\]"):
            session.commit()


@pytest.mark.real_model
def test_the_local_model_honours_its_options(tmp_path):
    Plain = sample_model(MINILM, table="plain", options={"normalize": False})
    Prompted = sample_model(MINILM, table="prompted", options={"prompt@search": "query: ", "inputs": "ignored"})
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'local.db'}")
    for model in (Plain, Prompted):
        model.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Plain(id=1, content="Java coffee"), Prompted(id=1, content="Java coffee")])
        session.commit()
        assert np.linalg.norm(session.get(Plain, 1).embedding) > 1.5  # MiniLM's pooled vector, not normalized
        assert np.linalg.norm(session.get(Prompted, 1).embedding) == pytest.approx(1.0, abs=1e-3)
        same_text = session.scalar(select(Prompted.embedding.cosine_distance("Java coffee")))
        assert same_text > 0.01  # the query was embedded with its prompt, the stored text without
    Bad = sample_model(MINILM, table="bad", options={"temperature": 0.5})
    Bad.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Bad(id=1, content="x"))
        with pytest.raises(UnsupportedOptionsError, match=r"cannot honour the EMBED_TEXT options \['temperature'\]"):
            session.commit()


def test_tidb_receives_the_declared_options_search_keys_included(mysql_dialect):
    from sqlalchemy.schema import CreateTable

    Doc = sample_model(MINILM, options={"prompt_name@search": "query", "normalize": True})
    ddl = str(CreateTable(Doc.__table__).compile(dialect=mysql_dialect))
    assert """'{"normalize":true,"prompt_name@search":"query"}'""" in ddl  # TiDB applies @search itself
    query = select(Doc.id).order_by(Doc.embedding.cosine_distance("q"))
    assert "VEC_EMBED_COSINE_DISTANCE(sample.embedding, %s)" in str(query.compile(dialect=mysql_dialect))


def test_options_survive_pickle_and_copy_and_hash_as_they_compare():
    import copy
    import pickle

    from sqlalchemy import Column, Integer, MetaData, Table, Text

    from tidb_embed_orm import AutoEmbeddingVector

    metadata = MetaData()
    Table("t", metadata, Column("id", Integer, primary_key=True), Column("content", Text),
          Column("e", AutoEmbeddingVector(MINILM, source="content", options={"normalize": True, "a@search": [1]})))
    restored = pickle.loads(pickle.dumps(metadata))
    assert restored.tables["t"].c.e.type.options == {"normalize": True, "a@search": [1]}
    assert copy.deepcopy(metadata.tables["t"].c.e.type).options_json == metadata.tables["t"].c.e.type.options_json
    assert type(copy.copy(EmbedOptions({"a": 1}))) is EmbedOptions
    assert EmbedOptions({"a": 1}) == EmbedOptions({"a": 1.0}) and hash(EmbedOptions({"a": 1})) == hash(
        EmbedOptions({"a": 1.0}))
