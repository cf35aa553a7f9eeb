"""Reading TiDB's stored schema back: vector(N) and EMBED_TEXT generation expressions."""

from __future__ import annotations

import warnings

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, inspect
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects.mysql.pymysql import MySQLDialect_pymysql
from sqlalchemy.pool import StaticPool

import tidb_embed_orm.alembic  # noqa: F401  (autogenerate comparators)
from tidb_embed_orm import AutoEmbeddingVector, Vector
from tidb_embed_orm.sql.auto_embedding import DIMENSION_OPTION_KEYS
from tidb_embed_orm.sql.reflection import _reflect_auto_embedding, parse_embed_text, with_auto_embedding

BGE = "huggingface/BAAI/bge-m3"

# What TiDB keeps in information_schema.COLUMNS.GENERATION_EXPRESSION and SHOW CREATE TABLE.
TIDB_STORED = [
    (
        "embed_text(_utf8mb4'huggingface/BAAI/bge-m3', `content`)",
        ("huggingface/BAAI/bge-m3", "content", None),
    ),
    (
        "embed_text(_utf8mb4'huggingface/sentence-transformers/all-MiniLM-L6-v2', `content`)",
        ("huggingface/sentence-transformers/all-MiniLM-L6-v2", "content", None),
    ),
    (
        "embed_text(_utf8mb4'tidbcloud_free/amazon/titan-embed-text-v2', `body text`, _utf8mb4'{\"dimensions\": 512}')",
        ("tidbcloud_free/amazon/titan-embed-text-v2", "body text", {"dimensions": 512}),
    ),
    ("EMBED_TEXT('huggingface/BAAI/bge-m3', \"content\")", ("huggingface/BAAI/bge-m3", "content", None)),
    ("(EMBED_TEXT('huggingface/BAAI/bge-m3', content))", ("huggingface/BAAI/bge-m3", "content", None)),
    # TiDB doubles ' and keeps \ as is (RestoreStringSingleQuotes, no RestoreStringEscapeBackslash).
    ("embed_text(_utf8mb4'openai/text-embedding-3-small', `it``s`, _utf8mb4'{\"a\":\"b''c \\\"q\\\" \\\\\"}')",
     ("openai/text-embedding-3-small", "it`s", {"a": "b'c \"q\" \\"})),
    # SQLite keeps the CREATE TABLE text: ' doubled, no escapes at all.
    ("EMBED_TEXT('huggingface/BAAI/bge-m3', \"it\"\"s\", '{\"é\":\"\\u00e9\\n''\"}')",
     ("huggingface/BAAI/bge-m3", 'it"s', {"é": "é\n'"})),
]


@pytest.mark.parametrize("stored, expected", TIDB_STORED)
def test_parse_stored_generation_expressions(stored, expected):
    parsed = parse_embed_text(stored)
    assert (parsed.model, parsed.source, parsed.options) == expected


@pytest.mark.parametrize("other", ["concat(`a`, `b`)", "", "embed_text(`content`)", "upper(embed_text('m/x', c))"])
def test_other_expressions_are_not_auto_embedding(other):
    assert parse_embed_text(other) is None


SHOW_CREATE_TABLE = """CREATE TABLE `sample` (
  `id` int(11) DEFAULT NULL,
  `content` text DEFAULT NULL,
  `embedding` vector(1024) GENERATED ALWAYS AS (embed_text(_utf8mb4'huggingface/BAAI/bge-m3', `content`)) STORED,
  `titan` vector(512) GENERATED ALWAYS AS (embed_text(_utf8mb4'tidbcloud_free/amazon/titan-embed-text-v2', `content`, _utf8mb4'{"dimensions":512}')) STORED,
  `plain` vector(3) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""


def reflect_columns(show_create: str) -> dict:
    """Run SQLAlchemy's own MySQL reflection parser on TiDB's SHOW CREATE TABLE, then our hook."""
    dialect = mysql.dialect()
    dialect._connection_charset = "utf8mb4"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Did not recognize type 'vector'" would fail here
        parser = dialect._tabledef_parser
        state = parser.parse(show_create, "utf8mb4")
    columns = {}
    for info in state.columns:
        _reflect_auto_embedding(None, None, info)
        columns[info["name"]] = info
    return columns


def test_mysql_reflection_of_tidb_table():
    columns = reflect_columns(SHOW_CREATE_TABLE)
    assert type(columns["plain"]["type"]) is Vector and columns["plain"]["type"].dim == 3
    embedding = columns["embedding"]["type"]
    assert isinstance(embedding, AutoEmbeddingVector)
    assert (embedding.model, embedding.source, embedding.dim) == ("huggingface/BAAI/bge-m3", "content", 1024)
    assert "computed" not in columns["embedding"]
    titan = columns["titan"]["type"]
    assert (titan.dim, titan.options) == (512, {"dimensions": 512})


# --- Every option value survives the round trip, on both dialects -----------------------------------

TRICKY = "'\"\\`\n\r\t\x00\x1f,()[]{}%?:é中😀 "
tricky_text = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(codec="utf-8"), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | tricky_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=8,
)
tricky_options = st.dictionaries(
    tricky_text.filter(lambda key: key not in DIMENSION_OPTION_KEYS), json_values, min_size=1, max_size=4
)
source_names = st.sampled_from(["content", "body text", 'it"s', "it's", "a`b", "x,y)", "ünïcode", "select", "a]b"])


def same(reflected, declared: AutoEmbeddingVector) -> bool:
    assert isinstance(reflected, AutoEmbeddingVector), reflected
    fields = ("model", "source", "dim", "options", "options_json")
    return [getattr(reflected, f) for f in fields] == [getattr(declared, f) for f in fields]


def tidb_generation_expression(column_type: AutoEmbeddingVector) -> str:
    """What TiDB keeps in GENERATION_EXPRESSION / SHOW CREATE TABLE: format.RestoreCtx.WriteString
    with RestoreStringSingleQuotes (' doubled, backslashes as is), names back-quoted (` doubled)."""
    def string(value: str) -> str:
        return "_utf8mb4'" + value.replace("'", "''") + "'"

    args = [string(column_type.model), "`" + column_type.source.replace("`", "``") + "`"]
    if column_type.options_json is not None:
        args.append(string(column_type.options_json))
    return f"embed_text({', '.join(args)})"


@settings(max_examples=150, deadline=None)
@given(options=tricky_options, source=source_names)
def test_tidb_generation_expressions_round_trip(options, source):
    declared = AutoEmbeddingVector(BGE, source=source, options=options)
    parsed = parse_embed_text(tidb_generation_expression(declared))
    assert (parsed.model, parsed.source, parsed.options) == (BGE, source, declared.options)


@settings(max_examples=60, deadline=None)
@given(options=tricky_options)
def test_tidb_show_create_table_round_trips_through_get_columns(options):
    """SQLAlchemy's own MySQL reflection (the SHOW CREATE TABLE parser), then get_columns' typing."""
    declared = AutoEmbeddingVector(BGE, source="content", options=options)
    show_create = (
        "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `content` text DEFAULT NULL,\n"
        f"  `embedding` vector(1024) GENERATED ALWAYS AS ({tidb_generation_expression(declared)}) STORED,\n"
        "  PRIMARY KEY (`id`) /*T![clustered_index] CLUSTERED */\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    reflected = {c["name"]: c for c in with_auto_embedding(ShowCreateTable(show_create).get_columns(None, "t"))}
    assert same(reflected["embedding"]["type"], declared)


class ShowCreateTable(MySQLDialect_pymysql):
    """The mysql dialect reading a given SHOW CREATE TABLE text instead of asking a server."""

    def __init__(self, show_create: str) -> None:
        super().__init__()
        self._connection_charset, self.server_version_info = "utf8mb4", (8, 0, 11)
        self.show_create = show_create

    def _show_create_table(self, connection, table, charset=None, full_name=None):
        return self.show_create


def test_mysql_get_columns_typed_by_with_auto_embedding_and_the_dialect_is_not_patched():
    from sqlalchemy.dialects.mysql.base import MySQLDialect

    assert "tidb_embed" not in repr(MySQLDialect.get_columns.__code__)
    raw = {c["name"]: c for c in ShowCreateTable(SHOW_CREATE_TABLE).get_columns(None, "sample")}
    assert type(raw["embedding"]["type"]) is Vector and "embed_text" in raw["embedding"]["computed"]["sqltext"]
    columns = {c["name"]: c for c in with_auto_embedding(list(raw.values()))}
    assert same(columns["embedding"]["type"], AutoEmbeddingVector(BGE, source="content"))
    assert "computed" not in columns["embedding"]
    assert type(columns["plain"]["type"]) is Vector


@pytest.fixture(scope="module")
def embedded():
    engine = create_engine("sqlite+tidb_embed://", poolclass=StaticPool)
    yield engine
    engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=tricky_options, source=source_names)
def test_embedded_engine_round_trips_options_from_its_create_table(embedded, options, source):
    metadata = MetaData()
    declared = AutoEmbeddingVector(BGE, source=source, options=options)
    Table("t", metadata, Column("id", Integer, primary_key=True), Column(source, Text),
          Column("embedding", declared), Column("after", Text))
    metadata.drop_all(embedded)
    metadata.create_all(embedded)
    columns = {c["name"]: c for c in inspect(embedded).get_columns("t")}
    assert same(columns["embedding"]["type"], declared)
    assert "computed" not in columns["embedding"]
    assert [type(c["type"]).__name__ for c in columns.values()].count("AutoEmbeddingVector") == 1
    reflected = Table("t", MetaData(), autoload_with=embedded)
    assert same(reflected.c.embedding.type, declared)


def test_autogenerate_against_an_up_to_date_embedded_database_is_empty(tmp_path):
    metadata = MetaData()
    Table("docs", metadata, Column("id", Integer, primary_key=True), Column("body text", Text),
          Column("title", Text),
          Column("embedding", AutoEmbeddingVector(BGE, source="body text", options={
              "instruction": "l'été \"chaud\" \\ (a, b)\n\t\x00 中文 😀", "nested": {"k'": ["\\n", 1.5, None]}})),
          Column("titan", AutoEmbeddingVector("tidbcloud_free/amazon/titan-embed-text-v2", source="title",
                                              options={"dimensions": 256, "x": "%s %% ?"})))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata.create_all(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    engine.dispose()
