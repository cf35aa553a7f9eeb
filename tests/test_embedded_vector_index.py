"""The embedded engine's vector index behaves like a database index: current, isolated, durable, approximate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, with_loader_criteria

from tidb_embed_orm import AutoEmbeddingVector, Vector, VectorIndex, use_client_embedding
from tidb_embed_orm.embedders import HashingTestEmbedder

DIM = 16
ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = create_engine("sqlite+tidb_embed://").dialect


def tables(metric: str = "cosine", schema: str | None = None, name: str = "indexed", column: str = "v"):
    metadata = MetaData(schema=schema)
    indexed = Table(name, metadata, Column("id", Integer, primary_key=True), Column("category", String(8)),
                    Column(column, Vector(DIM)), VectorIndex(f"idx_{name}", column, metric=metric))
    plain = Table("plain", metadata, Column("id", Integer, primary_key=True), Column("category", String(8)),
                  Column(column, Vector(DIM)))
    return metadata, indexed, plain


def top(conn, table, q, metric="cosine", k=5, where=None, column="v"):
    distance = getattr(table.c[column], f"{metric}_distance")(q)
    stmt = select(table.c.id).order_by(distance).limit(k)
    if where is not None:
        stmt = stmt.where(where)
    return conn.execute(stmt).scalars().all()


def exact(conn, table, q, metric="cosine", k=5, where=None, column="v"):
    """The scan's answer restricted to non-NULL vectors: what an indexed search must return."""
    distance = getattr(table.c[column], f"{metric}_distance")(q)
    stmt = select(table.c.id).where(table.c[column].is_not(None)).order_by(distance + 0).limit(k)
    if where is not None:
        stmt = stmt.where(where)
    assert "TIDB_EMBED_KNN" not in str(stmt.compile(dialect=EMBEDDED))  # ordered by an expression: never indexed
    return list(conn.execute(stmt).scalars())


def rows(rng, n, start=0):
    return [{"id": start + i, "category": f"c{i % 10}", "v": rng.standard_normal(DIM)} for i in range(n)]


@pytest.fixture
def path(tmp_path):
    return tmp_path / "knn.db"


@pytest.fixture
def engine(path):
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_indexed_search_equals_the_scan_of_non_null_vectors(engine, metric):
    metadata, indexed, plain = tables(metric)
    metadata.create_all(engine)
    rng = np.random.default_rng(1)
    data = rows(rng, 500)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), data)
        conn.execute(plain.insert(), data)
        conn.execute(indexed.insert().values(id=999, v=None))
        conn.execute(plain.insert().values(id=999, v=None))
    with engine.connect() as conn:
        for q in rng.standard_normal((20, DIM)):
            assert top(conn, indexed, q, metric) == exact(conn, indexed, q, metric)
            scan = top(conn, plain, q, metric)
            assert scan[0] == 999  # the plain scan keeps SQL's NULL ordering (NULL first)...
            assert 999 not in top(conn, indexed, q, metric)  # ...the index never holds NULL vectors
            assert scan[1:] == top(conn, indexed, q, metric)[:4]


def test_which_statements_the_index_serves(engine):
    metadata, indexed, _ = tables()
    q = np.ones(DIM)

    def indexed_sql(stmt):
        return "TIDB_EMBED_KNN" in str(stmt.compile(engine))

    assert indexed_sql(select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)).limit(3))
    assert indexed_sql(select(indexed).where(indexed.c.id > 3).order_by(indexed.c.v.cosine_distance(q)).limit(3))
    assert indexed_sql(select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)).limit(3).offset(2))
    labeled = indexed.c.v.cosine_distance(q).label("d")
    assert indexed_sql(select(indexed.c.id, labeled).order_by(labeled).limit(3))  # ORDER BY d
    assert not indexed_sql(select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)))  # no LIMIT
    assert not indexed_sql(select(indexed.c.id).order_by(indexed.c.v.l2_distance(q)).limit(3))  # another metric
    nested = select(indexed.c.id).order_by(indexed.c.v.cosine_distance(q)).limit(3).subquery()
    assert indexed_sql(select(nested))  # a subquery or CTE of the indexed shape, as hybrid search writes
    filtered = select(indexed.c.id).where(indexed.c.id > 3).order_by(indexed.c.v.cosine_distance(q)).limit(3)
    assert not indexed_sql(select(filtered.subquery()))  # a filtered subquery cannot ask for more rows
    assert not indexed_sql(select(func.count()).select_from(indexed).order_by(indexed.c.v.cosine_distance(q)).limit(3))


def test_limit_and_offset_edge_cases(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(3)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 30))
    q = rng.standard_normal(DIM)
    distance = indexed.c.v.cosine_distance(q)
    with engine.connect() as conn:
        everything = exact(conn, indexed, q, k=100)
        assert conn.execute(select(indexed.c.id).order_by(distance).limit(0)).all() == []
        assert top(conn, indexed, q, k=100) == everything  # more than the table holds
        paged = conn.execute(select(indexed.c.id).order_by(distance).limit(5).offset(20)).scalars().all()
        assert paged == everything[20:25]


def test_isolation_between_connections(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(2)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 200))
    with engine.connect() as writer, engine.connect() as reader:
        nearest = top(reader, indexed, q)[0]
        writer.execute(insert(indexed).values(id=1000, v=q))  # uncommitted insert
        writer.execute(delete(indexed).where(indexed.c.id == nearest))  # uncommitted delete
        assert top(writer, indexed, q)[0] == 1000
        assert nearest not in top(writer, indexed, q)
        assert top(reader, indexed, q)[0] == nearest  # nothing of the other open transaction
        assert 1000 not in top(reader, indexed, q)
        writer.rollback()
        assert top(writer, indexed, q)[0] == nearest  # a rollback leaves no trace
        writer.execute(update(indexed).where(indexed.c.id == 5).values(v=q * 3))
        writer.commit()
        assert top(reader, indexed, q)[0] == 5  # the commit is seen by the next search


def test_another_process_commit_is_seen_by_the_next_search(engine, path):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(4)
    q = rng.standard_normal(DIM).astype(np.float32)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 100))
    with engine.connect() as conn:
        assert 2000 not in top(conn, indexed, q)
    script = textwrap.dedent(f"""
        import numpy as np
        from sqlalchemy import create_engine, text
        engine = create_engine("sqlite+tidb_embed:///{path}")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO indexed (id, v) VALUES (2000, :v)"),
                         {{"v": np.array({q.tolist()}, dtype="<f4").tobytes()}})
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=ROOT)
    with engine.connect() as conn:
        assert top(conn, indexed, q)[0] == 2000


def test_the_graph_is_saved_and_opened_without_rebuilding(path, monkeypatch):
    from tidb_embed_orm.dialects.embedded.vector_index import store

    metadata, indexed, _ = tables()
    first = create_engine(f"sqlite+tidb_embed:///{path}")
    metadata.create_all(first)
    rng = np.random.default_rng(5)
    with first.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 300))
    q = rng.standard_normal(DIM)
    with first.connect() as conn:
        expected = top(conn, indexed, q)
    first.dispose()
    assert list(Path(f"{path}-tidb-vector").glob("*.usearch")), "the graph was not saved beside the database"

    def no_rebuild(*args):
        raise AssertionError("the index was rebuilt from the table")

    monkeypatch.setattr(store, "build_from_table", no_rebuild)  # what catch_up calls
    second = create_engine(f"sqlite+tidb_embed:///{path}")
    with second.connect() as conn:  # served by the graph as saved, viewed without its rowid table
        assert top(conn, indexed, q) == expected
    with second.begin() as conn:
        conn.execute(insert(indexed).values(id=5000, v=q))  # folded from the log, not rebuilt
        conn.execute(delete(indexed).where(indexed.c.id == expected[0]))  # a row the saved graph holds
    with second.connect() as conn:
        assert top(conn, indexed, q) == [5000, *expected[1:]]
    second.dispose()


def test_rebuilding_the_table_rebuilds_its_index(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(6)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 50))
    with engine.connect() as conn:
        top(conn, indexed, q)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(np.random.default_rng(7), 50, start=100))
    with engine.connect() as conn:
        assert top(conn, indexed, q) == exact(conn, indexed, q)
        assert min(top(conn, indexed, q)) >= 100


def test_dropping_the_index_removes_its_change_log_and_saved_graph(engine, path):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(np.random.default_rng(8), 20, start=1000))
    with engine.connect() as conn:
        top(conn, indexed, np.ones(DIM))
    assert list(Path(f"{path}-tidb-vector").glob("*.usearch"))
    with engine.begin() as conn:
        triggers = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%vlog%'"
        assert conn.exec_driver_sql(triggers).scalar() == 3
        conn.exec_driver_sql("DROP INDEX idx_indexed")
        assert conn.exec_driver_sql(triggers).scalar() == 0
        assert not list(Path(f"{path}-tidb-vector").glob("*.usearch"))
        conn.execute(indexed.insert(), rows(np.random.default_rng(8), 5))
        assert conn.exec_driver_sql("SELECT count(*) FROM _tidb_embed_vector_log").scalar() == 0


def test_filtered_search_returns_k_matching_rows(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(9)
    data = rows(rng, 3000)
    for row in data:
        row["category"] = "rare" if row["id"] % 150 == 0 else "common"  # 20 rare rows
    with engine.begin() as conn:
        conn.execute(indexed.insert(), data)
    with Session(engine) as session:
        for q in rng.standard_normal((5, DIM)):
            rare = indexed.c.category == "rare"
            found = top(session, indexed, q, k=10, where=rare)
            assert len(found) == 10
            assert found == exact(session, indexed, q, k=10, where=rare)
            assert len(top(session, indexed, q, k=30, where=rare)) == 20  # all there are


def test_attached_schema_searches_its_own_table(engine, tmp_path):
    @event.listens_for(engine, "connect")
    def attach(dbapi_connection, record):
        dbapi_connection.execute(f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS other")

    main_meta, main_table, _ = tables()
    other_meta, other_table, _ = tables(schema="other")
    main_meta.create_all(engine)
    other_meta.create_all(engine)
    rng = np.random.default_rng(10)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(main_table.insert(), rows(rng, 100))
        conn.execute(other_table.insert(), rows(rng, 100, start=500))
        conn.execute(other_table.insert().values(id=777, v=q))
    with engine.connect() as conn:
        assert top(conn, other_table, q)[0] == 777
        assert top(conn, other_table, q) == exact(conn, other_table, q)
        assert top(conn, main_table, q) == exact(conn, main_table, q)


def test_identifiers_with_quotes(engine):
    metadata, indexed, _ = tables(name='we"ird ta\'ble', column='v"ec')
    metadata.create_all(engine)
    rng = np.random.default_rng(11)
    data = [{"id": i, "v\"ec": rng.standard_normal(DIM)} for i in range(100)]
    with engine.begin() as conn:
        conn.execute(indexed.insert(), data)
    with engine.connect() as conn:
        for q in rng.standard_normal((3, DIM)):
            assert top(conn, indexed, q, column='v"ec') == exact(conn, indexed, q, column='v"ec')


def test_client_mode_text_search_on_an_indexed_column(tmp_path):
    model = "huggingface/BAAI/bge-m3"
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'client.db'}"),
                                  embedders={model: HashingTestEmbedder(1024)})
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                 Column("body_vec", AutoEmbeddingVector(model, source="body")), VectorIndex("idx_body", "body_vec"))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(docs.insert(), [{"id": i, "body": f"text {i}"} for i in range(50)])
    with engine.connect() as conn:
        stmt = select(docs.c.id).order_by(docs.c.body_vec.cosine_distance("text 17")).limit(3)
        assert "TIDB_EMBED_KNN" in str(stmt.compile(engine))
        assert conn.execute(stmt).scalars().first() == 17
    engine.dispose()


def test_text_search_on_an_indexed_auto_embedding_column(tmp_path):
    model = "huggingface/BAAI/bge-m3"
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'auto.db'}", embedders={model: HashingTestEmbedder(1024)})
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                 Column("body_vec", AutoEmbeddingVector(model, source="body")), VectorIndex("idx_body", "body_vec"))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(docs.insert(), [{"id": i, "body": f"text {i}"} for i in range(50)])
        conn.execute(docs.insert().values(id=99, body=None))  # NULL text: NULL vector, never found
        stmt = select(docs.c.id).order_by(docs.c.body_vec.cosine_distance("text 17")).limit(100)
        found = conn.execute(stmt).scalars().all()
        assert found[0] == 17 and 99 not in found and len(found) == 50


def test_writer_and_searcher_threads_run_without_errors(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(np.random.default_rng(12), 200))
    errors: list[BaseException] = []
    stale: list[int] = []

    def writer(n: int) -> None:
        rng = np.random.default_rng(100 + n)
        try:
            for i in range(25):
                vector = rng.standard_normal(DIM)
                row_id = 10_000 * (n + 1) + i
                with Session(engine) as session:  # a request
                    session.execute(insert(indexed).values(id=row_id, v=vector))
                    session.commit()
                with Session(engine) as session:  # the next request reads its own write
                    if top(session, indexed, vector, k=1) != [row_id]:
                        stale.append(row_id)
        except BaseException as exc:
            errors.append(exc)

    def searcher(n: int) -> None:
        rng = np.random.default_rng(200 + n)
        try:
            for _ in range(40):
                with Session(engine) as session:
                    assert len(top(session, indexed, rng.standard_normal(DIM), k=5)) == 5
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=searcher, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert stale == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(indexed)).scalar() == 275
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


KILL_SCRIPT = """
import sys, numpy as np
from sqlalchemy import create_engine, insert, select, delete
sys.path.insert(0, {tests!r})
from test_embedded_vector_index import tables, rows
from tidb_embed_orm.dialects.embedded.vector_index import store
store.SAVE_MIN = 5  # save (and compact) all the time, so that a kill lands inside index maintenance
engine = create_engine("sqlite+tidb_embed:///{path}")
metadata, indexed, _ = tables()
rng = np.random.default_rng({seed})
n = 0
while True:
    with engine.begin() as conn:
        conn.execute(insert(indexed), rows(rng, 20, start=100_000 * {seed} + 20 * n))
        conn.execute(delete(indexed).where(indexed.c.id % 7 == n % 7))
    with engine.connect() as conn:
        conn.execute(select(indexed.c.id).order_by(indexed.c.v.cosine_distance(rng.standard_normal(16))).limit(5)).all()
    n += 1
    print(n, flush=True)
"""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_during_writes_and_index_maintenance_loses_nothing(path, seed):
    metadata, indexed, _ = tables()
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    script = KILL_SCRIPT.format(tests=str(ROOT / "tests"), path=path, seed=seed)
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    for _ in range(3 + 2 * seed):  # let it commit and maintain the index a few times, then kill -9
        assert process.stdout.readline(), "the writer died by itself"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    rng = np.random.default_rng(99)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(indexed)).scalar() > 0
        for q in rng.standard_normal((10, DIM)):
            assert top(conn, indexed, q, k=10) == exact(conn, indexed, q, k=10)
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()


def test_the_graph_walk_finds_the_true_neighbours(engine, monkeypatch):
    from tidb_embed_orm.dialects.embedded.vector_index import ann

    monkeypatch.setattr(ann, "EXACT_WORK", 0)  # always walk the HNSW graph, as large tables do
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(13)
    centers = rng.standard_normal((20, DIM))
    data = [{"id": i, "v": centers[i % 20] + 0.3 * rng.standard_normal(DIM)} for i in range(3000)]
    with engine.begin() as conn:
        conn.execute(indexed.insert(), data)
    hits = 0
    with engine.connect() as conn:
        for q in rng.standard_normal((30, DIM)):
            found = top(conn, indexed, q, k=10)
            hits += len(set(found) & set(exact(conn, indexed, q, k=10)))
            distances = [1 - data[i]["v"] @ q / np.linalg.norm(data[i]["v"]) / np.linalg.norm(q) for i in found]
            assert distances == sorted(distances)  # candidates are ranked exactly
    assert hits / 300 >= 0.95


def test_a_schema_attached_after_a_search_is_searched_too(engine, tmp_path):
    main_meta, main_table, _ = tables()
    other_meta, other_table, _ = tables(schema="other")
    main_meta.create_all(engine)
    rng = np.random.default_rng(14)
    q = rng.standard_normal(DIM)
    with engine.connect() as conn:
        conn.execute(main_table.insert(), rows(rng, 50))
        conn.commit()
        top(conn, main_table, q)
        conn.exec_driver_sql(f"ATTACH DATABASE '{tmp_path / 'late.db'}' AS other")
        other_meta.create_all(conn)
        conn.execute(other_table.insert(), rows(rng, 50, start=500))
        conn.commit()
        assert top(conn, other_table, q) == exact(conn, other_table, q)
        assert min(top(conn, other_table, q)) >= 500


def test_a_filtered_search_after_writes_still_finds_the_nearest_matching_rows(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(15)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 2000))
    q = rng.standard_normal(DIM)
    c3 = indexed.c.category == "c3"
    with engine.connect() as conn:
        top(conn, indexed, q)
    for n in range(3):  # recent writes (ranked exactly) must not make a probe look complete
        with engine.begin() as conn:
            conn.execute(indexed.insert(), rows(rng, 30, start=5000 + 100 * n))
        with engine.connect() as conn:
            assert top(conn, indexed, q, k=10, where=c3) == exact(conn, indexed, q, k=10, where=c3)


def test_criteria_the_orm_adds_make_a_search_filtered(engine):
    class Base(DeclarativeBase):
        pass

    class Doc(Base):
        __tablename__ = "docs"
        id: Mapped[int] = mapped_column(primary_key=True)
        kind: Mapped[str] = mapped_column(String(8))
        v = mapped_column(Vector(DIM))
        __table_args__ = (VectorIndex("ix_docs", "v"),)
        __mapper_args__ = {"polymorphic_on": "kind", "polymorphic_identity": "a"}

    class B(Doc):
        __mapper_args__ = {"polymorphic_identity": "b"}

    Base.metadata.create_all(engine)
    rng = np.random.default_rng(16)
    with Session(engine) as session:
        session.add_all([Doc(id=i, v=rng.standard_normal(DIM)) for i in range(1, 400)])
        session.add_all([B(id=1000 + i, v=rng.standard_normal(DIM)) for i in range(10)])
        session.commit()
    q = rng.standard_normal(DIM)
    with Session(engine) as session:
        assert len(session.scalars(select(B).order_by(B.v.cosine_distance(q)).limit(5)).all()) == 5
        criteria = with_loader_criteria(Doc, Doc.id >= 1000)
        found = session.scalars(select(Doc).order_by(Doc.v.cosine_distance(q)).limit(5).options(criteria)).all()
        assert len(found) == 5 and all(doc.id >= 1000 for doc in found)


def test_aggregates_and_window_functions_are_never_served_by_the_index(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(np.random.default_rng(17), 500))
    distance = indexed.c.v.cosine_distance(np.ones(DIM))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(indexed).order_by(distance).limit(1)).scalar() == 500
        assert conn.execute(select(indexed.c.id, func.count().over()).order_by(distance).limit(1)).one()[1] == 500


def test_an_index_on_an_auto_embedding_column_searched_while_empty(path):
    model = "huggingface/BAAI/bge-m3"
    engine = create_engine(f"sqlite+tidb_embed:///{path}", embedders={model: HashingTestEmbedder(1024)})
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("body", Text),
                 Column("body_vec", AutoEmbeddingVector(model, source="body")), VectorIndex("idx_body", "body_vec"))
    metadata.create_all(engine)
    stmt = select(docs.c.id).order_by(docs.c.body_vec.cosine_distance("text 17")).limit(3)
    with engine.connect() as conn:
        assert conn.execute(stmt).all() == []  # the graph is built on the declared VECTOR(1024)
    with engine.begin() as conn:
        conn.execute(docs.insert(), [{"id": i, "body": f"text {i}"} for i in range(300)])
    with engine.connect() as conn:
        assert conn.execute(stmt).scalars().first() == 17
    engine.dispose()


def test_schema_translate_map_searches_the_translated_table(engine, tmp_path):
    @event.listens_for(engine, "connect")
    def attach(dbapi_connection, record):
        dbapi_connection.execute(f"ATTACH DATABASE '{tmp_path / 'tenant.db'}' AS tenant")

    metadata, indexed, _ = tables()
    tenant = engine.execution_options(schema_translate_map={None: "tenant"})
    metadata.create_all(engine)
    metadata.create_all(tenant)
    rng = np.random.default_rng(18)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 300))
    with tenant.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 300, start=1000))
    with tenant.connect() as conn:
        assert top(conn, indexed, q) == exact(conn, indexed, q) and min(top(conn, indexed, q)) >= 1000
    with engine.connect() as conn:
        assert top(conn, indexed, q) == exact(conn, indexed, q) and max(top(conn, indexed, q)) < 1000


def test_insert_or_replace_leaves_no_ghost_rows(engine):
    metadata = MetaData()
    t = Table("t", metadata, Column("id", Integer, primary_key=True), Column("url", String(20), unique=True),
              Column("v", Vector(DIM)), VectorIndex("ix_t", "v"))
    metadata.create_all(engine)
    rng = np.random.default_rng(19)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(insert(t), [{"url": f"u{j}", "v": rng.standard_normal(DIM)} for j in range(300)])
    for i in range(150):  # each REPLACE deletes the row with the same url (a new rowid replaces it)
        with engine.begin() as conn:
            conn.execute(insert(t).prefix_with("OR REPLACE"), [{"url": "same", "v": q + 0.001 * i}])
        if i % 10 == 0:
            with engine.connect() as conn:
                top(conn, t, q)  # fold the commits into the graph
    with engine.connect() as conn:
        assert top(conn, t, q, k=5) == exact(conn, t, q, k=5)
    graph = next(iter(engine.dialect.vector_indexes._graphs.values()))
    assert len(graph.ann) == 301


def test_indexes_the_engine_cannot_keep_are_refused_before_they_exist(engine):
    metadata = MetaData()
    Table("w", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(DIM)),
          VectorIndex("ix_w", "v"), sqlite_with_rowid=False)
    Table("nodim", metadata, Column("id", Integer, primary_key=True), Column("v", Vector()), VectorIndex("ix_n", "v"))
    from tidb_embed_orm.dialects.embedded.vector_index.schema import VectorIndexUnsupported

    with pytest.raises(VectorIndexUnsupported, match="WITHOUT ROWID"):
        metadata.tables["w"].create(engine)
    with pytest.raises(VectorIndexUnsupported, match="fixed dimension"):
        metadata.tables["nodim"].create(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name IN ('ix_w', 'ix_n')").all() == []
    plain = MetaData()
    Table("other", plain, Column("id", Integer, primary_key=True))
    plain.create_all(engine)  # later DDL is unaffected


def test_a_graph_whose_file_another_process_replaced_keeps_working(engine, path):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(20)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 300))
    with engine.connect() as conn:
        top(conn, indexed, np.ones(DIM))  # built and saved
    engine.dispose()
    reopened = create_engine(f"sqlite+tidb_embed:///{path}")
    with reopened.connect() as conn:
        top(conn, indexed, np.ones(DIM))  # opened as a memory map of the saved file
    for saved in Path(f"{path}-tidb-vector").glob("*.usearch"):
        saved.unlink()  # as another process's newer save does
    q = rng.standard_normal(DIM)
    with reopened.begin() as conn:
        conn.execute(insert(indexed).values(id=9000, v=q))
    with reopened.connect() as conn:
        assert top(conn, indexed, q)[0] == 9000
        assert top(conn, indexed, q) == exact(conn, indexed, q)
    reopened.dispose()


def test_a_search_in_a_subquery_or_cte_uses_the_index(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(21)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 500))
        conn.execute(indexed.insert().values(id=999, v=None))
    q = rng.standard_normal(DIM)
    distance = indexed.c.v.cosine_distance(q)
    with engine.connect() as conn:
        ranked = select(indexed.c.id, distance.label("d")).where(indexed.c.v.is_not(None)).order_by(distance).limit(8)
        cte = ranked.cte("nearest")
        stmt = select(cte.c.id, func.row_number().over(order_by=cte.c.d)).order_by(cte.c.d)
        assert "TIDB_EMBED_KNN" in str(stmt.compile(conn))
        assert [row[0] for row in conn.execute(stmt)] == exact(conn, indexed, q, k=8)
        assert [row[1] for row in conn.execute(stmt)] == list(range(1, 9))


def test_rows_at_the_ends_of_the_rowid_range_are_searched(engine):
    """SQLite's rowids run from -2**63 to 2**63-1; a graph built from the table holds both ends."""
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(11)
    ends = [-(1 << 63), -(1 << 63) + 1, -5, 0, (1 << 63) - 1]
    with engine.begin() as conn:
        conn.execute(indexed.insert(), [{"id": i, "v": rng.standard_normal(DIM)} for i in ends])
    with engine.connect() as conn:
        for q in rng.standard_normal((5, DIM)):
            assert sorted(top(conn, indexed, q, k=5)) == sorted(ends)
            assert top(conn, indexed, q, k=5) == exact(conn, indexed, q, k=5)


@pytest.mark.parametrize("graph_from", ["the table", "its saved file"])
def test_a_row_with_rowid_minus_one_is_found(tmp_path, graph_from):
    """usearch reserves the key rowid -1 maps to: that row lives outside the graph and is ranked exactly."""
    from sqlalchemy import Column, MetaData, Table, insert

    path = tmp_path / "signed.db"
    docs = Table("signed", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(16)),
                 VectorIndex("ix_signed_v", "v"))
    rng = np.random.default_rng(4)
    target = rng.standard_normal(16)
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    docs.metadata.create_all(engine)
    with engine.begin() as conn:
        rows = [{"id": i, "v": rng.standard_normal(16)} for i in range(-3000, 3000) if i != -1]
        conn.execute(insert(docs), [{"id": -1, "v": target}, *rows])

    def top(engine):
        with engine.connect() as conn:
            return conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(target)).limit(3)).scalars().all()

    if graph_from == "its saved file":
        top(engine)  # builds and saves the graph
        engine.dispose()
        engine = create_engine(f"sqlite+tidb_embed:///{path}")
    assert top(engine)[0] == -1
    with engine.connect() as conn:
        scan = conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(target) + 0).limit(3)).scalars().all()
    assert top(engine) == scan
    engine.dispose()


def knn_statements(engine) -> list[str]:
    """The statements SQLite runs from now on that ask the index for candidates (its trace of each run)."""
    seen: list[str] = []

    @event.listens_for(engine, "connect")
    def trace(dbapi_connection, _record):
        def statement(sql: str) -> None:
            if "TIDB_EMBED_KNN(" in sql and not sql.lstrip().upper().startswith("EXPLAIN"):  # not the plan's questions
                seen.append(sql)

        dbapi_connection.set_trace_callback(statement)

    engine.dispose()  # connections opened from now on are traced
    return seen


def test_a_filtered_search_whose_probe_found_its_rows_runs_once(engine, graph_walks):
    """With no row to rank exactly besides the graph's candidates, the probe that finds k matching rows among
    enough of them ran the very statement the answer would: its rows are returned, through every way of reading
    them."""

    class Base(DeclarativeBase):
        pass

    class Doc(Base):
        __tablename__ = "docs"
        id: Mapped[int] = mapped_column(primary_key=True)
        category: Mapped[str] = mapped_column(String(8))
        v = mapped_column(Vector(DIM))
        __table_args__ = (VectorIndex("ix_docs_v", "v"),)

    Base.metadata.create_all(engine)
    rng = np.random.default_rng(21)
    data = rows(rng, 5000)
    for row in data:  # 1%: the probe walks wide enough to leave slack behind its k-th row (a few hundred candidates)
        row["category"] = "c3" if row["id"] % 100 == 3 else "other"
    with engine.begin() as conn:
        conn.execute(insert(Doc), data)
    with Session(engine) as session:
        session.scalars(select(Doc).order_by(Doc.v.cosine_distance(rng.standard_normal(DIM))).limit(1)).all()
    runs = knn_statements(engine)
    table = Doc.__table__
    for q in rng.standard_normal((5, DIM)):
        c3 = Doc.category == "c3"
        stmt = select(Doc).where(c3).order_by(Doc.v.cosine_distance(q)).limit(10)
        with Session(engine) as session:  # a request
            runs.clear()
            graph_walks.clear()
            docs = session.scalars(stmt).all()
            assert len(runs) == len(graph_walks)  # each run a probe that walked the graph: none run again
            with engine.connect() as conn:
                expected = exact(conn, table, q, k=10, where=table.c.category == "c3")
            assert [d.id for d in docs] == expected
            assert all(d.category == "c3" and d.v.shape == (DIM,) for d in docs)
            assert session.scalars(stmt).first().id == expected[0]
            assert [m["id"] for m in session.execute(select(table).where(table.c.category == "c3")
                                                     .order_by(table.c.v.cosine_distance(q)).limit(10))
                    .mappings()] == expected
            result = session.execute(stmt.execution_options(yield_per=3))
            assert [d.id for part in result.scalars().partitions() for d in part] == expected


def test_a_filtered_search_ranks_the_rows_written_after_its_graph(engine, graph_walks):
    """Rows written since the graph was opened (the last ones, kept to rank exactly) and uncommitted rows are
    ranked beside the graph's candidates: the final run, not the probe, answers."""
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(22)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), rows(rng, 3000))
    q = rng.standard_normal(DIM)
    c3 = indexed.c.category == "c3"
    with engine.connect() as conn:
        top(conn, indexed, q, k=10, where=c3)  # the graph, and this statement's memory of its filter
    with engine.begin() as conn:
        conn.execute(indexed.insert(), [{"id": 9001, "category": "c3", "v": q}, {"id": 9002, "category": "c4", "v": q}])
    runs = knn_statements(engine)
    with engine.connect() as conn:
        graph_walks.clear()
        found = top(conn, indexed, q, k=10, where=c3)
        assert len(runs) == len(graph_walks) + 1  # the probes, then the final run with the recent rows
        assert found[0] == 9001
        assert found == exact(conn, indexed, q, k=10, where=c3)
    with engine.connect() as conn:  # this connection's own uncommitted write
        conn.execute(indexed.insert(), [{"id": 9003, "category": "c3", "v": q * 2}])
        assert sorted(top(conn, indexed, q, k=2, where=c3)) == [9001, 9003]
        conn.rollback()


def test_a_filtered_search_finds_the_row_with_rowid_minus_one(engine):
    metadata, indexed, _ = tables()
    metadata.create_all(engine)
    rng = np.random.default_rng(23)
    q = rng.standard_normal(DIM)
    with engine.begin() as conn:
        conn.execute(indexed.insert(), [{"id": -1, "category": "c3", "v": q}, *rows(rng, 3000, start=1)])
    c3 = indexed.c.category == "c3"
    with engine.connect() as conn:
        for _ in range(3):  # the first builds the graph; later ones start from the filter's remembered width
            found = top(conn, indexed, q, k=10, where=c3)
            assert found[0] == -1
            assert found == exact(conn, indexed, q, k=10, where=c3)


def test_a_graph_saved_with_fewer_links_keeps_its_wider_default_walk(tmp_path, monkeypatch):
    """Graphs are built with ``CONNECTIVITY`` links; one saved before with usearch's 16 keeps them when opened,
    and its default walk stays as wide as its recall needs."""
    from tidb_embed_orm.dialects.embedded.vector_index import ann
    from tidb_embed_orm.dialects.embedded.vector_index.graph_file import GraphStamp

    assert ann.CONNECTIVITY > 16
    assert (ann.default_ef(100_000), ann.default_ef(1_000_000)) == (128, 256)
    assert (ann.default_ef(100_000, 16), ann.default_ef(1_000_000, 16)) == (192, 384)
    assert ann.default_ef(1_000, 16) == ann.default_ef(1_000) == 128  # never narrower than MIN_EF

    monkeypatch.setattr(ann, "EXACT_WORK", 0)  # walk even this small graph
    widths: list[int] = []
    walk = ann.AnnGraph._search
    monkeypatch.setattr(ann.AnnGraph, "_search", lambda self, index, v, count, width: widths.append(width)
                        or walk(self, index, v, count, width))
    monkeypatch.setattr(ann, "REFERENCE_ROWS", 1_000)  # so 2,000 rows get a width above MIN_EF
    rng = np.random.default_rng(3)
    stamp = GraphStamp("t", "0" * 32, 2, 0, "cosine", DIM)
    for links in (16, ann.CONNECTIVITY):
        graph = ann.AnnGraph("cosine", DIM, connectivity=links)
        graph.add_new(np.arange(2_000, dtype=np.int64), rng.standard_normal((2_000, DIM)))
        path = tmp_path / f"links{links}.usearch"
        graph.save(path, stamp)
        opened = ann.AnnGraph.load(path, stamp)  # built with CONNECTIVITY in mind, read with the file's links
        widths.clear()
        assert len(opened.search(rng.standard_normal(DIM), 10)) == 10
        assert widths == [ann.default_ef(2_000, links)]
    assert ann.default_ef(2_000, 16) > ann.default_ef(2_000)


def test_a_search_whose_limit_covers_the_table_returns_every_row(tmp_path):
    """LIMIT at or past the table's size asks the graph for all of its rows. An HNSW walk leaves a few nodes no
    link reaches (near-duplicates, whose links the graph prunes as redundant), so that ask is answered by brute
    force over the graph's vectors: every row comes back, filtered or not, in distance order."""
    from tidb_embed_orm import wait_for_vector_indexes

    rows, dim = 40_000, 64  # rows x dim past ann.EXACT_WORK: smaller graphs are always searched exactly
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("tenth", Integer),
                 Column("v", Vector(dim)), VectorIndex("idx_docs_v", "v"))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'dups.db'}")
    metadata.create_all(engine)
    rng = np.random.default_rng(0)
    distinct = rng.standard_normal((200, dim)).astype(np.float32)
    vectors = distinct[rng.integers(0, 200, rows)] + 0.01 * rng.standard_normal((rows, dim)).astype(np.float32)
    with engine.begin() as conn:
        conn.execute(insert(docs), [{"id": i, "tenth": i % 10, "v": v} for i, v in enumerate(vectors)])
    with Session(engine) as session:  # the first search starts the graph's build
        session.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(distinct[0])).limit(1)).all()
    assert wait_for_vector_indexes(engine, timeout=300)
    q = distinct[3]
    with Session(engine) as session:
        everything = session.scalars(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(rows)).all()
        assert sorted(everything) == list(range(rows))
        assert everything == session.scalars(select(docs.c.id).order_by(docs.c.v.cosine_distance(q) + 0)).all()
        tenth = session.scalars(select(docs.c.id).where(docs.c.tenth == 3)
                                .order_by(docs.c.v.cosine_distance(q)).limit(rows)).all()
        assert sorted(tenth) == list(range(3, rows, 10))
    engine.dispose()
