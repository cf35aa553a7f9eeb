"""The demo schema: the TiDB page's ``sample`` table, as an ORM model."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import Integer, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tidb_embed_orm import AutoEmbeddingVector

MODEL = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
#: The second model, added by migration 0002 to a table that already holds rows.
SECOND_MODEL = "huggingface/sentence-transformers/all-mpnet-base-v2"
#: The page's table name; ``demo --url`` uses a uniquely named one instead (see demo_table()).
TABLE = "sample"
#: Alembic ``config.attributes`` keys through which the demo names its table and version table.
TABLE_ATTRIBUTE = "tidb_embed_demo_table"
VERSION_TABLE_ATTRIBUTE = "tidb_embed_demo_version_table"

SEED_ROWS = [
    (1, "Java: Object-oriented language for cross-platform development."),
    (2, "Java coffee: Bold Indonesian beans with low acidity."),
    (3, "Java island: Densely populated, home to Jakarta."),
    (4, "Java's syntax is used in Android apps."),
    (5, "Dark roast Java beans enhance espresso blends."),
]
SEED_QUERY = "How to start learning Java programming?"


def sample_model(model: str, *, table: str = TABLE, deferred: bool = False, **column_kw: Any) -> Any:
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


def demo_model(table: str = TABLE) -> Any:
    """The demo's mapped class on ``table``, on its own metadata: the seed's table plus the second model's column."""
    sample = sample_model(MODEL, table=table)
    # a column appended to the mapped class (SQLAlchemy's "appending additional columns to an existing
    # Declarative mapped class"): it follows ``embedding`` in the table, as the migrations have it
    sample.embedding_mpnet = mapped_column(AutoEmbeddingVector(SECOND_MODEL, source="content"), deferred=True)
    return sample


Sample = demo_model()
Base = Sample.__base__


def demo_table() -> str:
    """Inside a migration of the demo: the table it works on (``sample`` unless the demo named another)."""
    from alembic import context

    return str(context.config.attributes.get(TABLE_ATTRIBUTE, TABLE))
