"""The TiDB rebuild strategy against a real MySQL-protocol server (MariaDB, with a TiDB stand-in).

The stand-in (tidb_embed_orm.testing.tidb_standin) only turns VECTOR/EMBED_TEXT/TiFlash words
into what MariaDB accepts; renames, foreign keys, transactions and concurrent sessions are real.
"""

from __future__ import annotations

import logging
import re
import uuid

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import (
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    inspect,
)

import tidb_embed_orm.alembic  # noqa: F401
from tidb_embed_orm import AutoEmbeddingVector, use_client_embedding
from tidb_embed_orm.alembic import TableRebuildError
from tidb_embed_orm.alembic.rebuild import plan as rebuild_plan
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing.tidb_standin import tidb_standin

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
BGE = "huggingface/BAAI/bge-m3"
ADDED = Column("title_vec", AutoEmbeddingVector(BGE, source="title"))
ROWS = 250


@pytest.fixture
def url(mariadb):
    """A fresh database on the shared server."""
    name = f"rebuild_{uuid.uuid4().hex[:10]}"
    server = create_engine(mariadb["url"])
    with server.begin() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield mariadb["url"].rsplit("/", 1)[0] + f"/{name}"
    with server.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE {name}")
    server.dispose()


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(rebuild_plan, "COPY_CHUNK_ROWS", 100)


def blog(metadata: MetaData | None = None) -> MetaData:
    metadata = metadata or MetaData()
    Table("authors", metadata, Column("id", Integer, primary_key=True), Column("name", String(50)))
    Table("posts", metadata,
          Column("id", Integer, primary_key=True, autoincrement=True),
          Column("author_id", Integer),
          Column("title", String(200)),
          Column("body", Text),
          Column("embedding", AutoEmbeddingVector(MINILM, source="body")),
          Index("ix_posts_title", "title"))
    return metadata


def make_blog(engine) -> None:
    blog().create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO authors VALUES (1, 'ann'), (2, 'bob')")
        conn.exec_driver_sql(
            "INSERT INTO posts (author_id, title, body) VALUES (%s, %s, %s)",
            [(1 + i % 2, None if i % 7 == 0 else f"title {i}", f"body {i}") for i in range(ROWS)],
        )


def migrate(engine, change) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        with context.begin_transaction():
            change(Operations(context))
        conn.commit()


def add_title_vec(op) -> None:
    op.add_auto_embedding_column("posts", ADDED._copy())


def tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def rows(engine, sql):
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).all()


@pytest.fixture
def engine(url):
    engine = tidb_standin(create_engine(url))
    make_blog(engine)
    yield engine
    engine.dispose()


def test_rebuild_copies_in_chunks_keeps_rows_and_constraints_and_logs(engine, mariadb, small_chunks, caplog):
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE posts ADD CONSTRAINT fk_posts_author FOREIGN KEY (author_id) "
                             "REFERENCES authors (id)")
        conn.exec_driver_sql("ALTER TABLE posts MODIFY title VARCHAR(200) COLLATE utf8mb4_bin COMMENT 'shown big', "
                             "ADD CONSTRAINT ck_title CHECK (title <> '')")
        conn.exec_driver_sql(f"INSERT INTO posts (id, title) VALUES ({ROWS + 10}, 'deleted')")
        conn.exec_driver_sql(f"DELETE FROM posts WHERE id = {ROWS + 10}")
    before = rows(engine, "SELECT id, author_id, title, body, embedding FROM posts ORDER BY id")
    caplog.set_level(logging.INFO, logger="tidb_embed_orm.alembic")
    migrate(engine, add_title_vec)
    assert rows(engine, "SELECT id, author_id, title, body, embedding FROM posts ORDER BY id") == before
    assert rows(engine, "SELECT COUNT(*) FROM posts WHERE (title_vec IS NULL) <> (title IS NULL)") == [(0,)]
    assert rows(engine, "SELECT title_vec FROM posts WHERE id = 2") == [(f"{BGE}:title 1",)]
    assert tables(engine) == {"authors", "posts"}
    assert [fk["referred_table"] for fk in inspect(engine).get_foreign_keys("posts")] == ["authors"]
    assert "ix_posts_title" in {i["name"] for i in inspect(engine).get_indexes("posts")}
    create = rows(engine, "SHOW CREATE TABLE posts")[0][1]
    title = next(line for line in create.splitlines() if line.strip().startswith("`title`"))
    assert "COLLATE utf8mb4_bin" in title and "COMMENT 'shown big'" in title, create
    assert "CONSTRAINT `ck_title` CHECK (`title` <> '')" in create
    with engine.begin() as conn:  # AUTO_INCREMENT continues where it was: deleted ids are not reused
        new_id = conn.exec_driver_sql("INSERT INTO posts (title) VALUES ('after')").lastrowid
    assert new_id == ROWS + 11
    messages = [r.getMessage() for r in caplog.records if r.name == "tidb_embed_orm.alembic"]
    assert re.match(rf"rebuilding 'posts': {ROWS} rows; each row is embedded again for title_vec \({BGE}\)",
                    messages[0])
    assert f"copied {ROWS}/{ROWS} rows" in messages[-1] and len(messages) >= 4
    log = mariadb["general_log"].read_text(errors="replace")
    assert log.count("INSERT INTO _tidb_embed_new_posts") >= 3  # chunks of 100 rows


def test_tables_referenced_by_foreign_keys_are_refused_before_anything_changes(engine, mariadb):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE comments (id INT PRIMARY KEY, post_id INT, "
                             "CONSTRAINT fk_comment_post FOREIGN KEY (post_id) REFERENCES posts (id) ON DELETE CASCADE)")
        conn.exec_driver_sql("INSERT INTO comments SELECT id, id FROM posts")
    with pytest.raises(TableRebuildError, match=r"foreign keys point at it \(comments.fk_comment_post\).*"
                                                r"Nothing was changed.*DROP FOREIGN KEY"):
        migrate(engine, add_title_vec)
    assert tables(engine) == {"authors", "posts", "comments"}
    assert rows(engine, "SELECT COUNT(*) FROM comments") == [(ROWS,)]
    assert "title_vec" not in {c["name"] for c in inspect(engine).get_columns("posts")}


def test_fulltext_indexed_tables_are_refused_with_the_manual_procedure(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE posts ADD FULLTEXT INDEX ft_body (body)")
    with pytest.raises(TableRebuildError, match=r"FULLTEXT indexes \(ft_body\).*Nothing was changed.*ADD FULLTEXT"):
        migrate(engine, add_title_vec)
    assert tables(engine) == {"authors", "posts"}


def test_tables_with_triggers_are_refused(engine):
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TRIGGER posts_touch BEFORE UPDATE ON posts FOR EACH ROW SET NEW.title = NEW.title")
    with pytest.raises(TableRebuildError, match=r"triggers \(posts_touch\).*Nothing was changed"):
        migrate(engine, add_title_vec)
    assert tables(engine) == {"authors", "posts"}


def test_a_copy_left_by_a_killed_run_is_dropped_and_the_rebuild_runs(engine, caplog):
    with engine.begin() as conn:  # killed during the copy: a half-filled _tidb_embed_new_posts
        conn.exec_driver_sql("CREATE TABLE _tidb_embed_new_posts AS SELECT id, title FROM posts LIMIT 10")
    migrate(engine, add_title_vec)
    assert tables(engine) == {"authors", "posts"}
    assert rows(engine, "SELECT COUNT(*) FROM posts WHERE title_vec IS NOT NULL") == [(ROWS - 36,)]
    assert any("interrupted rebuild" in r.getMessage() and "never changed" in r.getMessage() for r in caplog.records)


def test_a_backup_left_after_the_swap_is_dropped_only_when_it_holds_the_same_rows(engine):
    with engine.begin() as conn:  # killed after the swap, before the backup's DROP
        conn.exec_driver_sql("CREATE TABLE _tidb_embed_old_posts AS SELECT * FROM posts")
        conn.exec_driver_sql("UPDATE _tidb_embed_old_posts SET title = 'only in the backup' WHERE id = 3")
    with pytest.raises(TableRebuildError, match=r"found '_tidb_embed_old_posts'.*differs.*Nothing was changed"):
        migrate(engine, add_title_vec)
    assert tables(engine) == {"authors", "posts", "_tidb_embed_old_posts"}
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE _tidb_embed_old_posts SET title = 'title 2' WHERE id = 3")
    migrate(engine, add_title_vec)
    assert tables(engine) == {"authors", "posts"}


def test_rows_written_during_the_copy_abort_the_rebuild_before_the_swap(engine, url, small_chunks):
    other = create_engine(url)
    seen = []

    @event.listens_for(engine, "before_cursor_execute")
    def write_meanwhile(conn, cursor, statement, *args):
        if statement.startswith("INSERT INTO _tidb_embed_new_posts"):
            seen.append(statement)
            if len(seen) == 2:  # an application updates a row that was already copied
                with other.begin() as conn2:
                    conn2.exec_driver_sql("UPDATE posts SET title = 'edited meanwhile' WHERE id = 5")

    with pytest.raises(TableRebuildError, match=r"written while they were copied.*is unchanged.*maintenance"):
        migrate(engine, add_title_vec)
    event.remove(engine, "before_cursor_execute", write_meanwhile)
    assert tables(engine) == {"authors", "posts"}
    assert rows(engine, "SELECT title FROM posts WHERE id = 5") == [("edited meanwhile",)]
    assert "title_vec" not in {c["name"] for c in inspect(engine).get_columns("posts")}
    other.dispose()


def test_a_write_at_the_swap_keeps_the_old_table_and_the_error_says_it_was_swapped(engine, url):
    other = create_engine(url)

    @event.listens_for(engine, "before_cursor_execute")
    def write_at_swap(conn, cursor, statement, *args):
        if statement.startswith("RENAME TABLE"):
            with other.begin() as conn2:
                conn2.exec_driver_sql("UPDATE posts SET title = 'edited at the swap' WHERE id = 5")

    with pytest.raises(TableRebuildError) as raised:
        migrate(engine, add_title_vec)
    event.remove(engine, "before_cursor_execute", write_at_swap)
    message = str(raised.value)
    assert "swapped in" in message and "kept as '_tidb_embed_old_posts'" in message and "unchanged" not in message
    assert rows(engine, "SELECT title FROM _tidb_embed_old_posts WHERE id = 5") == [("edited at the swap",)]
    assert "title_vec" in {c["name"] for c in inspect(engine).get_columns("posts")}
    other.dispose()


def test_a_failure_after_the_swap_does_not_claim_the_table_is_unchanged_and_the_rerun_finishes(engine, caplog):
    @event.listens_for(engine, "before_cursor_execute")
    def fail_drop(conn, cursor, statement, *args):
        if statement.startswith("DROP TABLE _tidb_embed_old_posts"):
            raise RuntimeError("connection lost (injected)")

    with pytest.raises(TableRebuildError) as raised:
        migrate(engine, add_title_vec)
    event.remove(engine, "before_cursor_execute", fail_drop)
    assert "connection lost" in str(raised.value) and "unchanged" not in str(raised.value)
    assert "'posts' is the rebuilt table" in str(raised.value)
    assert tables(engine) == {"authors", "posts", "_tidb_embed_old_posts"}
    migrate(engine, add_title_vec)  # Alembic runs the unfinished migration again: it is finished, not redone
    assert tables(engine) == {"authors", "posts"}
    assert any("interrupted rebuild had swapped it in" in r.getMessage() for r in caplog.records)
    assert rows(engine, "SELECT COUNT(*) FROM posts WHERE title_vec IS NOT NULL") == [(ROWS - 36,)]


@pytest.mark.parametrize("change", ["add", "alter"])
def test_client_mode_fills_every_vector(url, small_chunks, change):
    embedders = {MINILM: HashingTestEmbedder(384), BGE: HashingTestEmbedder(1024)}
    engine = use_client_embedding(tidb_standin(create_engine(url)), embedders=embedders)
    metadata = blog()
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO authors VALUES (1, 'ann')")
        conn.execute(insert(metadata.tables["posts"]),
                     [{"author_id": 1, "title": None if i % 7 == 0 else f"title {i}", "body": f"body {i}"}
                      for i in range(ROWS)])
    calls = embedders[BGE].calls
    if change == "add":
        migrate(engine, add_title_vec)
        column, source = "title_vec", "title"
    else:
        migrate(engine, lambda op: op.alter_auto_embedding("posts", "embedding",
                                                           AutoEmbeddingVector(BGE, source="body")))
        column, source = "embedding", "body"
    assert rows(engine, f"SELECT COUNT(*) FROM posts WHERE ({column} IS NULL) <> ({source} IS NULL)") == [(0,)]
    assert embedders[BGE].calls - calls <= 2 * -(-ROWS // 64)
    vector = rows(engine, f"SELECT {column} FROM posts WHERE id = 2")[0][0]
    assert vector.startswith("[") and vector.count(",") == 1023
    assert tables(engine) == {"authors", "posts"}
    engine.dispose()


def test_a_table_in_another_schema(engine, url, mariadb):
    other = create_engine(mariadb["url"])  # connected to the server's `test` database
    tidb_standin(other)
    schema = url.rsplit("/", 1)[1]
    with other.connect() as conn:
        context = MigrationContext.configure(conn)
        with context.begin_transaction():
            Operations(context).add_auto_embedding_column("posts", ADDED._copy(), schema=schema)
        conn.commit()
    assert rows(engine, "SELECT COUNT(*) FROM posts WHERE title_vec IS NOT NULL") == [(ROWS - 36,)]
    assert tables(engine) == {"authors", "posts"}
    other.dispose()
