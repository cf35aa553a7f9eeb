"""SQLModel tables: auto-embedding and vector fields, JSON round trips, the seed flow through its Session."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import Column, create_engine
from sqlalchemy.exc import StatementError
from sqlmodel import Field, Session, SQLModel, select

from tidb_embed_orm import AutoEmbeddingVector, DimensionError, Vector
from tidb_embed_orm.sqlmodel import VectorValue, auto_embedding_field, vector_field
from tidb_embed_orm.testing.seed import SEED_QUERY, add_seed_rows, seed_search

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"


class Sample(SQLModel, table=True):
    id: int = Field(primary_key=True)
    content: str | None = None
    embedding: VectorValue | None = auto_embedding_field(MINILM, source="content")


class Point(SQLModel, table=True):
    id: int = Field(primary_key=True)
    v: VectorValue | None = vector_field(3)


class Chunk(SQLModel, table=True):
    """As pytidb users write it: list[float] and an sa_column."""

    id: int = Field(primary_key=True)
    content: str | None = None
    embedding: list[float] | None = Field(default=None, sa_column=Column(AutoEmbeddingVector(MINILM, source="content")))


class ListPoint(SQLModel, table=True):
    id: int = Field(primary_key=True)
    v: list[float] | None = Field(default=None, sa_column=Column(Vector(3)))


class SearchHit(SQLModel):
    """A response model (no table): what an API returns."""

    id: int
    embedding: VectorValue


@pytest.fixture
def engine(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'sqlmodel.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.mark.real_model
def test_the_seed_flow_through_sqlmodels_session(engine):
    with Session(engine) as session:
        add_seed_rows(session, Sample)
        assert seed_search(session, Sample) == [1, 4]
        hits = session.exec(select(Sample).order_by(Sample.embedding.cosine_distance(SEED_QUERY)).limit(2)).all()
        assert [h.id for h in hits] == [1, 4]
        assert hits[0].embedding.dtype == np.float32 and hits[0].embedding.shape == (384,)


@pytest.mark.real_model
def test_vectors_serialise_to_json_lists_and_validate_back(engine):
    with Session(engine) as session:
        add_seed_rows(session, Sample)
        row = session.get(Sample, 1)
        dumped = row.model_dump_json()
    data = json.loads(dumped)
    assert isinstance(data["embedding"], list) and len(data["embedding"]) == 384
    # SQLModel validates table models through model_validate (its model_validate_json skips the table
    # machinery); response models take either.
    again = Sample.model_validate(json.loads(dumped))
    assert isinstance(again.embedding, np.ndarray)
    np.testing.assert_array_equal(again.embedding, row.embedding)
    hit = SearchHit.model_validate({"id": 1, "embedding": data["embedding"]})
    assert SearchHit.model_validate_json(hit.model_dump_json()).embedding.tolist() == hit.embedding.tolist()
    schema = SearchHit.model_json_schema()["properties"]["embedding"]
    assert schema["type"] == "array" and schema["items"] == {"type": "number"}


def test_plain_vector_fields_round_trip_and_bad_vectors_are_refused(engine):
    with Session(engine) as session:
        session.add(Point(id=1, v=[1.0, 2.0, 3.0]))
        session.commit()
        stored = session.exec(select(Point.v).where(Point.id == 1)).one()
        np.testing.assert_array_equal(stored, np.array([1, 2, 3], dtype=np.float32))
        nearest = session.exec(select(Point.id).order_by(Point.v.l2_distance([1, 2, 2.5])).limit(1)).one()
        assert nearest == 1
    with pytest.raises(ValidationError, match="NaN and infinite values are not allowed"):
        SearchHit.model_validate({"id": 1, "embedding": [1.0, float("nan")]})
    with Session(engine) as session, pytest.raises(StatementError) as info:
        session.add(Point(id=2, v=[1.0, 2.0]))  # table models skip validation: the column type refuses
        session.commit()
    assert isinstance(info.value.orig, DimensionError) and "does not fit VECTOR(3)" in str(info.value)


@pytest.mark.real_model
def test_list_float_fields_as_pytidb_users_write_them_serialise_and_search(engine):
    with Session(engine) as session:
        add_seed_rows(session, Chunk)
        assert seed_search(session, Chunk) == [1, 4]
        row = session.get(Chunk, 1)
        assert isinstance(row.embedding, list) and len(row.embedding) == 384
        data = json.loads(row.model_dump_json())
    assert data["embedding"] == row.embedding
    again = Chunk.model_validate(data)
    assert again.embedding == row.embedding


def test_list_float_fields_validate_length_and_finiteness_at_model_validate(engine):
    with pytest.raises(ValidationError, match=r"(?s)v\n.*vector has 2 dimensions, does not fit VECTOR\(3\)"):
        ListPoint.model_validate({"id": 1, "v": [1.0, 2.0]})
    with pytest.raises(ValidationError, match="NaN and infinite values are not allowed"):
        ListPoint.model_validate({"id": 1, "v": [1.0, float("inf"), 2.0]})
    with pytest.raises(ValidationError, match="does not fit VECTOR\\(384\\)"):
        Chunk.model_validate({"id": 1, "content": "x", "embedding": [0.5] * 3})
    point = ListPoint.model_validate({"id": 1, "v": [1, 2, 3]})
    with Session(engine) as session:
        session.add(point)
        session.commit()
        stored = session.exec(select(ListPoint.v)).one()
        assert stored == [1.0, 2.0, 3.0]
        assert session.get(ListPoint, 1).model_dump() == {"id": 1, "v": [1.0, 2.0, 3.0]}
        # the numpy-annotated fields of the other tables still read arrays
        session.add(Point(id=9, v=[1.0, 2.0, 3.0]))
        session.commit()
        assert isinstance(session.exec(select(Point.v).where(Point.id == 9)).one(), np.ndarray)
