"""Embedding never happens while SQLite's write lock is held, whatever writes the texts.

The embedder used here checks, each time it is called, whether another connection could take the
database's write lock at that moment (``BEGIN IMMEDIATE`` with no wait): a model working under the
lock is exactly what makes other writers fail with ``database is locked``. Every path is also checked
to store the vectors the embedder gives for the text (and to embed in batches, not text by text).
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm import AutoEmbeddingVector
from tidb_embed_orm.dialects.embedded.base import _load_dbapi
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing import lock_workload
from tidb_embed_orm.testing.lock_workload import Doc, serve_requests

MODEL = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
#: The engine's own SQLite library: two SQLite libraries in one process do not see each other's locks.
sqlite3 = _load_dbapi()


class LockProbe(HashingTestEmbedder):
    """The test embedder, noting every call made while some connection held ``path``'s write lock."""

    def __init__(self, path: Path) -> None:
        super().__init__(384)
        self.path = str(path)
        self.under_lock = 0
        self.batches: list[int] = []
        self.threads: set[int] = set()

    def embed(self, texts, options=None):
        self.batches.append(len(texts))
        self.threads.add(threading.get_ident())
        probe = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc) or "busy" in str(exc), exc
            self.under_lock += 1
        finally:
            probe.close()
        return super().embed(texts, options)


def expected(text_: str) -> np.ndarray:
    return HashingTestEmbedder(384).embed([text_])[0]


def engine_with_probe(tmp_path: Path):
    path = tmp_path / "shared.db"
    probe = LockProbe(path)
    engine = create_engine(f"sqlite+tidb_embed:///{path}", embedders={MODEL: probe})
    Doc.metadata.create_all(engine)
    return engine, probe


def stored(engine) -> dict[int, tuple[str, np.ndarray]]:
    with engine.connect() as conn:
        return {row.id: (row.content, row.embedding) for row in conn.execute(select(Doc.__table__))}


def assert_vectors_of_their_texts(engine, count: int | None = None) -> None:
    rows = stored(engine)
    if count is not None:
        assert len(rows) == count
    for key, (content, vector) in rows.items():
        np.testing.assert_array_equal(vector, expected(content), err_msg=f"row {key}")


def batches_for(n: int) -> int:
    return math.ceil(n / 64)


def test_an_orm_flush_of_new_and_changed_rows_embeds_everything_before_its_first_statement(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    with Session(engine) as session:
        session.add_all([Doc(id=i, content=f"first version of note {i}") for i in range(100)])
        session.commit()
        probe.batches.clear()
        for doc in session.scalars(select(Doc).where(Doc.id < 50)):  # 50 UPDATEs ...
            doc.content = f"second version of note {doc.id}"
        session.add_all([Doc(id=i, content=f"new note {i}") for i in range(100, 400)])  # ... and an INSERT
        session.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= batches_for(350) + 1  # one run of batches for the whole flush
    assert_vectors_of_their_texts(engine, 400)
    engine.dispose()


def test_core_executemany_multi_values_and_insertmanyvalues_pages(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    table = Doc.__table__
    with engine.connect() as conn:
        conn.execute(insert(table), [{"id": i, "content": f"executemany {i}"} for i in range(200)])
        conn.commit()
        conn.execute(insert(table).values([{"id": i, "content": f"multi values {i}"} for i in range(200, 300)]))
        conn.commit()
        # RETURNING many rows: SQLAlchemy sends pages of an INSERT ... VALUES (...), (...) RETURNING;
        # every page's texts are embedded before the first page writes
        rows = [{"id": i, "content": f"returned {i}"} for i in range(300, 2300)]
        returned = conn.execute(insert(table).returning(table.c.id), rows).scalars().all()
        conn.commit()
    assert len(returned) == 2000
    assert probe.under_lock == 0
    assert len(probe.batches) <= batches_for(200) + batches_for(100) + batches_for(2000)
    assert_vectors_of_their_texts(engine, 2300)
    engine.dispose()


def test_upserts_core_and_hand_written(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    table = Doc.__table__
    with engine.connect() as conn:
        conn.execute(insert(table), [{"id": i, "content": f"note {i}"} for i in range(100)])
        conn.commit()
        upsert = sqlite_insert(table)
        upsert = upsert.on_conflict_do_update(index_elements=["id"], set_={"content": upsert.excluded.content})
        conn.execute(upsert, [{"id": i, "content": f"upserted note {i}"} for i in range(50, 150)])
        conn.commit()
        probe.batches.clear()
        # the updated text exists only inside SQLite: read by the dry run
        conn.exec_driver_sql(
            "INSERT INTO sample (id, content) SELECT id, 'ignored' FROM sample WHERE id < 80 "
            "ON CONFLICT (id) DO UPDATE SET content = excluded.content || ' then ' || sample.content"
        )
        conn.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= batches_for(80)
    rows = stored(engine)
    assert rows[3][0] == "ignored then note 3" and rows[60][0] == "ignored then upserted note 60"
    assert_vectors_of_their_texts(engine, 150)
    engine.dispose()


def test_an_upsert_with_parameters_whose_conflict_branch_writes_other_texts(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    table = Doc.__table__
    with engine.connect() as conn:
        conn.execute(insert(table), [{"id": i, "content": f"note {i}"} for i in range(100)])
        conn.commit()
        upsert = sqlite_insert(table)
        probe.batches.clear()
        # the parameters hold 'fresh i'; the rows that conflict store 'fresh i (again)', which no parameter holds
        conn.execute(upsert.on_conflict_do_update(index_elements=["id"], set_={"content": upsert.excluded.content
                                                                               + " (again)"}),
                     [{"id": i, "content": f"fresh {i}"} for i in range(50, 150)])
        conn.commit()
        assert len(probe.batches) <= 2 * batches_for(100)
        probe.batches.clear()
        # another column's SET recomputes the stored embedding from each row's current text
        conn.execute(upsert.on_conflict_do_update(index_elements=["id"], set_={"id": upsert.excluded.id}),
                     [{"id": i, "content": f"unused {i}"} for i in range(100)])
        conn.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= 2 * batches_for(100)
    rows = stored(engine)
    assert rows[60][0] == "fresh 60 (again)" and rows[120][0] == "fresh 120" and rows[3][0] == "note 3"
    assert_vectors_of_their_texts(engine, 150)
    engine.dispose()


def test_a_write_to_a_table_whose_trigger_writes_the_embedded_table(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE inbox (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("CREATE TABLE outbox (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("CREATE TRIGGER inbox_to_sample AFTER INSERT ON inbox "
                             "begin INSERT INTO sample (id, content) VALUES (new.id, new.body); END")
        conn.exec_driver_sql("CREATE TRIGGER outbox_to_inbox AFTER UPDATE ON outbox "  # two triggers away
                             "BEGIN INSERT INTO inbox (id, body) VALUES (new.id + 5000, new.body || ' (sent)'); END")
    probe.batches.clear()
    with engine.connect() as conn:  # each write its own transaction (a transaction that wrote holds the lock)
        conn.execute(text("INSERT INTO inbox (id, body) VALUES (:id, :body)"),
                     [{"id": i, "body": f"mail {i}"} for i in range(100)])
        conn.commit()
        conn.execute(text("INSERT INTO inbox (id, body) SELECT id + 1000, body || ' fwd' FROM inbox"))
        conn.commit()
        conn.execute(text("INSERT INTO outbox (id, body) VALUES (:id, :body)"),
                     [{"id": i, "body": f"reply {i}"} for i in range(100)])
        conn.commit()
        conn.execute(text("UPDATE outbox SET body = body || '!'"))
        conn.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= 3 * batches_for(100)
    rows = stored(engine)
    assert rows[1003][0] == "mail 3 fwd" and rows[5007][0] == "reply 7! (sent)"
    assert_vectors_of_their_texts(engine, 300)
    engine.dispose()


def test_a_delete_whose_trigger_writes_the_embedded_table_embeds_before_the_lock(tmp_path):
    """An archive-on-delete trigger copies each deleted text into the embedded table: a DELETE that embeds."""
    engine, probe = engine_with_probe(tmp_path)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE drafts (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("CREATE TRIGGER drafts_archived AFTER DELETE ON drafts "
                             "BEGIN INSERT INTO sample (id, content) VALUES (old.id, 'archived: ' || old.body); END")
        conn.execute(text("INSERT INTO drafts (id, body) VALUES (:id, :body)"),
                     [{"id": i, "body": f"draft {i}"} for i in range(100)])
    probe.batches.clear()
    with engine.connect() as conn:
        conn.execute(text("/* tidy up */ delete from drafts where id < 100"))
        conn.commit()
        batches_after_archive = len(probe.batches)
        conn.execute(text("DELETE FROM sample WHERE id < 10"))  # deleting embedded rows embeds nothing
        conn.commit()
    assert probe.under_lock == 0
    assert batches_after_archive <= batches_for(100) and len(probe.batches) == batches_after_archive
    rows = stored(engine)
    assert len(rows) == 90 and rows[42][0] == "archived: draft 42"
    assert_vectors_of_their_texts(engine, 90)
    engine.dispose()


def test_insert_select_and_update_with_an_expression_embed_in_batches_before_the_lock(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    table = Doc.__table__
    with engine.connect() as conn:
        conn.execute(insert(table), [{"id": i, "content": f"note {i}"} for i in range(300)])
        conn.commit()
        probe.batches.clear()
        conn.execute(text("INSERT INTO sample (id, content) SELECT id + 1000, content || ' (copy)' FROM sample"))
        conn.commit()
        conn.execute(update(table).where(table.c.id < 200).values(content=table.c.content + " x"))
        conn.commit()
        conn.exec_driver_sql("UPDATE sample SET content = upper(content) WHERE id >= 1200")
        conn.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= batches_for(300) + batches_for(200) + batches_for(100)
    rows = stored(engine)
    assert rows[1005][0] == "note 5 (copy)" and rows[5][0] == "note 5 x" and rows[1250][0] == "NOTE 250 (COPY)"
    assert_vectors_of_their_texts(engine, 600)
    engine.dispose()


def test_a_raw_dbapi_cursor_and_a_transaction_that_already_wrote(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    raw = engine.raw_connection()
    cursor = raw.cursor()
    cursor.executemany("INSERT INTO sample (id, content) VALUES (?, ?)", ((i, f"raw {i}") for i in range(150)))
    raw.commit()
    assert probe.under_lock == 0 and len(probe.batches) <= batches_for(150)
    # In a transaction that already wrote, the lock is held until it ends: the texts are still read
    # first and embedded in batches (one run of batches, not one text per row).
    probe.batches.clear()
    cursor.execute("UPDATE sample SET content = content || '!' WHERE id < 10")
    cursor.execute("UPDATE sample SET content = content || '?' WHERE id >= 10")
    raw.commit()
    assert len(probe.batches) <= 1 + batches_for(140)
    raw.close()
    assert_vectors_of_their_texts(engine, 150)
    engine.dispose()


def test_a_failing_statement_leaves_nothing_and_says_why(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    with engine.connect() as conn:
        conn.execute(insert(Doc.__table__), [{"id": 1, "content": "one"}])
        conn.commit()
        with pytest.raises(Exception, match="UNIQUE constraint failed"):
            conn.exec_driver_sql("INSERT INTO sample (id, content) SELECT id, content || ' again' FROM sample")
        conn.rollback()
    assert stored(engine)[1][0] == "one" and len(stored(engine)) == 1
    engine.dispose()


def test_threads_writing_and_searching_one_file(tmp_path):
    path = tmp_path / "threads.db"
    engine = lock_workload.engine_for(path, "slow-hash")
    lock_workload.create_schema(engine)
    stop = threading.Event()
    inserter, inserts = lock_workload.serve_in_thread(str(path), "insert", 0.02, stop, "slow-hash")
    searcher, searches = lock_workload.serve_in_thread(str(path), "search", 0.02, stop, "slow-hash", 20_000_000)
    try:
        lock_workload.import_documents(engine, 1000, per_commit=250)
    finally:
        stop.set()
        inserter.join(60)
        searcher.join(60)
    assert inserts["lock_errors"] == 0 and searches["lock_errors"] == 0
    assert not inserts["other_errors"] and not searches["other_errors"]
    assert len(inserts["latencies"]) > 5 and len(searches["latencies"]) > 5
    with engine.connect() as conn:
        assert conn.execute(select(Doc.id).where(Doc.id < 1000)).scalars().all() == list(range(1000))
    engine.dispose()


def test_two_processes_a_bulk_import_and_one_row_inserts_every_50_ms(tmp_path):
    """The issue's workload in little: another process's writes never meet 'database is locked'.

    Its busy timeout is 1 s; the importer's model takes 50 ms a batch of 64, so embedding a commit
    of 500 texts under the lock would hold it ~0.4 s and 2,000 texts in one flush ~1.6 s."""
    path = tmp_path / "procs.db"
    engine = lock_workload.engine_for(path, "slow-hash")
    lock_workload.create_schema(engine)
    stop_file, report = str(tmp_path / "stop"), str(tmp_path / "report.json")
    spawn = multiprocessing.get_context("spawn")
    worker = spawn.Process(target=serve_requests, args=(str(path), "insert", 0.05, stop_file, report, "slow-hash", 10_000_000, 1.0))
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not Path(report + ".ready").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        lock_workload.import_documents(engine, 2000, per_commit=2000)
    finally:
        Path(stop_file).touch()
        worker.join(60)
    import json

    result = json.loads(Path(report).read_text())
    assert result["lock_errors"] == 0, result
    assert not result["other_errors"]
    assert len(result["latencies"]) >= 10
    assert_vectors_of_their_texts(engine)
    engine.dispose()


def test_async_session_flush_embeds_off_the_loop_and_before_the_lock(tmp_path):
    path = tmp_path / "async.db"
    probe = LockProbe(path)

    async def flush() -> None:
        engine = create_async_engine(f"sqlite+tidb_embed:///{path}", embedders={MODEL: probe})
        async with engine.begin() as conn:
            await conn.run_sync(Doc.metadata.create_all)
        async with AsyncSession(engine) as session:
            session.add_all([Doc(id=i, content=f"async note {i}") for i in range(200)])
            await session.commit()
            for doc in (await session.scalars(select(Doc).where(Doc.id < 20))).all():
                doc.content += " (edited)"
            session.add(Doc(id=500, content="one more"))
            await session.commit()
        await engine.dispose()

    loop_thread = threading.get_ident()
    asyncio.run(flush())
    assert probe.under_lock == 0
    assert loop_thread not in probe.threads
    sync = create_engine(f"sqlite+tidb_embed:///{path}", embedders={MODEL: HashingTestEmbedder(384)})
    assert_vectors_of_their_texts(sync, 201)
    sync.dispose()


@pytest.mark.real_model
def test_the_real_model_stores_the_vectors_of_one_text_at_a_time(tmp_path):
    """Texts embedded ahead, in batches, are the vectors each text gets alone (the model's own answer)."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'real.db'}")
    table = Table("notes", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text),
                  Column("embedding", AutoEmbeddingVector(MODEL, source="body")))
    table.metadata.create_all(engine)
    texts = lock_workload.documents(40)
    with engine.begin() as conn:
        conn.execute(insert(table), [{"id": i, "body": t} for i, t in enumerate(texts)])
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO notes (id, body) SELECT id + 100, body || ' (copy)' FROM notes")
    service = engine.dialect.embedding_service
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.id, table.c.body, table.c.embedding)).all()
    service.clear_cache()
    for row in rows:
        alone = service.embed(MODEL, [row.body])[0]
        np.testing.assert_allclose(row.embedding, alone, atol=2e-6, err_msg=f"row {row.id}")
    engine.dispose()


def test_changing_another_column_embeds_the_unchanged_text_before_the_lock_too(tmp_path):
    """SQLite computes a stored generated column again on any UPDATE of its row, so the texts of rows
    whose title alone changed are embedded again: ahead of the lock, in batches."""
    class Base(DeclarativeBase):
        pass

    class Note(Base):
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        title: Mapped[str] = mapped_column(Text)
        body: Mapped[str] = mapped_column(Text)
        embedding = mapped_column(AutoEmbeddingVector(MODEL, source="body"))

    path = tmp_path / "titles.db"
    probe = LockProbe(path)
    engine = create_engine(f"sqlite+tidb_embed:///{path}", embedders={MODEL: probe})
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Note(id=i, title=f"title {i}", body=f"body of note {i}") for i in range(200)])
        session.commit()
        engine.dialect.embedding_service.clear_cache()
        probe.batches.clear()
        for note in session.scalars(select(Note)):
            note.title = note.title.upper()
        session.commit()
        engine.dialect.embedding_service.clear_cache()
        session.execute(update(Note).where(Note.id < 100).values(title="bulk"))  # Core-style, via the ORM
        session.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= batches_for(200) + batches_for(100)
    with engine.connect() as conn:
        for row in conn.execute(select(Note.__table__)):
            np.testing.assert_array_equal(row.embedding, expected(row.body))
    engine.dispose()


def test_a_statement_that_ends_its_transaction_does_so_once(tmp_path):
    """INSERT OR ROLLBACK that conflicts rolls back the transaction it runs in: the dry run must not let
    the statement then run again outside it."""
    engine, probe = engine_with_probe(tmp_path)
    with engine.connect() as conn:
        conn.execute(insert(Doc.__table__), [{"id": 1, "content": "one"}])
        conn.commit()
        conn.execute(insert(Doc.__table__), [{"id": 2, "content": "two"}])  # the transaction wrote
        with pytest.raises(Exception, match="UNIQUE constraint failed"):
            conn.exec_driver_sql("INSERT OR ROLLBACK INTO sample (id, content) VALUES (3, 'three'), (1, 'again')")
        conn.rollback()
    assert {key: content for key, (content, _) in stored(engine).items()} == {1: "one"}
    engine.dispose()


def test_a_leading_comment_or_a_with_clause_does_not_hide_a_write(tmp_path):
    engine, probe = engine_with_probe(tmp_path)
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "/* nightly copy */ WITH src(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM src WHERE n < 100) "
            "INSERT INTO sample (id, content) SELECT n, 'generated note ' || n FROM src"
        )
        conn.commit()
        conn.exec_driver_sql("-- tidy up\nREPLACE INTO sample (id, content) SELECT id, upper(content) FROM sample")
        conn.commit()
    assert probe.under_lock == 0
    assert len(probe.batches) <= 2 * batches_for(100)
    assert stored(engine)[7][0] == "GENERATED NOTE 7"
    assert_vectors_of_their_texts(engine, 100)
    engine.dispose()
