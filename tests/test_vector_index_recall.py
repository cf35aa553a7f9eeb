"""The embedded vector index's recall is the user's to ask for: a default that holds on hard data, and a
search width (``ef_search``) on the index, the engine and the statement, none of which changes any DDL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateIndex

from tidb_embed_orm import Vector, VectorIndex, wait_for_vector_indexes

DIM = 128
ROWS = 20_000
K = 10


def hard_clusters(rows: int = ROWS, queries: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Five wide clusters of 4,000 rows: near-ties everywhere, where an HNSW walk misses true neighbours."""
    rng = np.random.default_rng(7)
    centers = rng.standard_normal((5, DIM)).astype(np.float32)
    data = centers[rng.integers(0, 5, rows)] + rng.standard_normal((rows, DIM)).astype(np.float32)
    asked = data[rng.integers(0, rows, queries)] + 0.5 * rng.standard_normal((queries, DIM)).astype(np.float32)
    return data, asked


def true_top(data: np.ndarray, query: np.ndarray) -> set[int]:
    units = data / np.linalg.norm(data, axis=1, keepdims=True)
    return set((np.argsort(-(units @ (query / np.linalg.norm(query))))[:K] + 1).tolist())


def documents(ef_search: int | None = None) -> tuple[MetaData, Table]:
    metadata = MetaData()
    table = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(DIM)),
                  VectorIndex("idx_docs_v", "v", ef_search=ef_search))
    return metadata, table


@pytest.fixture(scope="module")
def hard_database(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, np.ndarray, np.ndarray]:
    data, asked = hard_clusters()
    path = tmp_path_factory.mktemp("recall") / "hard.db"
    metadata, table = documents()
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i + 1, "v": v} for i, v in enumerate(data)])
    engine.dispose()
    return str(path), data, asked


def recall(url: str, data: np.ndarray, asked: np.ndarray, *, table: Table | None = None, **engine_kw: object) -> float:
    table = documents()[1] if table is None else table
    engine = create_engine(url, **engine_kw)
    hits = 0
    for query in asked:
        with Session(engine) as session:  # a request
            found = session.scalars(select(table.c.id).order_by(table.c.v.cosine_distance(query)).limit(K)).all()
        hits += len(set(found) & true_top(data, query))
    engine.dispose()
    return hits / (K * len(asked))


def test_the_default_width_reaches_095_on_hard_clusters_and_a_wide_one_099(hard_database):
    path, data, asked = hard_database
    url = f"sqlite+tidb_embed:///{path}"
    narrow = recall(url, data, asked, table=documents(ef_search=40)[1])
    default = recall(url, data, asked)
    wide = recall(url, data, asked, table=documents(ef_search=1024)[1])
    assert default >= 0.95
    assert wide >= 0.99
    assert narrow < default  # the setting reaches the graph walk: a narrow walk misses more


def test_the_engine_and_the_statement_can_ask_for_more(hard_database):
    path, data, asked = hard_database
    url = f"sqlite+tidb_embed:///{path}"
    assert recall(url, data, asked, table=documents(ef_search=40)[1], vector_ef_search=1024) < 0.99  # index wins
    assert recall(url, data, asked, vector_ef_search=1024) >= 0.99

    narrow = documents(ef_search=40)[1]
    engine = create_engine(url)
    hits = 0
    for query in asked:
        stmt = select(narrow.c.id).order_by(narrow.c.v.cosine_distance(query)).limit(K)
        with Session(engine) as session:  # the statement's own option wins over the index's
            found = session.scalars(stmt, execution_options={"tidb_embed_ef_search": 1024}).all()
        hits += len(set(found) & true_top(data, query))
    engine.dispose()
    assert hits / (K * len(asked)) >= 0.99


def test_ef_search_changes_no_ddl():
    _, plain = documents()
    _, tuned = documents(ef_search=512)
    for dialect in (mysql.dialect(), create_engine("sqlite+tidb_embed://").dialect):
        assert str(CreateIndex(next(iter(tuned.indexes))).compile(dialect=dialect)) == \
            str(CreateIndex(next(iter(plain.indexes))).compile(dialect=dialect))


@pytest.mark.parametrize("bad", [0, -5, 100_001, 2.5, "512", True])
def test_a_width_that_is_not_a_whole_number_in_range_is_refused_where_it_is_given(bad):
    with pytest.raises(ValueError, match="ef_search is the width of the vector index's search walk"):
        VectorIndex("ix", "v", ef_search=bad)
    with pytest.raises(ValueError, match="vector_ef_search is the width"):
        create_engine("sqlite+tidb_embed://", vector_ef_search=bad)
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("tag", String(4)),
                  Column("v", Vector(3)), VectorIndex("ix_t", "v"))
    engine = create_engine("sqlite+tidb_embed://")
    metadata.create_all(engine)
    with engine.connect() as conn, pytest.raises(ValueError, match="execution option tidb_embed_ef_search is"):
        conn.execute(select(table.c.id).order_by(table.c.v.cosine_distance([1, 0, 0])).limit(1),
                     execution_options={"tidb_embed_ef_search": bad})


@pytest.mark.parametrize("indexed_filter", [False, True], ids=["unindexed-filter", "indexed-filter"])
def test_a_one_percent_filter_returns_the_k_nearest_matching_rows(tmp_path, indexed_filter):
    data, asked = hard_clusters(queries=20)
    metadata = MetaData()
    table = Table("tagged", metadata, Column("id", Integer, primary_key=True),
                  Column("tag", String(4), index=indexed_filter), Column("v", Vector(DIM)), VectorIndex("ix_v", "v"))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'tagged.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i + 1, "tag": f"t{i % 100}", "v": v} for i, v in enumerate(data)])
    tagged = np.arange(ROWS) % 100 == 7
    for query in asked:
        with Session(engine) as session:
            found = session.scalars(select(table.c.id).where(table.c.tag == "t7")
                                    .order_by(table.c.v.cosine_distance(query)).limit(K)).all()
        assert len(found) == K
        assert all((i - 1) % 100 == 7 for i in found)
        ids = np.flatnonzero(tagged) + 1
        expected = set(ids[np.argsort(-(data[tagged] / np.linalg.norm(data[tagged], axis=1, keepdims=True))
                                      @ (query / np.linalg.norm(query)))[:K]].tolist())
        assert len(set(found) & expected) >= K - 1  # approximate without an index on tag; exact with one
        if indexed_filter:
            assert set(found) == expected
    engine.dispose()


def first_search_python_peak(path, rows: int, dim: int = 8) -> int:
    """Python-side peak memory of the first search on a fresh engine and of the graph's build from the table
    (in the background: tracemalloc follows every thread)."""
    import tracemalloc

    metadata = MetaData()
    table = Table("wide", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(dim)),
                  VectorIndex("ix_wide", "v"))
    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    metadata.create_all(engine)
    rng = np.random.default_rng(1)
    with engine.begin() as conn:
        for start in range(0, rows, 50_000):
            block = rng.standard_normal((50_000, dim)).astype(np.float32)
            conn.execute(table.insert(), [{"id": start + i + 1, "v": v} for i, v in enumerate(block)])
    engine.dispose()

    engine = create_engine(f"sqlite+tidb_embed:///{path}")
    tracemalloc.start()
    with Session(engine) as session:
        found = session.scalars(select(table.c.id).order_by(table.c.v.cosine_distance(rng.standard_normal(dim)))
                                .limit(K)).all()
    assert wait_for_vector_indexes(engine, timeout=300)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert any(graph.ready for graph in engine.dialect.vector_indexes._graphs.values()), "no graph was built"
    engine.dispose()
    assert len(found) == K
    return peak


def test_building_a_graph_never_holds_the_column_in_python_objects(tmp_path):
    """Memory outside the graph while it is built is a slice's, whatever the table's size."""
    small = first_search_python_peak(tmp_path / "small.db", 100_000)
    large = first_search_python_peak(tmp_path / "large.db", 400_000)
    assert large < 1.25 * small, f"{large / 2**20:.1f} MiB for 400k rows, {small / 2**20:.1f} MiB for 100k"


def test_a_width_from_numpy_is_a_whole_number_too():
    """A width swept with numpy (``np.geomspace(16, 1024, 7).astype(int)``) is an int to the user."""
    metadata = MetaData()
    table = Table("t", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(3)),
                  VectorIndex("ix_t", "v", ef_search=np.int64(64)))
    assert next(iter(table.indexes)).ef_search == 64
    engine = create_engine("sqlite+tidb_embed://", vector_ef_search=np.int32(32))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1, "v": [1, 0, 0]}, {"id": 2, "v": [0, 1, 0]}])
        found = conn.execute(select(table.c.id).order_by(table.c.v.cosine_distance([1, 0, 0])).limit(1),
                             execution_options={"tidb_embed_ef_search": np.int64(128)}).scalars().all()
    assert found == [1]
    with pytest.raises(ValueError, match="ef_search is the width"):
        VectorIndex("ix", "v", ef_search=np.float64(64))


def tagged_engine(tmp_path, data: np.ndarray, tag_of) -> tuple[Any, Table]:
    """A file database with table ``tagged`` (id, tag, v) holding ``data``, row ``i`` tagged ``tag_of(i)``."""
    metadata = MetaData()
    table = Table("tagged", metadata, Column("id", Integer, primary_key=True), Column("tag", String(4)),
                  Column("v", Vector(data.shape[1])), VectorIndex("ix_v", "v"))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'tagged.db'}")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "tag": tag_of(i), "v": v} for i, v in enumerate(data)])
    return engine, table


def test_a_repeated_filtered_statement_walks_the_graph_once(tmp_path, graph_walks):
    """A filtered statement remembers how many candidates its last run needed: one walk, not a small one first."""
    data, asked = hard_clusters(queries=12)
    engine, table = tagged_engine(tmp_path, data, lambda i: f"t{i % 100}")
    walks = graph_walks
    per_query = []
    for query in asked:
        walks.clear()
        with Session(engine) as session:
            found = session.scalars(select(table.c.id).where(table.c.tag == "t7")
                                    .order_by(table.c.v.cosine_distance(query)).limit(K)).all()
        assert len(found) == K and all(i % 100 == 7 for i in found)
        per_query.append(len(walks))
    assert per_query[0] >= 2  # the first run probes small, then wide
    assert sum(per_query[1:]) <= len(per_query[1:]) + 2, per_query
    engine.dispose()


def test_a_parameter_that_once_matched_nothing_does_not_keep_later_runs_at_the_widest_walk(tmp_path, graph_walks):
    """One statement text, its filter's parameter changing: a run that matched nothing walks for 64 times more
    candidates (then scans); later runs of a 50% filter find their rows at once and come back down to a small
    walk instead of keeping the widest one for good. Every answer is the exact one."""
    from sqlalchemy import bindparam

    from tidb_embed_orm.dialects.embedded.vector_index.search import MAX_MULTIPLIER

    dim, rows = 8, 5_000
    rng = np.random.default_rng(5)
    data = rng.standard_normal((rows, dim)).astype(np.float32)
    engine, table = tagged_engine(tmp_path, data, lambda i: "odd" if i % 2 else "even")
    query = rng.standard_normal(dim)
    by_tag = (select(table.c.id).where(table.c.tag == bindparam("tag"))
              .order_by(table.c.v.cosine_distance(query)).limit(K))
    exact = (select(table.c.id).where(table.c.tag == bindparam("tag"))
             .order_by(table.c.v.cosine_distance(query) + 0).limit(K))
    asked = graph_walks
    with engine.connect() as conn:
        assert conn.execute(by_tag, {"tag": "odd"}).scalars().all() == conn.execute(exact, {"tag": "odd"}).scalars().all()
        smallest, fresh = min(asked), max(asked)  # a first run's walks: what a 50% filter needs
        assert conn.execute(by_tag, {"tag": "none"}).scalars().all() == []
        assert max(asked) >= smallest * MAX_MULTIPLIER  # it walked as wide as it goes before scanning
        for _ in range(56):
            asked.clear()
            found = conn.execute(by_tag, {"tag": "even"}).scalars().all()
            assert found == conn.execute(exact, {"tag": "even"}).scalars().all()
            assert len(found) == K and all(i % 2 == 0 for i in found)
    assert max(asked) <= 2 * fresh, (asked, fresh)
    engine.dispose()
