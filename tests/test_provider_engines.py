"""Provider columns on the embedded engine and in client mode: the same model code, another provider.

An ``openai/...`` or ``cohere/...`` column on ``sqlite+tidb_embed://`` embeds through that provider's
API (here: a real HTTP server on 127.0.0.1 speaking its contract) once its key is set the way TiDB
takes it (``configure_provider``, ``SET @@GLOBAL.TIDB_EXP_EMBED_*``, or the environment), and says in
one line how to set it when it is not; through an async engine and an Alembic rebuild too.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import CreateTable

import tidb_embed_orm.alembic  # noqa: F401
from tidb_embed_orm import AutoEmbeddingVector, configure_provider, use_client_embedding
from tidb_embed_orm.exc import (
    DimensionError,
    EmbeddingUnavailableError,
    InvalidOptionsError,
    ProviderKeyError,
    ProviderOptionsWarning,
)
from tidb_embed_orm.testing.provider_server import ProviderServer

from .test_alembic_sqlite_rebuild import rows, run_migration

KEY = "sk-engine-SECRET-0123456789"
OPENAI_16 = AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=16)


def docs_table(column_type=OPENAI_16, name="docs"):
    return Table(name, MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
                 Column("embedding", column_type))


@pytest.fixture
def openai_server():
    with ProviderServer("openai") as server:
        yield server


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'app.db'}")
    yield engine
    engine.dispose()


def nearest(conn, table, text):
    return conn.execute(select(table.c.id).order_by(table.c.embedding.cosine_distance(text)).limit(1)).scalar()


def test_without_a_key_the_embedded_engine_says_how_to_set_one_in_one_line(engine, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TIDB_EXP_EMBED_OPENAI_API_KEY", raising=False)
    table = docs_table()
    table.create(engine)
    with pytest.raises(EmbeddingUnavailableError) as info, engine.begin() as conn:
        conn.execute(insert(table), [{"id": 1, "content": "hello"}])
    message = str(info.value)
    assert "\n" not in message
    assert "no OpenAI API key is set" in message and "SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_KEY" in message
    assert "OPENAI_API_KEY environment variable" in message
    with engine.connect() as conn:
        assert conn.execute(select(table.c.id)).all() == []  # nothing half-written


def test_set_global_key_and_base_on_the_embedded_engine(engine, openai_server):
    table = docs_table()
    table.create(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_KEY = '{KEY}'")
        conn.exec_driver_sql(f"SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE = '{openai_server.base_url}'")
        conn.execute(insert(table), [{"id": 1, "content": "Java island"}, {"id": 2, "content": "Dark roast"}])
    with engine.connect() as conn:
        assert nearest(conn, table, "Dark roast") == 2
    first = openai_server.requests[0]
    assert first["headers"]["Authorization"] == f"Bearer {KEY}"
    assert first["body"] == {"model": "text-embedding-3-small", "input": ["Dark roast", "Java island"],
                             "encoding_format": "base64", "dimensions": 16}
    with engine.begin() as conn:  # '' resets the base to OpenAI's, as on TiDB
        conn.exec_driver_sql("SET @@GLOBAL.TIDB_EXP_EMBED_OPENAI_API_BASE = ''")
    from tidb_embed_orm.providers import client_credentials

    assert client_credentials(engine.dialect, "openai").base_url is None


def test_configure_provider_and_a_new_base_takes_effect_at_once(engine, openai_server):
    table = docs_table()
    table.create(engine)
    configure_provider(engine, "openai", KEY, base_url=openai_server.base_url)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": 1, "content": "one"}])
    with ProviderServer("openai") as other:  # e.g. moving from OpenAI to a local Ollama
        configure_provider(engine, "openai", KEY, base_url=other.base_url)
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": 2, "content": "one"}])  # same text: not served from the old cache
        assert len(other.requests) == 1
    assert len(openai_server.requests) == 1


def test_a_plain_http_base_to_another_machine_is_refused_when_configured(engine):
    with pytest.raises(ProviderKeyError, match="plain http to another machine"):
        configure_provider(engine, "openai", KEY, base_url="http://gpu-box.example:8000/v1")


def test_environment_variables_in_client_mode(tmp_path, openai_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'client.db'}"))
    table = docs_table()
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "content": f"text {i}"} for i in range(20)])
    with engine.connect() as conn:
        assert nearest(conn, table, "text 7") == 7
    assert openai_server.requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    engine.dispose()


def test_cohere_stores_documents_and_searches_queries_with_its_input_types(engine):
    column_type = AutoEmbeddingVector("cohere/embed-english-v3.0", source="content")
    assert column_type.options == {"input_type": "search_document", "input_type@search": "search_query"}
    table = docs_table(column_type)
    table.create(engine)
    with ProviderServer("cohere") as server:
        configure_provider(engine, "cohere", KEY, base_url=server.base_url)
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": 1, "content": "a"}, {"id": 2, "content": "b"}])
            nearest(conn, table, "b")
        stored, query = (r["body"] for r in server.requests)
    assert stored == {"model": "embed-english-v3.0", "texts": ["a", "b"], "input_type": "search_document"}
    assert query == {"model": "embed-english-v3.0", "texts": ["b"], "input_type": "search_query"}


@pytest.mark.parametrize("model, expected", [
    ("cohere/embed-v4.0", '{"input_type":"search_document","input_type@search":"search_query"}'),
    ("jina_ai/jina-embeddings-v4", '{"task":"retrieval.passage","task@search":"retrieval.query"}'),
    ("gemini/gemini-embedding-001", '{"task_type":"RETRIEVAL_DOCUMENT","task_type@search":"RETRIEVAL_QUERY"}'),
    ("nvidia_nim/nvidia/nv-embed-v1", '{"input_type":"passage","input_type@search":"query"}'),
    ("tidbcloud_free/cohere/embed-multilingual-v3", '{"input_type":"search_document","input_type@search":"search_query"}'),
])
def test_provider_defaults_are_in_the_ddl_tidb_receives(model, expected):
    ddl = str(CreateTable(docs_table(AutoEmbeddingVector(model, source="content"))).compile(dialect=mysql.dialect()))
    assert f"EMBED_TEXT('{model}', `content`, '{expected}')" in ddl


def test_a_choice_of_your_own_is_kept():
    column_type = AutoEmbeddingVector("cohere/embed-v4.0", source="c", options={"input_type": "classification"})
    assert column_type.options == {"input_type": "classification"}
    assert AutoEmbeddingVector("nvidia_nim/baai/bge-m3", source="c").options is None  # symmetric model


def test_the_provider_name_is_read_as_tidb_reads_it():
    assert AutoEmbeddingVector(" OpenAI/text-embedding-3-small", source="c").model == "openai/text-embedding-3-small"


def test_gemini_sizes_top_level_or_nested():
    with pytest.warns(ProviderOptionsWarning, match="embedding_config"):
        nested = AutoEmbeddingVector("gemini/gemini-embedding-001", source="c",
                                     options={"embedding_config": {"output_dimensionality": 768}})
    assert nested.dim == 768 and "output_dimensionality" not in nested.options  # not written twice
    assert AutoEmbeddingVector("gemini/gemini-embedding-001", source="c", dim=768).options[
        "output_dimensionality"] == 768
    with pytest.raises(DimensionError, match="contradicts"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ProviderOptionsWarning)
        AutoEmbeddingVector("gemini/gemini-embedding-001", source="c", dim=1024,
                            options={"embedding_config": {"output_dimensionality": 768}})


def test_options_a_provider_cannot_answer_are_refused_and_ignored_ones_warned():
    with pytest.raises(InvalidOptionsError, match="embedding_types.*TiDB's Cohere adapter cannot read"):
        AutoEmbeddingVector("cohere/embed-v4.0", source="c", options={"embedding_types": ["int8"]})
    with pytest.warns(ProviderOptionsWarning, match="'encoding_format' of 'openai/text-embedding-3-small' is ignored"):
        AutoEmbeddingVector("openai/text-embedding-3-small", source="c", options={"encoding_format": "float"})


def test_tidbcloud_free_is_refused_offline_naming_the_byok_model(engine):
    table = docs_table(AutoEmbeddingVector("tidbcloud_free/cohere/embed-multilingual-v3", source="content"))
    table.create(engine)
    with pytest.raises(EmbeddingUnavailableError) as info, engine.begin() as conn:
        conn.execute(insert(table), [{"id": 1, "content": "x"}])
    assert "only by TiDB Cloud's own inference service" in str(info.value)
    assert "'cohere/embed-multilingual-v3.0'" in str(info.value) and "COHERE_API_KEY" in str(info.value)


def test_an_async_engine(tmp_path, openai_server):
    async def main():
        engine = create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 'async.db'}")
        await configure_provider(engine, "openai", KEY, base_url=openai_server.base_url)
        table = docs_table()
        async with engine.begin() as conn:
            await conn.run_sync(table.create)
            await conn.execute(insert(table), [{"id": 1, "content": "alpha"}, {"id": 2, "content": "beta"}])
            found = (await conn.execute(
                select(table.c.id).order_by(table.c.embedding.cosine_distance("beta")).limit(1))).scalar()
        await engine.dispose()
        return found

    assert asyncio.run(main()) == 2
    assert sorted(openai_server.requests[0]["body"]["input"]) == ["alpha", "beta"]


def test_an_alembic_rebuild_switches_a_column_to_openai(tmp_path, openai_server):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'blog.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("INSERT INTO posts (body) VALUES (?)", [(f"post {i}",) for i in range(40)])
    configure_provider(engine, "openai", KEY, base_url=openai_server.base_url)
    run_migration(tmp_path, engine, """
op.add_auto_embedding_column("posts", sa.Column("embedding", tidb_embed_orm.AutoEmbeddingVector(
    "openai/text-embedding-3-small", source="body", dim=16)))
""")
    with engine.connect() as conn:
        assert rows(conn, "SELECT count(*) FROM posts WHERE embedding IS NULL") == [(0,)]
        assert rows(conn, "SELECT DISTINCT vec_dims(embedding) FROM posts") == [(16,)]
    sizes = [len(r["body"]["input"]) for r in openai_server.requests]
    assert sum(sizes) == 40 and max(sizes) <= 16
    engine.dispose()


PER_PROVIDER = [
    ("openai", AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=16), {}, {}),
    ("cohere", AutoEmbeddingVector("cohere/embed-v4.0", source="content", dim=256),
     {"input_type": "search_document"}, {"input_type": "search_query"}),
    ("jina_ai", AutoEmbeddingVector("jina_ai/jina-embeddings-v3", source="content", dim=32),
     {"task": "retrieval.passage"}, {"task": "retrieval.query"}),
    ("gemini", AutoEmbeddingVector("gemini/gemini-embedding-001", source="content", dim=128),
     {"task_type": "RETRIEVAL_DOCUMENT"}, {"task_type": "RETRIEVAL_QUERY"}),
    ("nvidia_nim", AutoEmbeddingVector("nvidia_nim/nvidia/nv-embed-v1", source="content"),
     {"input_type": "passage"}, {"input_type": "query"}),
]


def sent_options(provider, body):
    """The EMBED_TEXT options as they reached the server (Gemini: on each request of the batch)."""
    fixed = {"model", "input", "texts", "encoding_format", "embedding_type", "content",
             "dimensions", "output_dimension", "output_dimensionality"}
    items = body["requests"] if provider == "gemini" else [body]
    found = [{k: v for k, v in item.items() if k not in fixed} for item in items]
    assert all(options == found[0] for options in found)
    return found[0]


@pytest.mark.parametrize("client_mode", [False, True], ids=["embedded", "client-mode"])
@pytest.mark.parametrize("provider, column_type, stored, query", PER_PROVIDER, ids=[p[0] for p in PER_PROVIDER])
def test_every_provider_stores_and_searches_with_its_own_options(tmp_path, provider, column_type, stored, query,
                                                                 client_mode):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'p.db'}")
    if client_mode:
        engine = use_client_embedding(engine)
    table = docs_table(column_type)
    table.create(engine)
    with ProviderServer(provider) as server:
        configure_provider(engine, provider, KEY, base_url=server.base_url)
        with engine.begin() as conn:
            conn.execute(insert(table), [{"id": i, "content": f"document {i}"} for i in range(20)])
        with engine.connect() as conn:
            assert nearest(conn, table, "which document?") in range(20)  # the server's vectors mean nothing
            assert rows(conn, "SELECT DISTINCT vec_dims(embedding) FROM docs") == [(column_type.dim,)]
        *writes, search = server.requests
    assert sum(len(w["body"].get("requests") or w["body"].get("input") or w["body"]["texts"]) for w in writes) == 20
    assert all(sent_options(provider, w["body"]) == stored for w in writes)
    assert sent_options(provider, search["body"]) == query
    engine.dispose()


def test_raw_tidb_sql_with_a_capitalised_provider(engine, openai_server):
    # TiDB trims and lower-cases the provider of EMBED_TEXT's model name; so does the embedded engine.
    configure_provider(engine, "openai", KEY, base_url=openai_server.base_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE notes (id INT PRIMARY KEY, c TEXT, v VECTOR(16) GENERATED ALWAYS AS "
            """(EMBED_TEXT('OpenAI/text-embedding-3-small', c, '{"dimensions": 16}')) STORED)""")
        conn.exec_driver_sql("INSERT INTO notes (id, c) VALUES (1, 'alpha'), (2, 'beta')")
        assert rows(conn, "SELECT count(*) FROM notes WHERE vec_dims(v) = 16") == [(2,)]
    assert openai_server.requests[0]["body"]["model"] == "text-embedding-3-small"


def test_provider_defaults_survive_reflection_and_autogenerate_sees_no_change(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from tidb_embed_orm.alembic.render import python_source

    metadata = MetaData()
    Table("docs", metadata, Column("id", Integer, primary_key=True), Column("content", Text),
          Column("embedding", AutoEmbeddingVector("cohere/embed-english-v3.0", source="content")))
    metadata.create_all(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        reflected = Table("docs", MetaData(), autoload_with=conn).c.embedding.type
    assert reflected.options == {"input_type": "search_document", "input_type@search": "search_query"}
    # A migration script spells the defaults out: it keeps meaning the same if the defaults change later.
    assert "options={'input_type': 'search_document', 'input_type@search': 'search_query'}" in python_source(reflected)
