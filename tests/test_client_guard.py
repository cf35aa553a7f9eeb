"""Client mode's raw-SQL guard: no spelling of a raw write lets a text in without its vector (issue 16, 5 and 11)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tidb_embed_orm.client.guard import RawWriteWithoutVectorError, vectors_filled_by_client
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing.seed import sample_model

from .client_tables import client_engine, vectors_current
from .conftest import MINILM

Doc = sample_model(MINILM, table="client_guard")
EMBEDDER = HashingTestEmbedder(384)


@pytest.fixture(params=["embedded", "mariadb"])
def engine(request, tmp_path):
    engine = client_engine(request.param, request, tmp_path, EMBEDDER, Doc)
    yield engine
    engine.dispose()


def vector_text(content: str) -> str:
    return "[" + ",".join(repr(float(x)) for x in EMBEDDER.embed([content])[0]) + "]"


def rows(engine) -> dict[int, str]:
    """id -> text; every row's vector is the embedding of its current text."""
    return vectors_current(engine, Doc, EMBEDDER)


def assert_refused(engine, sql: str, match: str = "without its vector") -> None:
    with engine.begin() as conn:
        with pytest.raises(RawWriteWithoutVectorError, match=match):
            conn.execute(text(sql))
        with pytest.raises(RawWriteWithoutVectorError, match=match):
            conn.exec_driver_sql(sql)
    assert rows(engine) == {1: "one", 2: "two"}


# Each of these slipped past the guard on d3de220 (a regex decided before the tokenizer).
WITH_INSERT = [
    "WITH t(n) AS (SELECT 5) INSERT INTO client_guard (id, content) SELECT n, 'raw' FROM t",
    "/* c */ WITH t AS (SELECT 5 AS n) INSERT INTO client_guard (id, content) SELECT n, 'raw' FROM t",
    "with recursive t(n) as (select 5) insert into client_guard (id, content) select n, 'raw' from t",
    "-- c\nWith t As (Select 'x, (y)' AS s) Insert Into client_guard(id,content) Values (5, 'raw')",
]
COMMENTED_INSERT = [
    "/* c */ INSERT INTO client_guard (id, content) VALUES (5, 'raw')",
    "-- c\nINSERT INTO client_guard (id, content) VALUES (5, 'raw')",
    "/* a */ /* b */ insert into client_guard (id, content) values (5, 'raw')",
    "/* c */ Replace Into client_guard (id, content) VALUES (5, 'raw')",
]
WITH_UPDATE = [
    "WITH t AS (SELECT 'raw' AS v) UPDATE client_guard SET content = (SELECT v FROM t) WHERE id = 1",
    "/* c */ with t as (select 'raw' as v) update client_guard set content = (select v from t) where id = 1",
    "-- c\nWITH RECURSIVE t(v) AS (SELECT 'raw') Update client_guard Set content = 'raw' Where id = 1",
]
ROW_VALUE_UPDATE = [
    "UPDATE client_guard SET (content) = ('raw') WHERE id = 1",
    "/* c */ update client_guard set (content, id) = ('raw', 1) where id = 1",
    "-- c\nUpdate client_guard Set id = 1, (content) = ('raw') Where id = 1",
    'UPDATE "client_guard" SET ("content") = (\'raw\') WHERE id = 1',
]


# MySQL's parenthesized table references (refused before the database sees them, so SQLite's syntax is no matter).
PARENTHESIZED_UPDATE = [
    "UPDATE (client_guard) SET content = 'raw' WHERE id = 1",
    "/* c */ update (client_guard) set content = 'raw'",
    "-- c\nUPDATE (`client_guard`) SET `content` = 'raw' WHERE id = 1",
]


@pytest.mark.parametrize("sql", WITH_INSERT + COMMENTED_INSERT + WITH_UPDATE + ROW_VALUE_UPDATE + PARENTHESIZED_UPDATE)
def test_raw_write_of_a_text_without_its_vector_is_refused_however_spelled(engine, sql):
    assert_refused(engine, sql)


SQLITE_UPSERT = [
    "INSERT INTO client_guard (id, content, embedding) VALUES (1, 'raw', NULL) "
    "ON CONFLICT (id) DO UPDATE SET content = excluded.content",
    "/* c */ insert into client_guard (id, content, embedding) values (1, 'raw', NULL) "
    "on conflict(id) do update set content = excluded.content where 1",
    "-- c\nWITH t AS (SELECT 1) Insert Into client_guard AS d (id, content, embedding) Values (1, 'raw', NULL) "
    "On Conflict (id) Do Update Set (content) = (excluded.content)",
    "INSERT INTO client_guard (id, content, embedding) VALUES (1, 'raw', NULL) "
    "ON CONFLICT (id) DO NOTHING ON CONFLICT DO UPDATE SET content = 'x'",
]
MYSQL_UPSERT = [
    "INSERT INTO client_guard (id, content, embedding) VALUES (1, 'raw', NULL) "
    "ON DUPLICATE KEY UPDATE content = VALUES(content)",
    "/* c */ insert into client_guard (id, content, embedding) values (1, 'raw', NULL) "
    "on duplicate key update id = 1, content = 'raw'",
    "-- c\nInsert Into client_guard Set id = 1, content = 'raw', embedding = NULL "
    "On Duplicate Key Update content = Values(content)",
]


@pytest.mark.parametrize("sql", SQLITE_UPSERT + MYSQL_UPSERT)
def test_raw_upsert_updating_the_text_but_not_the_vector_is_refused(engine, sql):
    assert_refused(engine, sql, match="would keep the old text's vector")


def test_raw_writes_that_carry_the_vector_pass(engine):
    raw = vector_text("raw")
    with engine.begin() as conn:
        conn.execute(text("/* c */ INSERT INTO client_guard (id, content, embedding) VALUES (5, 'raw', :v)"), {"v": raw})
        conn.execute(text("-- c\nupdate client_guard set content = 'raw', embedding = :v where id = 1"), {"v": raw})
        conn.execute(text("/* c */ UPDATE client_guard SET id = id + 10 WHERE id = 2"))  # the text untouched
        conn.execute(text("SELECT 'INSERT INTO client_guard (content) VALUES (1)' /* UPDATE client_guard */"))
        if engine.dialect.name == "sqlite":
            conn.execute(text("WITH t AS (SELECT 6 AS n) INSERT INTO client_guard (id, content, embedding) "
                              "SELECT n, 'raw', :v FROM t"), {"v": raw})
            conn.execute(text("UPDATE client_guard SET (content, embedding) = ('raw', :v) WHERE id = 12"), {"v": raw})
            conn.execute(text("INSERT INTO client_guard (id, content, embedding) VALUES (5, 'raw', :v) "
                              "ON CONFLICT (id) DO UPDATE SET content = excluded.content, "
                              "embedding = excluded.embedding"), {"v": raw})
            expected = {1: "raw", 5: "raw", 6: "raw", 12: "raw"}
        else:
            conn.execute(text("INSERT INTO client_guard (id, content, embedding) VALUES (5, 'raw', :v) "
                              "ON DUPLICATE KEY UPDATE content = VALUES(content), embedding = VALUES(embedding)"),
                         {"v": raw})
            expected = {1: "raw", 5: "raw", 12: "two"}
    assert rows(engine) == expected


def test_the_librarys_own_raw_copies_still_pass(engine):
    raw = vector_text("raw")
    with engine.begin() as conn, vectors_filled_by_client(conn):
        conn.exec_driver_sql("/* copy */ INSERT INTO client_guard (id, content) VALUES (7, 'raw')")
        conn.execute(text("UPDATE client_guard SET embedding = :v WHERE id = 7"), {"v": raw})
    assert rows(engine) == {1: "one", 2: "two", 7: "raw"}


def test_orm_writes_are_not_raw_writes(engine):
    with Session(engine) as session:
        session.add(Doc(id=3, content="three"))
        session.get(Doc, 1).content = "uno"
        session.commit()
    assert rows(engine) == {1: "uno", 2: "two", 3: "three"}


def test_mysql_backslash_escaped_quotes_do_not_hide_a_text_write():
    """MySQL / TiDB read 'x\\'' as one string: the second assignment writes the text."""
    from tidb_embed_orm.client.guard import check_raw_write

    sql = r"UPDATE client_guard SET id = 'x\'', content = 'new' WHERE id = 1"
    with pytest.raises(RawWriteWithoutVectorError):
        check_raw_write(sql, backslash_escapes=True)
