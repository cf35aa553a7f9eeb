"""nearest(): one filtered vector search, in TiDB's index-friendly form on TiDB, k rows on the embedded engine."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Integer, String, create_engine
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
        "SELECT items.id, items.category, items.v FROM items INNER JOIN "
        "(SELECT items.id AS id, VEC_COSINE_DISTANCE(items.v, %s) AS tidb_embed_distance FROM items "
        "ORDER BY tidb_embed_distance LIMIT %s) AS tidb_embed_candidates ON items.id = tidb_embed_candidates.id "
        "WHERE items.category = %s ORDER BY tidb_embed_candidates.tidb_embed_distance LIMIT %s"
    )
    scalars = [v for v in compiled.params.values() if isinstance(v, (int, str))]
    assert sorted(scalars, key=str) == sorted([200, "x", 10], key=str)  # bound, never pasted


def test_without_a_filter_it_is_the_plain_indexed_search():
    stmt = nearest(Item, Item.v.cosine_distance(np.ones(8)), k=3)
    assert normalize_sql(str(stmt.compile(dialect=mysql.dialect()))) == normalize_sql(
        "SELECT items.id, items.category, items.v FROM items ORDER BY VEC_COSINE_DISTANCE(items.v, %s) LIMIT %s"
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
