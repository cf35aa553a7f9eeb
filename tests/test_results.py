"""Search results as applications hand them on: (row, distance) tuples, flat records, pydantic models, DataFrames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel
from sqlalchemy import Integer, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm import (
    STANDARD,
    FulltextIndex,
    SearchableText,
    Vector,
    VectorIndex,
    fulltext_search,
    hybrid_search,
    nearest,
)
from tidb_embed_orm.results import records, to_dataframe


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(SearchableText)
    v: Mapped[np.ndarray] = mapped_column(Vector(4))
    __table_args__ = (VectorIndex("idx_notes_v", "v"), FulltextIndex("ft_notes_body", "body", parser=STANDARD))


BODIES = ["red apples and pears", "green apples", "blue sky", "red sky at night", "apples apples apples"]
VECTORS = [[1, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 0, 1, 0], [0.5, 0, 0.5, 0], [1, 0, 0, 0.1]]


@pytest.fixture()
def engine(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'r.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Note(id=i + 1, body=b, v=np.array(v, np.float32)) for i, (b, v) in enumerate(zip(BODIES, VECTORS, strict=True))])
        session.commit()
    yield engine
    engine.dispose()


class NoteHit(BaseModel):
    """What an API returns for one hit."""

    id: int
    body: str
    distance: float


def test_nearest_rows_become_pydantic_models(engine):
    with Session(engine) as session:
        hits = [NoteHit.model_validate(r) for r in records(session.execute(nearest(Note, Note.v.cosine_distance([1, 0, 0, 0]), k=3)))]
    assert [h.id for h in hits] == [1, 5, 2]
    assert hits[0].distance == pytest.approx(0.0, abs=1e-6)
    assert hits[0].distance <= hits[1].distance <= hits[2].distance
    assert hits[0].body == "red apples and pears"


def test_records_leave_vectors_out_when_asked(engine):
    with Session(engine) as session:
        rows = session.execute(nearest(Note, Note.v.cosine_distance([0, 0, 1, 0]), k=1)).all()
    (with_vector,) = records(rows)
    assert isinstance(with_vector["v"], np.ndarray)
    assert records(rows, vectors=False) == [{"id": 3, "body": "blue sky", "distance": pytest.approx(0.0, abs=1e-6)}]


def test_fulltext_and_hybrid_scores_travel_in_the_records(engine):
    with Session(engine) as session:
        text = records(session.execute(fulltext_search(Note, Note.body.fts_match("apples"))), vectors=False)
        assert {r["id"] for r in text} == {1, 2, 5} and all(r["score"] > 0 for r in text)
        assert text[0]["id"] == 5  # "apples" three times scores highest
        hybrid = records(session.execute(hybrid_search(Note, vector=Note.v.cosine_distance([1, 0, 0, 0]),
                                                       text=Note.body.fts_match("apples"), limit=3)), vectors=False)
    assert [sorted(r) for r in hybrid] == [["body", "fulltext_rank", "hybrid_score", "id", "vector_rank"]] * 3
    assert hybrid[0]["hybrid_score"] >= hybrid[1]["hybrid_score"] >= hybrid[2]["hybrid_score"]


def test_a_dataframe_from_the_statement_or_the_rows(engine):
    stmt = nearest(Note, Note.v.cosine_distance([1, 0, 0, 0]), k=3, max_distance=0.2)
    read = pd.read_sql(stmt, engine)  # pandas runs the statement itself
    assert list(read.columns) == ["id", "body", "v", "distance"]
    assert read["id"].tolist() == [1, 5, 2]
    with Session(engine) as session:
        frame = to_dataframe(session.execute(stmt))
    assert list(frame.columns) == ["id", "body", "distance"]
    assert frame["distance"].tolist() == pytest.approx(read["distance"].tolist())
    assert (frame["distance"] <= 0.2).all()


def test_records_refuse_what_is_not_a_row():
    with pytest.raises(TypeError, match="records\\(\\) takes result rows"):
        records([object()])


def test_sqlmodel_rows_and_a_response_model_with_the_distance(tmp_path):
    from sqlmodel import Field, SQLModel
    from sqlmodel import Session as ModelSession

    from tidb_embed_orm.sqlmodel import VectorValue, vector_field

    class Place(SQLModel, table=True):
        __tablename__ = "result_places"
        id: int = Field(primary_key=True)
        name: str
        v: VectorValue | None = vector_field(2)

    class PlaceHit(SQLModel):
        id: int
        name: str
        distance: float

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'm.db'}")
    Place.__table__.create(engine)
    with ModelSession(engine) as session:
        session.add_all([Place(id=1, name="near", v=[1, 1]), Place(id=2, name="far", v=[9, 9]), Place(id=3, name="mid", v=[3, 3])])
        session.commit()
        rows = session.exec(nearest(Place, Place.v.l2_distance([1, 1]), k=2)).all()
        assert [(place.name, distance) for place, distance in rows] == [("near", 0.0), ("mid", pytest.approx(8 ** 0.5))]
        hits = [PlaceHit.model_validate(r) for r in records(rows)]
    assert (hits[1].id, hits[1].name, hits[1].distance) == (3, "mid", pytest.approx(8 ** 0.5))
    assert hits[1].model_dump_json() == f'{{"id":3,"name":"mid","distance":{rows[1][1]}}}'
    engine.dispose()


def test_a_score_named_like_a_column_is_refused_until_renamed(tmp_path):
    """A model with its own ``distance`` column beside nearest()'s distance: never overwritten in silence."""

    class Base(DeclarativeBase):
        pass

    class Shop(Base):
        __tablename__ = "shops"
        id: Mapped[int] = mapped_column(primary_key=True)
        distance: Mapped[float]  # kilometres from the city centre: the application's own column
        v = mapped_column(Vector(2))

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'shops.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Shop(id=1, distance=12.5, v=[1, 0]), Shop(id=2, distance=3.0, v=[0, 1])])
        session.commit()
        rows = session.execute(nearest(Shop, Shop.v.cosine_distance([1, 0]), k=1)).all()
        with pytest.raises(ValueError, match=r"\['distance'\] would overwrite .* rename=\{'distance': 'search_distance'\}"):
            records(rows)
        (record,) = records(rows, rename={"distance": "search_distance"}, vectors=False)
    assert record == {"id": 1, "distance": 12.5, "search_distance": pytest.approx(0.0, abs=1e-6)}
    engine.dispose()
