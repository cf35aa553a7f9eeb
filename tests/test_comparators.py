"""Distance comparators in ORDER BY, WHERE and SELECT, for vectors and for text."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Integer, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tidb_embed_orm import AutoEmbeddingVector, DimensionError, TextQueryNotSupported, Vector, VectorValueError

from .conftest import normalize_sql


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str | None] = mapped_column(Text)
    body_vec: Mapped[np.ndarray | None] = mapped_column(AutoEmbeddingVector("huggingface/BAAI/bge-m3", source="body"))
    plain: Mapped[np.ndarray | None] = mapped_column(Vector(3))


def sql(stmt, dialect) -> str:
    return normalize_sql(str(stmt.compile(dialect=dialect)))


@pytest.mark.parametrize(
    "method, function",
    [
        ("cosine_distance", "VEC_COSINE_DISTANCE"),
        ("l2_distance", "VEC_L2_DISTANCE"),
        ("l1_distance", "VEC_L1_DISTANCE"),
        ("negative_inner_product", "VEC_NEGATIVE_INNER_PRODUCT"),
    ],
)
def test_vector_argument(mysql_dialect, method, function):
    distance = getattr(Item.plain, method)(np.array([1, 2, 3], dtype=np.float32))
    stmt = select(Item.id).order_by(distance).limit(3)
    assert sql(stmt, mysql_dialect) == f"SELECT item.id FROM item ORDER BY {function}(item.plain, %s) LIMIT %s"
    compiled = stmt.compile(dialect=mysql_dialect)
    bind = compiled.binds[next(iter(compiled.params))]
    assert bind.type.bind_processor(mysql_dialect)(bind.value) == "[1.0,2.0,3.0]"


@pytest.mark.parametrize(
    "method, function",
    [
        ("cosine_distance", "VEC_EMBED_COSINE_DISTANCE"),
        ("l2_distance", "VEC_EMBED_L2_DISTANCE"),
        ("l1_distance", "VEC_EMBED_L1_DISTANCE"),
        ("negative_inner_product", "VEC_EMBED_NEGATIVE_INNER_PRODUCT"),
    ],
)
def test_text_argument_on_auto_embedding(mysql_dialect, method, function):
    stmt = select(Item.id).order_by(getattr(Item.body_vec, method)("rust borrow checker"))
    assert sql(stmt, mysql_dialect) == f"SELECT item.id FROM item ORDER BY {function}(item.body_vec, %s)"


def test_text_is_always_a_bound_parameter(mysql_dialect):
    nasty = "'); DROP TABLE item; --"
    compiled = select(Item.id).where(Item.body_vec.cosine_distance(nasty) < 0.3).compile(dialect=mysql_dialect)
    assert nasty not in str(compiled)
    assert nasty in compiled.params.values()


def test_distance_in_where_and_select(mysql_dialect):
    distance = Item.body_vec.l2_distance("query").label("distance")
    stmt = select(Item.id, distance).where(Item.body_vec.l2_distance("query") < 0.5)
    assert sql(stmt, mysql_dialect) == (
        "SELECT item.id, VEC_EMBED_L2_DISTANCE(item.body_vec, %s) AS distance FROM item "
        "WHERE VEC_EMBED_L2_DISTANCE(item.body_vec, %s) < %s"
    )
    assert distance.type.python_type is float


def test_vector_argument_on_auto_embedding_column(mysql_dialect):
    stmt = select(Item.id).order_by(Item.body_vec.cosine_distance(np.ones(1024)))
    assert "VEC_COSINE_DISTANCE(item.body_vec, %s)" in str(stmt.compile(dialect=mysql_dialect))


def test_text_on_plain_vector_is_a_clear_error():
    with pytest.raises(TextQueryNotSupported, match="plain Vector column.*AutoEmbeddingVector"):
        Item.plain.cosine_distance("some text")


def test_wrong_dimension_is_refused_when_the_query_is_built():
    with pytest.raises(DimensionError, match=r"vector has 2 dimensions, does not fit VECTOR\(3\)"):
        Item.plain.cosine_distance([1.0, 2.0])


def test_nan_is_refused_when_the_query_is_built():
    with pytest.raises(VectorValueError, match="NaN"):
        Item.plain.l2_distance([1.0, float("nan"), 2.0])


def test_column_to_column_distance(mysql_dialect):
    stmt = select(Item.plain.cosine_distance(Item.plain))
    assert "VEC_COSINE_DISTANCE(item.plain, item.plain)" in str(stmt.compile(dialect=mysql_dialect))


@pytest.mark.parametrize("bad", [None, 42, 4.2, True])
def test_a_distance_to_a_non_vector_says_what_it_takes(bad):
    from sqlalchemy import Column, Integer, MetaData, Table, Text

    from tidb_embed_orm import AutoEmbeddingVector, Vector, VectorValueError

    t = Table("d", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
              Column("v", Vector(3)),
              Column("e", AutoEmbeddingVector("huggingface/sentence-transformers/all-MiniLM-L6-v2", source="content")))
    with pytest.raises(VectorValueError, match=r"^cosine_distance needs a vector \(a list or numpy array"):
        t.c.v.cosine_distance(bad)
    with pytest.raises(VectorValueError, match=r"^l2_distance needs a vector .* or a query text \(str\), got"):
        t.c.e.l2_distance(bad)


def test_a_value_beyond_float32_is_refused_without_a_numpy_warning():
    import warnings

    from tidb_embed_orm import VectorValueError
    from tidb_embed_orm.codec import to_array

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(VectorValueError, match="NaN and infinite values are not allowed"):
            to_array([1e39, 1.0])
