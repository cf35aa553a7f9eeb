"""A large vector index is built in the background: searches answer exactly at once, then from the graph.

A first search after a bulk load used to wait for the whole graph (minutes at a million rows).
Now it scans the table exactly while a thread builds and saves the graph; rows written meanwhile
are folded in afterwards; ``wait_for_vector_indexes`` waits for the build; ``engine.dispose()``
stops it; a failed build leaves searches exact and is tried again.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, event, insert, select
from sqlalchemy.orm import Session

from tidb_embed_orm import Vector, VectorIndex, wait_for_vector_indexes
from tidb_embed_orm.dialects.embedded.vector_index import background
from tidb_embed_orm.dialects.embedded.vector_index.background import BUILD_IN_BACKGROUND_ROWS

DIM = 8
ROWS = BUILD_IN_BACKGROUND_ROWS + 2_000
K = 10


def docs_table():
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("tag", String(8)),
                 Column("v", Vector(DIM)), VectorIndex("ix_docs_v", "v"))
    return metadata, docs


def bulk_load(engine, docs, rows: int = ROWS, start: int = 0, seed: int = 1) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, DIM)).astype(np.float32)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": start + i, "tag": f"t{i % 7}", "v": v} for i, v in enumerate(vectors)])
    return vectors


def nearest(engine, docs, q, k: int = K, **options):
    with Session(engine) as session:  # a request
        stmt = select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(k)
        return list(session.scalars(stmt, execution_options=options))


def exact(engine, docs, q, k: int = K):
    """The brute-force answer (an ORDER BY on an expression is never served by the index)."""
    with engine.connect() as conn:
        return list(conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(q) + 0).limit(k)).scalars())


def builders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tidb-embed-vector-index")]


def graph_ready(engine) -> bool:
    return any(g.ready for g in engine.dialect.vector_indexes._graphs.values())


@pytest.fixture
def held(monkeypatch):
    """Background builds wait for ``held.set()`` before reading the table."""
    gate = threading.Event()
    real = background.rebuild

    def gated(*args, **kwargs):
        assert gate.wait(60), "the test never released the build"
        return real(*args, **kwargs)

    monkeypatch.setattr(background, "rebuild", gated)
    yield gate
    gate.set()


def test_the_first_search_after_a_bulk_load_answers_exactly_while_the_graph_is_built(tmp_path, held, caplog):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    vectors = bulk_load(engine, docs)
    rng = np.random.default_rng(2)
    queries = rng.standard_normal((5, DIM)).astype(np.float32)

    with caplog.at_level(logging.INFO, logger="tidb_embed_orm.vector_index"):
        for q in queries:  # the build is held: every answer is the scan's, exact
            assert nearest(engine, docs, q) == exact(engine, docs, q)
    assert len(builders()) == 1 and not graph_ready(engine)
    assert "building its graph of up to" in caplog.text and "in the background" in caplog.text

    # Writes while it builds are seen at once, and again once the graph serves (folded from the log).
    with Session(engine) as session:
        session.execute(insert(docs).values(id=10**6, tag="new", v=vectors[0] * 3 + 100))
        session.commit()
    far = vectors[0] * 3 + 100
    assert nearest(engine, docs, far, k=1) == [10**6]

    assert wait_for_vector_indexes(engine, timeout=0.05) is False  # still held
    held.set()
    assert wait_for_vector_indexes(engine, timeout=120) is True
    assert not builders() and graph_ready(engine)
    assert list((tmp_path / "docs.db-tidb-vector").glob("*.usearch")), "the graph is saved beside the database"
    assert nearest(engine, docs, far, k=1) == [10**6]
    found = [nearest(engine, docs, q) for q in queries]
    overlap = np.mean([len(set(f) & set(exact(engine, docs, q))) / K for f, q in zip(found, queries, strict=True)])
    assert overlap >= 0.9, overlap
    engine.dispose()

    # A new engine (another process) opens the saved graph: nothing is built again.
    again = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    assert nearest(again, docs, far, k=1) == [10**6]
    assert not builders() and graph_ready(again)
    again.dispose()


def test_inline_builds_make_the_first_search_wait_for_the_graph(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}", vector_index_build="inline")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    bulk_load(engine, docs)
    q = np.random.default_rng(3).standard_normal(DIM)
    assert len(nearest(engine, docs, q)) == K
    assert graph_ready(engine) and not builders()
    engine.dispose()


def test_a_small_table_is_built_by_its_first_search(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    bulk_load(engine, docs, rows=500)
    assert len(nearest(engine, docs, np.ones(DIM))) == K
    assert graph_ready(engine) and not builders()
    engine.dispose()


def test_a_bulk_load_onto_a_live_graph_is_read_from_the_table_in_the_background(tmp_path, held):
    """Folding 27,000 log entries would hold every changed vector at once: the table is read anew."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    bulk_load(engine, docs, rows=300)
    q = np.random.default_rng(4).standard_normal(DIM)
    nearest(engine, docs, q)
    assert graph_ready(engine)
    bulk_load(engine, docs, start=1000, seed=5)
    assert nearest(engine, docs, q) == exact(engine, docs, q)
    assert len(builders()) == 1 and not graph_ready(engine)
    held.set()
    assert wait_for_vector_indexes(engine, timeout=120)
    assert graph_ready(engine)
    assert len(set(nearest(engine, docs, q)) & set(exact(engine, docs, q))) >= 8
    engine.dispose()


def test_dispose_stops_a_build_and_saves_nothing(tmp_path, held):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    bulk_load(engine, docs)
    nearest(engine, docs, np.ones(DIM))
    [thread] = builders()
    engine.dispose()
    held.set()
    thread.join(60)
    assert not thread.is_alive()
    assert not list((tmp_path / "docs.db-tidb-vector").glob("*.usearch"))


def test_a_search_after_dispose_does_not_start_a_second_build_beside_the_stopped_one(tmp_path, held):
    """``engine.dispose()`` stops a build only between slices; until that one ends, searches scan and start no other
    build of the same index (repeated disposes piled up builds side by side)."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    vectors = bulk_load(engine, docs)
    q = vectors[5]
    nearest(engine, docs, q)
    [stopped] = builders()
    for _ in range(3):
        engine.dispose()
        assert nearest(engine, docs, q) == exact(engine, docs, q)  # the scan, while the stopped build winds down
        assert builders() == [stopped]
    held.set()
    stopped.join(60)
    assert not stopped.is_alive()
    nearest(engine, docs, q)  # now a new build starts
    assert wait_for_vector_indexes(engine, timeout=120)
    assert graph_ready(engine)
    engine.dispose()


def test_a_failed_build_leaves_searches_exact_and_is_tried_again(tmp_path, monkeypatch, caplog):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    bulk_load(engine, docs)
    real = background.rebuild
    calls = []

    def failing_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(background, "rebuild", failing_once)
    q = np.random.default_rng(6).standard_normal(DIM)
    with caplog.at_level(logging.WARNING, logger="tidb_embed_orm.vector_index"):
        assert nearest(engine, docs, q) == exact(engine, docs, q)
        assert wait_for_vector_indexes(engine, timeout=60) is False  # ended, but nothing is ready
    assert "building its graph in the background failed" in caplog.text and "No space left" in caplog.text
    assert nearest(engine, docs, q) == exact(engine, docs, q)  # within RETRY_SECONDS: no new build, a scan
    assert not builders() and len(calls) == 1

    monkeypatch.setattr(background, "RETRY_SECONDS", 0.0)
    for graph in engine.dialect.vector_indexes._graphs.values():
        graph.build_retry_at = 0.0
    nearest(engine, docs, q)
    assert wait_for_vector_indexes(engine, timeout=120) and graph_ready(engine) and len(calls) == 2
    engine.dispose()


def test_the_build_setting_is_checked_when_the_engine_is_created():
    with pytest.raises(ValueError, match="vector_index_build is 'background' .* or 'inline' .* not 'later'"):
        create_engine("sqlite+tidb_embed://", vector_index_build="later")


def test_waiting_on_an_engine_that_builds_nothing_returns_at_once():
    assert wait_for_vector_indexes(create_engine("sqlite://")) is True
    assert wait_for_vector_indexes(create_engine("sqlite+tidb_embed://")) is True


def test_waiting_through_a_session_waits_for_its_engine(tmp_path, held):
    """A session (or connection) stands for its engine; an object that is neither is refused, not taken
    for an engine with nothing to build (which returned True at once while the build ran)."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    vectors = bulk_load(engine, docs)
    assert nearest(engine, docs, vectors[0])[0] == 0  # starts the build, held
    with Session(engine) as session, engine.connect() as conn:
        assert wait_for_vector_indexes(session, timeout=0.05) is False
        assert wait_for_vector_indexes(conn, timeout=0.05) is False
        held.set()
        assert wait_for_vector_indexes(session, timeout=120) is True
    assert graph_ready(engine)
    with pytest.raises(TypeError, match="takes the engine the searches run on.*not str"):
        wait_for_vector_indexes(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    engine.dispose()


@pytest.mark.parametrize("ddl", ["DROP TABLE docs", "ALTER TABLE docs RENAME TO papers"])
def test_a_table_dropped_or_renamed_during_a_build_is_no_warning(tmp_path, held, caplog, ddl):
    """The build then reads a table that is gone: nothing is built, and no warning says a build failed
    and will be tried again."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    vectors = bulk_load(engine, docs)
    assert nearest(engine, docs, vectors[3])[0] == 3  # starts the build, held
    with engine.begin() as conn:
        conn.exec_driver_sql(ddl)
    with caplog.at_level(logging.DEBUG, logger="tidb_embed_orm.vector_index"):
        held.set()
        assert wait_for_vector_indexes(engine, timeout=120)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "dropped or renamed while its graph was built" in caplog.text
    assert not graph_ready(engine)
    engine.dispose()


@pytest.mark.parametrize("rows", [300, ROWS], ids=["small", "large"])
def test_searches_inside_an_open_transaction_get_their_graph_in_the_background(tmp_path, rows, caplog):
    """An application that wraps every request in a transaction: its first search scans (a catch-up on the engine's
    own connection could wait on this one's locks) and has the graph brought up on a thread; later searches in the
    same transaction use it, and still see the transaction's own uncommitted rows. Only a large table's build is
    news at INFO: a small one's is not announced as a background build."""
    caplog.set_level(logging.INFO, logger="tidb_embed_orm.vector_index")
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")
    metadata, docs = docs_table()
    metadata.create_all(engine)
    vectors = bulk_load(engine, docs, rows=rows)
    far = vectors[0] * 3 + 100
    q = np.random.default_rng(7).standard_normal(DIM)
    with engine.connect() as conn:
        conn.exec_driver_sql("BEGIN")
        conn.execute(insert(docs).values(id=10**6, tag="mine", v=far))
        stmt = select(docs.c.id).order_by(docs.c.v.cosine_distance(far)).limit(1)
        assert conn.execute(stmt).scalars().all() == [10**6]
        assert wait_for_vector_indexes(engine, timeout=120)
        assert graph_ready(engine)
        assert conn.execute(stmt).scalars().all() == [10**6]  # served by the graph, the dirty row ranked exactly
        found = conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(K)).scalars().all()
        assert len(set(found) & set(exact(engine, docs, q))) >= K - 1
        conn.exec_driver_sql("ROLLBACK")
    assert nearest(engine, docs, far, k=1) != [10**6]
    engine.dispose()
    announced = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and "building its graph" in
                 r.getMessage()]
    assert announced == ([] if rows < BUILD_IN_BACKGROUND_ROWS else
                         [f"vector index 'ix_docs_v': building its graph of up to {rows} rows in the background; "
                          "searches scan the table exactly until it is ready"])


def test_searches_that_always_run_in_a_transaction_have_their_graph_caught_up(tmp_path):
    """SQLAlchemy's pysqlite recipe (the driver's own transactions off, BEGIN on "begin"): every search runs inside a
    transaction, where a connection does not catch the shared graph up itself. Once it is far behind, a thread
    does, while searches keep the graph they have and rank the newer rows exactly."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'docs.db'}")

    @event.listens_for(engine, "connect")
    def no_driver_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(conn):
        conn.exec_driver_sql("BEGIN")

    metadata, docs = docs_table()
    metadata.create_all(engine)
    bulk_load(engine, docs, rows=3_000)
    q = np.random.default_rng(9).standard_normal(DIM)
    nearest(engine, docs, q)  # inside a transaction: scans, and has the graph built on a thread
    assert wait_for_vector_indexes(engine, timeout=120)
    bulk_load(engine, docs, rows=3_000, start=10_000, seed=2)  # 3,000 log entries past the graph
    with Session(engine) as session:
        found = session.scalars(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(K)).all()
        assert found == session.scalars(select(docs.c.id).order_by(docs.c.v.cosine_distance(q) + 0).limit(K)).all()
    assert wait_for_vector_indexes(engine, timeout=120)
    (graph,) = engine.dialect.vector_indexes._graphs.values()
    assert len(graph.ann) == 6_000
    assert len(graph.recent) == 100  # the rows written last stay ranked exactly in the graph swapped in
    assert nearest(engine, docs, q) == exact(engine, docs, q)

    started: list[object] = []
    real_run = background.BackgroundBuilds._run
    background.BackgroundBuilds._run = lambda self, *args: (started.append(args), real_run(self, *args))[1]
    try:
        with Session(engine) as session:  # its own 1,200 uncommitted rows: no thread can fold them
            session.execute(insert(docs), [{"id": 20_000 + i, "tag": "mine", "v": np.ones(DIM) * (i + 1)}
                                           for i in range(1_200)])
            for _ in range(5):
                found = session.scalars(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(K)).all()
                assert wait_for_vector_indexes(engine, timeout=120)
            assert found == session.scalars(select(docs.c.id).order_by(docs.c.v.cosine_distance(q) + 0)
                                            .limit(K)).all()
    finally:
        background.BackgroundBuilds._run = real_run
    assert len(started) == 1  # one catch-up tried; the next searches of that transaction start none
    engine.dispose()
