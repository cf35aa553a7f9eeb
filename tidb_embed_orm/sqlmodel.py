"""SQLModel tables with auto-embedding and vector fields (``pip install 'tidb-embed-orm[sqlmodel]'``).

::

    class Sample(SQLModel, table=True):
        id: int = Field(primary_key=True)
        content: str | None = None
        embedding: VectorValue | None = auto_embedding_field(MINILM, source="content")

``VectorValue`` is a numpy ``float32`` array in Python, a JSON list of numbers in
``model_dump_json()`` / OpenAPI schemas, and validates back from a list (or an array).

The pytidb spelling works too, with lists in Python (``sql/model_fields.py``)::

    embedding: list[float] | None = Field(sa_column=Column(AutoEmbeddingVector(MINILM, source="content")))

``model_validate`` then checks the list's length against the column and refuses NaN/Inf.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema
from sqlalchemy import Column
from sqlmodel import Field

from .codec import to_array
from .sql.auto_embedding import AutoEmbeddingVector
from .sql.vector import Vector


def _validate(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return to_array(value)


def _serialize(value: np.ndarray | None) -> list[float] | None:
    return None if value is None else np.asarray(value, dtype=np.float32).tolist()


if TYPE_CHECKING:
    VectorValue = np.ndarray
else:
    #: A field type for vectors: numpy float32 in Python, a list of numbers in JSON.
    VectorValue = Annotated[
        Any,
        PlainValidator(_validate),
        PlainSerializer(_serialize),
        WithJsonSchema({"type": "array", "items": {"type": "number"}}),
    ]


def auto_embedding_field(
    model: str,
    *,
    source: str,
    dim: int | None = None,
    options: Mapping[str, Any] | None = None,
    **column_kw: Any,
) -> Any:
    """A SQLModel field for ``AutoEmbeddingVector(model, source)``: the database fills it from ``source``.

    Annotate it ``VectorValue | None``; leave it out when creating rows.
    """
    column = Column(AutoEmbeddingVector(model, source, dim=dim, options=options), **column_kw)
    return Field(default=None, sa_column=column)


def vector_field(dim: int, **column_kw: Any) -> Any:
    """A SQLModel field for a plain ``VECTOR(dim)`` that you fill yourself."""
    return Field(default=None, sa_column=Column(Vector(dim), **column_kw))


__all__ = ["VectorValue", "auto_embedding_field", "vector_field"]
