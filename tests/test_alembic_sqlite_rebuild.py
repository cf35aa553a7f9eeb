"""Rebuilds on the embedded engine keep what the user's schema says, with foreign keys enforced.

The schema is written by hand in SQL (AUTOINCREMENT, collations, CHECKs, an ON DELETE CASCADE
child, expression and partial indexes, a trigger, a view) and foreign keys are turned on the way
SQLAlchemy documents it: a connect event running ``PRAGMA foreign_keys=ON``.
"""

from __future__ import annotations

import math
import textwrap

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event

import tidb_embed_orm.alembic  # noqa: F401
from tidb_embed_orm import use_client_embedding
from tidb_embed_orm.alembic import TableRebuildError
from tidb_embed_orm.alembic.rebuild import plan as rebuild_plan
from tidb_embed_orm.embedders import HashingTestEmbedder

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
BGE = "huggingface/BAAI/bge-m3"

ENV_PY = """
from alembic import context
import tidb_embed_orm.alembic  # noqa: F401

context.configure(connection=context.config.attributes["connection"], target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""

SCHEMA = [
    f"""CREATE TABLE posts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT COLLATE NOCASE NOT NULL CHECK (length(title) > 0),
        body TEXT,
        embedding VECTOR(384) GENERATED ALWAYS AS (EMBED_TEXT('{MINILM}', "body")) STORED
    )""",
    "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL REFERENCES posts(id) "
    "ON DELETE CASCADE, note TEXT)",
    "CREATE TABLE audit (post_id INTEGER, what TEXT)",
    "CREATE INDEX ix_posts_lower_title ON posts (lower(title))",
    "CREATE INDEX ix_posts_long_body ON posts (title) WHERE length(body) > 12",
    "CREATE TRIGGER posts_audit AFTER UPDATE OF body ON posts BEGIN INSERT INTO audit VALUES (new.id, 'body'); END",
]
VIEW = "CREATE VIEW post_titles AS SELECT id, title FROM posts"


def foreign_keys_on(engine):
    @event.listens_for(engine, "connect")
    def _on(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


def make_engine(path, embedders=None, **kwargs):
    embedders = embedders or {MINILM: HashingTestEmbedder(384), BGE: HashingTestEmbedder(1024)}
    return foreign_keys_on(create_engine(f"sqlite+tidb_embed:///{path}", embedders=embedders, **kwargs))


@pytest.fixture
def db(tmp_path):
    """The file of a database holding 12 posts (3 deleted, so the sequence is ahead) and 50 comments."""
    path = tmp_path / "blog.db"
    engine = make_engine(path)
    with engine.begin() as conn:
        for statement in SCHEMA:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(
            "INSERT INTO posts (title, body) VALUES (?, ?)",
            [(f"Post {i}", f"body of post number {i}" if i % 4 else None) for i in range(15)],
        )
        conn.exec_driver_sql("DELETE FROM posts WHERE id > 12")
        conn.exec_driver_sql(
            "INSERT INTO comments (post_id, note) VALUES (?, ?)", [(1 + i % 12, f"comment {i}") for i in range(50)]
        )
    engine.dispose()
    return path


def run_migration(tmp_path, engine, upgrade_body: str) -> None:
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True, exist_ok=True)
    (directory / "env.py").write_text(ENV_PY)
    (directory / "script.py.mako").write_text("")
    (directory / "versions" / "0001_change.py").write_text(textwrap.dedent('''
        import sqlalchemy as sa
        from alembic import op
        import tidb_embed_orm

        revision = "0001"
        down_revision = None

        def upgrade():
    ''') + textwrap.indent(textwrap.dedent(upgrade_body), "    "))
    config = Config()
    config.set_main_option("script_location", str(directory))
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()


ADD_TITLE_VEC = """
op.add_auto_embedding_column("posts", sa.Column("title_vec", tidb_embed_orm.AutoEmbeddingVector(
    "huggingface/BAAI/bge-m3", source="title")))
"""
ALTER_MODEL = """
op.alter_auto_embedding("posts", "embedding", tidb_embed_orm.AutoEmbeddingVector(
    "huggingface/BAAI/bge-m3", source="body"))
"""


def schema_objects(conn) -> dict[str, str]:
    rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND type != 'table'")
    return dict(rows.all())


def rows(conn, sql):
    return conn.exec_driver_sql(sql).all()


@pytest.mark.parametrize("change", [ADD_TITLE_VEC, ALTER_MODEL], ids=["add", "alter"])
def test_child_rows_survive_with_foreign_keys_on(db, tmp_path, change):
    engine = make_engine(db)
    run_migration(tmp_path, engine, change)
    with engine.connect() as conn:
        assert rows(conn, "PRAGMA foreign_keys") == [(1,)]  # back on, as the user set it
        assert rows(conn, "SELECT count(*) FROM comments") == [(50,)]
        assert rows(conn, "PRAGMA foreign_key_check") == []
        conn.exec_driver_sql("DELETE FROM posts WHERE id = 1")  # the foreign key still cascades
        assert rows(conn, "SELECT count(*) FROM comments") == [(50 - 5,)]
        conn.rollback()
    engine.dispose()


def test_triggers_indexes_views_autoincrement_and_collations_are_kept(db, tmp_path):
    engine = make_engine(db)
    with engine.connect() as conn:
        conn.exec_driver_sql(VIEW)
        conn.commit()
        objects = schema_objects(conn)
        posts_before = rows(conn, "SELECT id, title, body FROM posts ORDER BY id")
    run_migration(tmp_path, engine, ALTER_MODEL)
    with engine.connect() as conn:
        assert schema_objects(conn) == objects  # both indexes, the trigger and the view, word for word
        create = rows(conn, "SELECT sql FROM sqlite_schema WHERE name = 'posts'")[0][0]
        assert "AUTOINCREMENT" in create and "COLLATE NOCASE" in create and "CHECK (length(title) > 0)" in create
        assert f"EMBED_TEXT('{BGE}', \"body\")" in create
        assert rows(conn, "SELECT id, title, body FROM posts ORDER BY id") == posts_before
        assert rows(conn, "SELECT vec_dims(embedding) FROM posts WHERE id = 2") == [(1024,)]
        assert rows(conn, "SELECT seq FROM sqlite_sequence WHERE name = 'posts'") == [(15,)]
        conn.exec_driver_sql("INSERT INTO posts (title, body) VALUES ('new', 'a new post body')")
        assert rows(conn, "SELECT max(id) FROM posts") == [(16,)]  # ids of deleted posts are not reused
        assert rows(conn, "SELECT count(*) FROM posts WHERE title = 'POST 3'") == [(1,)]  # NOCASE
        conn.exec_driver_sql("UPDATE posts SET body = 'changed body' WHERE id = 3")
        assert rows(conn, "SELECT post_id, what FROM audit") == [(3, "body")]  # the trigger fires
        plan = " ".join(r[-1] for r in rows(conn, "EXPLAIN QUERY PLAN SELECT id FROM posts WHERE lower(title) = 'x'"))
        assert "ix_posts_lower_title" in plan
        assert rows(conn, "SELECT count(*) FROM post_titles") == [(13,)]
        with pytest.raises(Exception, match="CHECK constraint failed"):
            conn.exec_driver_sql("INSERT INTO posts (title) VALUES ('')")
        conn.rollback()
    engine.dispose()


def test_dropping_a_column_a_view_uses_is_refused_and_changes_nothing(db, tmp_path):
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW post_vectors AS SELECT id, embedding FROM posts")
        before = rows(conn, "SELECT sql FROM sqlite_schema WHERE name = 'posts'")
    with pytest.raises(TableRebuildError, match=r"the view 'post_vectors' would no longer work.*embedding"):
        run_migration(tmp_path, engine, 'op.drop_auto_embedding_column("posts", "embedding")')
    with engine.connect() as conn:
        assert rows(conn, "SELECT sql FROM sqlite_schema WHERE name = 'posts'") == before
        assert rows(conn, "SELECT count(*) FROM post_vectors") == [(12,)]
        assert rows(conn, "SELECT count(*) FROM comments") == [(50,)]
    engine.dispose()


@pytest.mark.parametrize("user", [
    "CREATE INDEX ix_posts_embedding ON posts (VEC_COSINE_DISTANCE(embedding))",
    "CREATE TRIGGER posts_vector_audit AFTER UPDATE OF embedding ON posts BEGIN "
    "INSERT INTO audit VALUES (new.id, 'vector'); END",
], ids=["vector index", "trigger"])
def test_dropping_a_column_an_index_or_trigger_uses_is_refused(db, tmp_path, user):
    engine = make_engine(db)
    with engine.begin() as conn:
        conn.exec_driver_sql(user)
        objects = schema_objects(conn)
    with pytest.raises(TableRebuildError, match=r"cannot drop 'embedding' from 'posts': .*(index 'ix_posts_embedding'|"
                                                r"trigger 'posts_vector_audit').* Nothing was changed"):
        run_migration(tmp_path, engine, 'op.drop_auto_embedding_column("posts", "embedding")')
    with engine.connect() as conn:
        assert schema_objects(conn) == objects
    engine.dispose()


def test_a_failed_rebuild_with_foreign_keys_on_changes_nothing(db, tmp_path):
    class Boom:
        def embed(self, texts):
            raise ConnectionError("embedding provider unavailable")

    engine = make_engine(db, {MINILM: HashingTestEmbedder(384), BGE: Boom()})
    with engine.connect() as conn:
        objects, before = schema_objects(conn), rows(conn, "SELECT * FROM posts ORDER BY id")
    with pytest.raises(TableRebuildError, match="embedding provider unavailable.*unchanged"):
        run_migration(tmp_path, engine, ADD_TITLE_VEC)
    with engine.connect() as conn:
        assert schema_objects(conn) == objects
        assert rows(conn, "SELECT * FROM posts ORDER BY id") == before
        assert rows(conn, "SELECT count(*) FROM comments") == [(50,)]
        assert rows(conn, "PRAGMA foreign_keys") == [(1,)]
        assert {r[0] for r in rows(conn, "SELECT name FROM sqlite_schema WHERE type = 'table'")} == {
            "posts", "comments", "audit", "sqlite_sequence", "alembic_version"}
    engine.dispose()


def test_inside_a_transaction_that_has_written_a_referenced_table_is_refused(db, tmp_path):
    engine = make_engine(db)
    with pytest.raises(TableRebuildError, match=r"'comments' reference it.*own migration.*nothing was changed"):
        run_migration(tmp_path, engine, "op.execute(\"INSERT INTO audit VALUES (0, 'before')\")\n" + ADD_TITLE_VEC)
    with engine.connect() as conn:
        assert rows(conn, "SELECT count(*) FROM comments") == [(50,)]
        assert "title_vec" not in rows(conn, "SELECT sql FROM sqlite_schema WHERE name = 'posts'")[0][0]
    engine.dispose()


@pytest.mark.parametrize("chunk", [1024, 100])
def test_the_copy_embeds_in_batches(tmp_path, db, monkeypatch, chunk):
    monkeypatch.setattr(rebuild_plan, "COPY_CHUNK_ROWS", chunk)
    embedders = {MINILM: HashingTestEmbedder(384), BGE: HashingTestEmbedder(1024)}
    engine = make_engine(db, embedders)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO posts (title, body) VALUES (?, ?)",
                             [(f"more {i}", f"more body {i}") for i in range(300)])
        before = rows(conn, "SELECT id, title, body, embedding FROM posts ORDER BY id")
    engine.dispose()
    engine = make_engine(db, embedders)  # a fresh cache, as in a new migration process
    calls_before = {model: e.calls for model, e in embedders.items()}
    run_migration(tmp_path, engine, ADD_TITLE_VEC)
    with engine.connect() as conn:
        total = rows(conn, "SELECT count(*) FROM posts")[0][0]
        assert rows(conn, "SELECT count(*) FROM posts WHERE title_vec IS NULL") == [(0,)]
        assert rows(conn, "SELECT id, title, body, embedding FROM posts ORDER BY id") == before
    for model, embedder in embedders.items():  # both columns are filled by the copy: each in batches
        assert 0 < embedder.calls - calls_before[model] <= 2 * math.ceil(total / 64)
    engine.dispose()


@pytest.mark.parametrize("change", [ADD_TITLE_VEC, ALTER_MODEL], ids=["add", "alter"])
def test_client_mode_rebuilds_fill_every_vector(tmp_path, change):
    embedders = {MINILM: HashingTestEmbedder(384), BGE: HashingTestEmbedder(1024)}
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'client.db'}"),
                                  embedders=embedders)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, body TEXT, "
                             "embedding VECTOR(384))")
        from sqlalchemy import Column, Integer, MetaData, Table, Text, insert

        from tidb_embed_orm import AutoEmbeddingVector

        posts = Table("posts", MetaData(), Column("id", Integer, primary_key=True), Column("title", Text),
                      Column("body", Text), Column("embedding", AutoEmbeddingVector(MINILM, source="body")))
        conn.execute(insert(posts), [{"id": i, "title": f"t{i}" if i % 3 else None, "body": f"b{i}"}
                                     for i in range(150)])
    calls_before = embedders[BGE].calls
    run_migration(tmp_path, engine, change)
    column, source = ("title_vec", "title") if change is ADD_TITLE_VEC else ("embedding", "body")
    with engine.connect() as conn:
        missing = rows(conn, f"SELECT count(*) FROM posts WHERE {column} IS NULL AND {source} IS NOT NULL")
        assert missing == [(0,)]
        assert rows(conn, f"SELECT DISTINCT vec_dims({column}) FROM posts WHERE {source} IS NOT NULL") == [(1024,)]
        assert rows(conn, f"SELECT count(*) FROM posts WHERE {column} IS NOT NULL AND {source} IS NULL") == [(0,)]
    assert embedders[BGE].calls - calls_before <= 2 * math.ceil(150 / 64)
    engine.dispose()


def test_a_without_rowid_table_is_rebuilt_with_its_options(tmp_path):
    engine = make_engine(tmp_path / "tags.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE tags (slug TEXT PRIMARY KEY COLLATE NOCASE, title TEXT) WITHOUT ROWID")
        conn.exec_driver_sql("INSERT INTO tags VALUES (?, ?)", [(f"tag-{i}", f"Tag {i}") for i in range(70)])
    run_migration(tmp_path, engine, ADD_TITLE_VEC.replace('"posts"', '"tags"'))
    with engine.connect() as conn:
        create = rows(conn, "SELECT sql FROM sqlite_schema WHERE name = 'tags'")[0][0]
        assert create.endswith(") WITHOUT ROWID") and "COLLATE NOCASE" in create
        assert rows(conn, "SELECT count(*) FROM tags WHERE title_vec IS NOT NULL") == [(70,)]
        assert rows(conn, "SELECT title FROM tags WHERE slug = 'TAG-3'") == [("Tag 3",)]
    engine.dispose()


@pytest.mark.parametrize("first_write", [False, True], ids=["own migration", "after a write"])
def test_a_self_referencing_table_keeps_its_rows(tmp_path, first_write):
    engine = make_engine(tmp_path / "tree.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE nodes (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES nodes(id) "
                             "ON DELETE CASCADE, title TEXT)")
        conn.exec_driver_sql("CREATE TABLE audit (post_id INTEGER, what TEXT)")
        conn.exec_driver_sql("INSERT INTO nodes VALUES (?, ?, ?)",
                             [(i, None if i == 0 else (i - 1) // 2, f"node {i}") for i in range(31)])
    change = ADD_TITLE_VEC.replace('"posts"', '"nodes"')
    if first_write:
        with pytest.raises(TableRebuildError, match=r"'nodes' reference it.*nothing was changed"):
            run_migration(tmp_path, engine, "op.execute(\"INSERT INTO audit VALUES (0, 'x')\")\n" + change)
    else:
        run_migration(tmp_path, engine, change)
    with engine.connect() as conn:
        assert rows(conn, "SELECT count(*) FROM nodes") == [(31,)]
        filled = "SELECT count(*) FROM nodes WHERE title_vec IS NOT NULL"
        assert rows(conn, "SELECT count(*) FROM pragma_table_xinfo('nodes') WHERE name = 'title_vec'") == [
            (0 if first_write else 1,)]
        if not first_write:
            assert rows(conn, filled) == [(31,)]
    engine.dispose()
