"""Client mode never writes a stale or NULL vector: every write path embeds, or is refused before writing."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tidb_embed_orm.client.guard import RawWriteWithoutVectorError
from tidb_embed_orm.client.mode import ClientEmbeddingError
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing.seed import sample_model

from .client_tables import client_engine, vectors_current
from .conftest import MINILM

Doc = sample_model(MINILM, table="client_writes")
Archive = sample_model(MINILM, table="client_archive")
EMBEDDER = HashingTestEmbedder(384)


@pytest.fixture(params=["embedded", "mariadb"])
def engine(request, tmp_path):
    engine = client_engine(request.param, request, tmp_path, EMBEDDER, Doc, Archive)
    yield engine
    engine.dispose()


def assert_vectors_current(engine, table=Doc) -> dict[int, str]:
    """Every row's vector is the embedding of its current text; returns id -> text."""
    return vectors_current(engine, table, EMBEDDER)


def test_core_update_with_a_bind_parameter(engine):
    stmt = update(Doc).where(Doc.id == bindparam("doc_id")).values(content=bindparam("new_text"))
    with engine.begin() as conn:
        conn.execute(stmt, {"doc_id": 1, "new_text": "one, edited"})
    assert assert_vectors_current(engine) == {1: "one, edited", 2: "two"}
    with engine.begin() as conn:
        conn.execute(stmt, [{"doc_id": 1, "new_text": "first"}, {"doc_id": 2, "new_text": "second"}])
    assert assert_vectors_current(engine) == {1: "first", 2: "second"}


def test_core_update_with_ordered_values(engine):
    with engine.begin() as conn:
        conn.execute(update(Doc).where(Doc.id == 2).ordered_values((Doc.content, "two, ordered")))
    assert assert_vectors_current(engine) == {1: "one", 2: "two, ordered"}


def test_core_update_with_an_sql_expression_is_refused(engine):
    with engine.begin() as conn, pytest.raises(ClientEmbeddingError, match="compute the new text in Python"):
        conn.execute(update(Doc).values(content=Doc.content + " more"))
    assert assert_vectors_current(engine) == {1: "one", 2: "two"}


def test_insert_from_select(engine):
    with engine.begin() as conn:
        with pytest.raises(ClientEmbeddingError, match="select the rows first"):
            conn.execute(insert(Archive).from_select(["id", "content"], select(Doc.id, Doc.content)))
        conn.execute(
            insert(Archive).from_select(["id", "content", "embedding"], select(Doc.id, Doc.content, Doc.embedding))
        )
    assert assert_vectors_current(engine, Archive) == {1: "one", 2: "two"}


def test_upsert_takes_the_inserted_rows_vector(engine):
    if engine.dialect.name == "sqlite":
        stmt = sqlite_insert(Doc).values(id=1, content="one, upserted")
        good = stmt.on_conflict_do_update(index_elements=["id"], set_={"content": stmt.excluded.content})
        bad = stmt.on_conflict_do_update(index_elements=["id"], set_={"content": "something else"})
    else:
        stmt = mysql_insert(Doc).values(id=1, content="one, upserted")
        good = stmt.on_duplicate_key_update(content=stmt.inserted.content)
        bad = stmt.on_duplicate_key_update(content="something else")
    with engine.begin() as conn:
        with pytest.raises(ClientEmbeddingError, match="set content from the inserted row"):
            conn.execute(bad)
        conn.execute(good)
    assert assert_vectors_current(engine) == {1: "one, upserted", 2: "two"}


def test_orm_bulk_insert_and_update(engine):
    with Session(engine) as session:
        session.execute(insert(Doc), [{"id": 3, "content": "three"}, {"id": 4, "content": "four"}])
        session.execute(update(Doc), [{"id": 1, "content": "uno"}, {"id": 3, "content": "tres"}])
        session.execute(update(Doc).where(Doc.id == 2).values(content="dos"))
        session.commit()
    assert assert_vectors_current(engine) == {1: "uno", 2: "dos", 3: "tres", 4: "four"}


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE client_writes SET content = 'raw' WHERE id = 1",
        "INSERT INTO client_writes (id, content) VALUES (5, 'raw')",
        "INSERT INTO client_writes VALUES (5, 'raw', NULL)",
    ],
)
def test_raw_sql_writing_text_without_its_vector_is_refused(engine, sql):
    with engine.begin() as conn:
        with pytest.raises(RawWriteWithoutVectorError, match="write the row through SQLAlchemy"):
            conn.execute(text(sql))
        with pytest.raises(RawWriteWithoutVectorError, match="without its vector"):
            conn.exec_driver_sql(sql)
        conn.execute(text("UPDATE client_writes SET id = id + 10 WHERE id = 2"))  # text untouched: allowed
    assert assert_vectors_current(engine) == {1: "one", 12: "two"}
