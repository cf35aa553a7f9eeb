"""nearest(): one filtered vector search, in TiDB's index-friendly form on TiDB, k rows on the embedded engine."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Integer, String, create_engine, select
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm import Vector, VectorIndex, nearest

from .conftest import normalize_sql


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(8))
    v: Mapped[np.ndarray] = mapped_column(Vector(8))
    __table_args__ = (VectorIndex("idx_items_v", "v"),)


def test_on_tidb_it_filters_the_index_candidates_in_an_outer_query():
    stmt = nearest(Item, Item.v.cosine_distance(np.ones(8)), k=10, where=Item.category == "x", candidates=200)
    compiled = stmt.compile(dialect=mysql.dialect())
    assert normalize_sql(str(compiled)) == normalize_sql(
        "SELECT items.id, items.category, items.v, tidb_embed_candidates.tidb_embed_distance AS distance "
        "FROM items INNER JOIN "
        "(SELECT items.id AS id, VEC_COSINE_DISTANCE(items.v, %s) AS tidb_embed_distance FROM items "
        "ORDER BY tidb_embed_distance LIMIT %s) AS tidb_embed_candidates ON items.id = tidb_embed_candidates.id "
        "WHERE items.category = %s ORDER BY tidb_embed_candidates.tidb_embed_distance LIMIT %s"
    )
    scalars = [v for v in compiled.params.values() if isinstance(v, (int, str))]
    assert sorted(scalars, key=str) == sorted([200, "x", 10], key=str)  # bound, never pasted


def test_without_a_filter_it_is_the_plain_indexed_search():
    stmt = nearest(Item, Item.v.cosine_distance(np.ones(8)), k=3)
    assert normalize_sql(str(stmt.compile(dialect=mysql.dialect()))) == normalize_sql(
        "SELECT items.id, items.category, items.v, VEC_COSINE_DISTANCE(items.v, %s) AS distance "
        "FROM items ORDER BY distance LIMIT %s"
    )


def test_on_the_embedded_engine_it_returns_k_matching_rows(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'n.db'}")
    Base.metadata.create_all(engine)
    rng = np.random.default_rng(1)
    with Session(engine) as session:
        session.add_all([Item(id=i, category="x" if i % 100 == 0 else "y", v=rng.standard_normal(8))
                         for i in range(2000)])
        session.commit()
    q = rng.standard_normal(8)
    with Session(engine) as session:
        stmt = nearest(Item, Item.v.cosine_distance(q), k=10, where=Item.category == "x", candidates=20)
        assert "TIDB_EMBED_KNN" in str(stmt.compile(engine))
        found = session.scalars(stmt).all()
        assert len(found) == 10 and all(item.category == "x" for item in found)
        every = sorted((float(1 - item.v @ q / np.linalg.norm(item.v) / np.linalg.norm(q)), item.id)
                       for item in session.scalars(nearest(Item, Item.v.cosine_distance(q), k=1000,
                                                           where=Item.category == "x")))
        assert [item.id for item in found] == [i for _, i in every[:10]]
    engine.dispose()


def test_on_tidb_a_threshold_filters_the_knn_subquery_in_an_outer_query():
    """TiDB's documented form: the index serves ORDER BY distance LIMIT k; the threshold is outside it."""
    stmt = nearest(Item, Item.v.cosine_distance(np.ones(8)), k=5, max_distance=0.4, min_distance=0.1)
    compiled = stmt.compile(dialect=mysql.dialect())
    assert normalize_sql(str(compiled)) == normalize_sql(
        "SELECT items.id, items.category, items.v, tidb_embed_candidates.tidb_embed_distance AS distance "
        "FROM items INNER JOIN "
        "(SELECT items.id AS id, VEC_COSINE_DISTANCE(items.v, %s) AS tidb_embed_distance FROM items "
        "ORDER BY tidb_embed_distance LIMIT %s) AS tidb_embed_candidates ON items.id = tidb_embed_candidates.id "
        "WHERE tidb_embed_candidates.tidb_embed_distance >= %s AND tidb_embed_candidates.tidb_embed_distance <= %s "
        "ORDER BY tidb_embed_candidates.tidb_embed_distance LIMIT %s"
    )
    sent = [compiled.params[name] for name in compiled.positiontup][1:]
    assert sent == [5, 0.1, 0.4, 5]  # unfiltered: the 5 nearest are all the threshold can keep


def test_thresholds_are_checked():
    distance = Item.v.cosine_distance(np.ones(8))
    with pytest.raises(ValueError, match="min_distance=0.5 is above max_distance=0.2"):
        nearest(Item, distance, k=3, max_distance=0.2, min_distance=0.5)
    with pytest.raises(ValueError, match="max_distance is a finite number"):
        nearest(Item, distance, k=3, max_distance=float("nan"))
    with pytest.raises(ValueError, match="max_distance is a finite number"):
        nearest(Item, distance, k=3, max_distance="0.3")  # type: ignore[arg-type]


@pytest.fixture()
def filled(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'n.db'}")
    Base.metadata.create_all(engine)
    rng = np.random.default_rng(7)
    with Session(engine) as session:
        session.add_all([Item(id=i, category="x" if i % 50 == 0 else "y", v=rng.standard_normal(8))
                         for i in range(3000)])
        session.commit()
    yield engine, rng.standard_normal(8)
    engine.dispose()


def exact_distances(session, q):
    return sorted((float(1 - item.v @ q / np.linalg.norm(item.v) / np.linalg.norm(q)), item.id, item.category)
                  for item in session.scalars(select(Item)))


def test_every_row_comes_with_its_distance(filled):
    engine, q = filled
    with Session(engine) as session:
        rows = session.execute(nearest(Item, Item.v.cosine_distance(q), k=5)).all()
        truth = exact_distances(session, q)[:5]
    assert [row.Item.id for row in rows] == [i for _, i, _ in truth]
    assert [row.distance for row in rows] == pytest.approx([d for d, _, _ in truth], abs=1e-5)


def test_on_the_embedded_engine_a_threshold_trims_the_indexed_search(filled, graph_walks):
    engine, q = filled
    with Session(engine) as session:
        truth = exact_distances(session, q)
        limit = (truth[3][0] + truth[4][0]) / 2  # four rows are this near
        stmt = nearest(Item, Item.v.cosine_distance(q), k=10, max_distance=limit)
        assert "TIDB_EMBED_KNN" in str(stmt.compile(engine))
        graph_walks.clear()
        rows = session.execute(stmt).all()
        assert [(row.Item.id, round(row.distance, 5)) for row in rows] == [(i, round(d, 5)) for d, i, _ in truth[:4]]
        assert len(graph_walks) == 1  # one index search: the threshold is not a filter to look further for

        band = nearest(Item, Item.v.cosine_distance(q), k=10, min_distance=(truth[1][0] + truth[2][0]) / 2,
                       max_distance=(truth[6][0] + truth[7][0]) / 2)
        assert [row.Item.id for row in session.execute(band)] == [i for _, i, _ in truth[2:7]]


def test_a_threshold_beside_a_filter_keeps_the_adaptive_index_search(filled, graph_walks):
    engine, q = filled
    with Session(engine) as session:
        matching = [t for t in exact_distances(session, q) if t[2] == "x"]
        limit = (matching[2][0] + matching[3][0]) / 2  # three of the 60 "x" rows are this near
        graph_walks.clear()
        rows = session.execute(nearest(Item, Item.v.cosine_distance(q), k=10, where=Item.category == "x",
                                       max_distance=limit, candidates=20)).all()
        assert [row.Item.id for row in rows] == [i for _, i, _ in matching[:3]]
        with_threshold = list(graph_walks)
        graph_walks.clear()
        session.execute(nearest(Item, Item.v.cosine_distance(q), k=10, where=Item.category == "x", candidates=20))
        assert with_threshold == graph_walks  # it probes for 10 "x" rows as without the threshold...
        assert max(with_threshold) < 3000  # ...and never falls back to reading the whole table


def test_another_threshold_is_the_same_compiled_statement_with_another_value(filled):
    from tidb_embed_orm.testing.counters import CountingCache

    engine, q = filled
    cache = CountingCache()
    with Session(engine.execution_options(compiled_cache=cache)) as session:
        truth = exact_distances(session, q)
        cache.hits = cache.misses = 0
        counts = []
        for n in (2, 5, 9):
            limit = (truth[n - 1][0] + truth[n][0]) / 2
            counts.append(len(session.execute(nearest(Item, Item.v.cosine_distance(q), k=10, max_distance=limit)).all()))
    assert counts == [2, 5, 9]
    assert cache.misses == 1 and cache.hits == 2
