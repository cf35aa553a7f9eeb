"""The TiDB page's ``sample`` table as a fresh ORM model, for tests, benchmarks and examples."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..demo.models import SEED_QUERY, SEED_ROWS, sample_model

__all__ = ["SEED_QUERY", "SEED_ROWS", "add_seed_rows", "sample_model", "seed_search"]


def add_seed_rows(session: Session, sample: Any) -> None:
    """The page's five rows, inserted and committed through the ORM."""
    session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
    session.commit()


def seed_search(session: Session, sample: Any, query: str = SEED_QUERY, limit: int = 2) -> list[int]:
    """The page's query: ids by cosine distance to ``query`` (1 and 4 for the seed rows)."""
    return list(session.scalars(select(sample.id).order_by(sample.embedding.cosine_distance(query)).limit(limit)))
