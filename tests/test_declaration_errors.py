"""Bad declarations fail at declaration time, with a message that says how to fix them."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, inspect, select
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateTable

from tidb_embed_orm import (
    AutoEmbeddingVector,
    DimensionError,
    InvalidOptionsError,
    SourceColumnError,
    UnknownModelError,
    Vector,
    use_client_embedding,
)
from tidb_embed_orm.catalog import EmbeddingModel, register_model
from tidb_embed_orm.embedders import HashingTestEmbedder

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"


def test_dim_is_taken_from_the_registry():
    assert AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content").dim == 1024


def test_dim_contradicting_the_registry_is_refused():
    with pytest.raises(DimensionError, match=r"'huggingface/BAAI/bge-m3' produces 1024-dimensional vectors, not 768"):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", dim=768)


def test_unknown_model_without_dim_is_refused():
    with pytest.raises(UnknownModelError, match=r"not in the registry.*pass dim=N explicitly.*huggingface/BAAI/bge-m3"):
        AutoEmbeddingVector("huggingface/acme/secret-model", source="content")


def test_unknown_model_with_dim_is_accepted():
    assert AutoEmbeddingVector("huggingface/acme/secret-model", source="content", dim=256).dim == 256


@pytest.mark.parametrize("name", ["bge-m3", "huggingface/", "/BAAI/bge-m3", "hugging face/x", "", "huggingface/a b"])
def test_malformed_model_names_are_refused(name):
    with pytest.raises(UnknownModelError, match="malformed model name"):
        AutoEmbeddingVector(name, source="content")


def test_unknown_provider_is_refused_listing_the_known_ones():
    with pytest.raises(UnknownModelError, match=r"unknown provider 'acme'.*huggingface.*openai"):
        AutoEmbeddingVector("acme/model", source="content")


def test_selectable_dimensions_send_the_provider_option():
    column_type = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="content", dim=512)
    assert column_type.dim == 512
    assert column_type.options == {"dimensions": 512}
    with pytest.raises(DimensionError, match="1024 .or one of its other sizes: 512, 256."):
        AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="content", dim=300)


def test_openai_range_of_dimensions():
    # OpenAI's `dimensions` takes any size from 1 to the model's (TiDB passes it through unchecked);
    # the docs' 512-1536 are examples, not limits.
    column_type = AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=768)
    assert column_type.options == {"dimensions": 768}
    assert AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=100).options == {"dimensions": 100}
    with pytest.raises(DimensionError, match="1..1536"):
        AutoEmbeddingVector("openai/text-embedding-3-small", source="content", dim=2000)


@pytest.mark.parametrize("dim", [0, -3, 16384, 2.5, True])
def test_vector_dimension_bounds(dim):
    with pytest.raises(DimensionError):
        Vector(dim)


def test_options_must_be_json():
    with pytest.raises(TypeError, match="JSON"):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", options={"x": object()})


def test_options_are_read_only():
    column_type = AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", options={"a": 1})
    with pytest.raises(TypeError, match="read-only"):
        column_type.options["a"] = 2


def test_source_is_required():
    with pytest.raises(TypeError, match="source must be the name"):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="")


def test_registering_a_model_lets_dim_be_left_out():
    register_model(EmbeddingModel("huggingface/acme/registered-model", 64))
    assert AutoEmbeddingVector("huggingface/acme/registered-model", source="body").dim == 64


# --- Names: what reaches URLs and folders --------------------------------------------------------


@pytest.mark.parametrize("name", [
    "huggingface/x/../../admin",  # leaves {base}/models/ and the models folder
    "huggingface/BAAI/bge-m3\n",  # a trailing newline
    "huggingface/BAAI/bge-m3 ",
    "huggingface/BAAI/./bge-m3",
    "huggingface/BAAI//bge-m3",
    "huggingface/../bge-m3",
    "huggingface/BAAI/bge\tm3",
    "huggingface/BAAI/bgé-m3",
    "huggingface/BAAI/bge-m3?x=1",
    "huggingface/BAAI/bge%2F..",
    "openai/text-embedding-3-small/",
])
def test_model_names_that_could_leave_their_place_are_refused(name):
    with pytest.raises(UnknownModelError, match="malformed model name"):
        AutoEmbeddingVector(name, source="content", dim=8)


@pytest.mark.parametrize("name, shape", [
    ("huggingface/bge-m3", "huggingface/org/name"),
    ("huggingface/a/b/c", "huggingface/org/name"),
    ("openai/a/b/c", "openai/name or org/name"),
])
def test_model_names_have_their_providers_shape(name, shape):
    with pytest.raises(UnknownModelError, match=f"named '{shape}'"):
        AutoEmbeddingVector(name, source="content", dim=8)


# --- Options: a JSON object the database keeps and gives back --------------------------------------


@pytest.mark.parametrize("options, problem", [
    ({"temperature": float("nan")}, "finite"),
    ({"x": float("inf")}, "finite"),
    ({"x": [1.0, float("-inf")]}, "finite"),
    ({1: "a"}, "keys must be strings"),
    ({"nested": {2: "b"}}, "keys must be strings"),
    ({"x": {1, 2}}, "JSON values"),
    ({"x": "\ud800"}, "lone surrogate"),
    ([("dimensions", 256)], "JSON object"),
])
def test_options_must_be_a_json_object_with_string_keys_and_finite_numbers(options, problem):
    with pytest.raises(InvalidOptionsError, match=problem):
        AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", options=options)


def test_options_are_kept_as_the_json_the_database_stores():
    column_type = AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="content", options={"a": (1, 2), "é": "ü"})
    assert column_type.options == {"a": [1, 2], "é": "ü"}
    assert json.loads(column_type.options_json) == {"a": [1, 2], "é": "ü"}


# --- The options' dimension and the column's agree ---------------------------------------------------


@pytest.mark.parametrize("model, dim, options", [
    ("openai/text-embedding-3-large", None, {"dimensions": 0.5}),
    ("openai/text-embedding-3-large", 1024, {"dimensions": 256}),  # VECTOR(1024) holding 256-d vectors
    ("tidbcloud_free/amazon/titan-embed-text-v2", 512, {"dimensions": 256}),
    ("huggingface/BAAI/bge-m3", None, {"dimensions": 256}),  # a fixed-size model
    ("cohere/embed-v4.0", None, {"dimensions": 256}),  # cohere's option is output_dimension
    ("huggingface/acme/unregistered", 1024, {"dimensions": 256}),
    ("huggingface/acme/unregistered", 1024, {"output_dimensionality": 768}),
])
def test_options_asking_for_another_size_than_the_column_are_refused(model, dim, options):
    with pytest.raises(DimensionError, match=r"options\["):
        AutoEmbeddingVector(model, source="content", dim=dim, options=options)


def test_a_size_asked_for_in_options_becomes_the_columns():
    column_type = AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="c", options={"dimensions": 256})
    assert (column_type.dim, column_type.options) == (256, {"dimensions": 256})
    assert " ".join(str(CreateTable(Table("t", MetaData(), Column("c", Text), Column("v", column_type)))
                        .compile(dialect=mysql.dialect())).split()).count("VECTOR(256)") == 1
    with pytest.raises(DimensionError, match="not 300"):
        AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="c", options={"dimensions": 300})
    agreeing = AutoEmbeddingVector("openai/text-embedding-3-large", source="c", dim=1024, options={"dimensions": 1024})
    assert agreeing.dim == 1024


# --- source names a column of the table ---------------------------------------------------------------


def test_a_source_naming_no_column_is_refused_when_the_table_is_complete():
    with pytest.raises(SourceColumnError) as info:
        Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
              Column("embedding", AutoEmbeddingVector(MINILM, source="contnet")))
    message = str(info.value)
    assert "docs.embedding is AutoEmbeddingVector(source='contnet')" in message
    assert "its columns: id, content" in message and "did you mean source='content'?" in message
    assert "the name of the text column in the database" in message


def test_columns_may_be_declared_in_any_order():
    table = Table("docs", MetaData(), Column("embedding", AutoEmbeddingVector(MINILM, source="content")),
                  Column("id", Integer, primary_key=True), Column("content", Text))
    assert table.c.embedding.computed is not None


def test_orm_attribute_name_instead_of_column_name_is_refused():
    class Base(DeclarativeBase):
        pass

    with pytest.raises(SourceColumnError, match=r"its columns: id, body_text.*not an ORM attribute name"):
        class Doc(Base):
            __tablename__ = "docs"
            id: Mapped[int] = mapped_column(primary_key=True)
            body: Mapped[str] = mapped_column("body_text", Text)
            embedding = mapped_column(AutoEmbeddingVector(MINILM, source="body"))


def test_a_core_key_instead_of_the_column_name_is_named_in_the_error():
    with pytest.raises(SourceColumnError, match="'body' is the key of the column named 'body_text': write source='body_text'"):
        Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("body_text", Text, key="body"),
              Column("embedding", AutoEmbeddingVector(MINILM, source="body")))


@pytest.mark.parametrize("client_mode", [False, True], ids=["embedded", "client-mode"])
def test_the_key_of_a_column_is_not_its_source(client_mode):
    """source is the database name: a column with key= differing from its name still gets vectors."""
    table = Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("body_text", Text, key="body"),
                  Column("embedding", AutoEmbeddingVector(MINILM, source="body_text")))
    engine = create_engine("sqlite+tidb_embed://", embedders={MINILM: HashingTestEmbedder(384)})
    if client_mode:
        use_client_embedding(engine, embedders={MINILM: HashingTestEmbedder(384)})
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "body": "hello"}])
        assert conn.execute(select(table.c.embedding)).scalar_one() is not None


def typo_appended_later() -> Table:
    """A typo the table-level check cannot see: the column joins after the table is complete."""
    table = Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text))
    table.append_column(Column("embedding", AutoEmbeddingVector(MINILM, source="contnet")))
    return table


@pytest.mark.parametrize("dialect", [mysql.dialect(), sqlite.dialect(), postgresql.dialect()], ids=lambda d: d.name)
def test_create_table_refuses_a_source_naming_no_column_on_every_dialect(dialect):
    with pytest.raises(SourceColumnError, match="no column named 'contnet'"):
        CreateTable(typo_appended_later()).compile(dialect=dialect)


@pytest.mark.parametrize("client_mode", [False, True], ids=["embedded", "client-mode"])
def test_nothing_is_created_or_embedded_with_a_source_naming_no_column(client_mode):
    embedder = HashingTestEmbedder(384)
    engine = create_engine("sqlite+tidb_embed://", embedders={MINILM: embedder}, poolclass=StaticPool)
    if client_mode:
        use_client_embedding(engine, embedders={MINILM: embedder})
    table = typo_appended_later()
    with pytest.raises(SourceColumnError):
        table.metadata.create_all(engine)
    assert inspect(engine).get_table_names() == []
    # The table as the database has it (right source); a stale model with the typo writes to it.
    good = Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
                 Column("embedding", AutoEmbeddingVector(MINILM, source="content")))
    good.metadata.create_all(engine)
    with pytest.raises(SourceColumnError, match="no column named 'contnet'"), engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "content": "hello"}])
    with engine.connect() as conn:
        assert conn.execute(select(good.c.id)).all() == []
    assert embedder.texts_embedded == 0


def test_alembic_add_column_stand_in_table_is_not_refused():
    """op.add_column builds Table(name, MetaData(), new_column): the source lives in the database."""
    table = Table("docs", MetaData(), Column("embedding", AutoEmbeddingVector(MINILM, source="content")))
    assert table.c.embedding.computed is not None
