"""The TiDB page's ``sample`` table as a fresh ORM model, for tests, benchmarks and examples."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Integer, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ..demo.models import SEED_QUERY, SEED_ROWS
from ..sql.auto_embedding import AutoEmbeddingVector

__all__ = ["SEED_QUERY", "SEED_ROWS", "add_seed_rows", "sample_model", "seed_search"]


def sample_model(model: str, *, table: str = "sample", deferred: bool = False, **column_kw: Any) -> Any:
    """A new ``Sample(id, content, embedding)`` mapped class on its own metadata (``Sample.metadata``)."""

    class Base(DeclarativeBase):
        pass

    class Sample(Base):
        __tablename__ = table
        # Vectors are read when asked for, not fetched back after every INSERT.
        __mapper_args__ = {"eager_defaults": False}
        id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
        content: Mapped[str | None] = mapped_column(Text)
        embedding: Mapped[np.ndarray | None] = mapped_column(
            AutoEmbeddingVector(model, source="content", **column_kw), deferred=deferred
        )

    return Sample


def add_seed_rows(session: Session, sample: Any) -> None:
    """The page's five rows, inserted and committed through the ORM."""
    session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
    session.commit()


def seed_search(session: Session, sample: Any, query: str = SEED_QUERY, limit: int = 2) -> list[int]:
    """The page's query: ids by cosine distance to ``query`` (1 and 4 for the seed rows)."""
    return list(session.scalars(select(sample.id).order_by(sample.embedding.cosine_distance(query)).limit(limit)))
