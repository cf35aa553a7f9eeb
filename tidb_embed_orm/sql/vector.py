"""``Vector(N)``: TiDB's VECTOR column type, numpy float32 arrays in Python, and distance comparators."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import String, literal
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.base import SchemaEventTarget
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import UserDefinedType

from .. import codec
from ..catalog import check_dimensions
from ..exc import TextQueryNotSupported, VectorValueError
from .elements import DISTANCES, EMBED_DISTANCES, VectorDistance
from .model_fields import watch_mapped_classes


@dataclass(frozen=True)
class WireFormat:
    """How one backend's driver carries a vector value."""

    encode: Callable[[Any, int | None], Any]
    decode: Callable[[Any], codec.Float32Array]


TEXT_WIRE = WireFormat(encode=codec.encode_text, decode=codec.decode_text)


def wire_format(dialect: Dialect) -> WireFormat:
    """TiDB's text form, unless the dialect class carries vectors its own way (``tidb_embed_wire_format``:
    the embedded engine's float32 blobs). Decided by the dialect class, never by its name."""
    return getattr(dialect, "tidb_embed_wire_format", TEXT_WIRE)  # type: ignore[no-any-return]


class VectorComparator(UserDefinedType.Comparator[np.ndarray]):  # type: ignore[type-arg]
    """Distance methods available on every vector column."""

    def cosine_distance(self, other: Any) -> ColumnElement[float]:
        """Cosine distance to a vector (``VEC_COSINE_DISTANCE``) or, on an auto-embedding column, to a
        query text (``VEC_EMBED_COSINE_DISTANCE``)."""
        return self._distance("cosine", other)

    def l2_distance(self, other: Any) -> ColumnElement[float]:
        """Euclidean distance to a vector (``VEC_L2_DISTANCE``) or a query text (``VEC_EMBED_L2_DISTANCE``)."""
        return self._distance("l2", other)

    def l1_distance(self, other: Any) -> ColumnElement[float]:
        """Manhattan distance to a vector (``VEC_L1_DISTANCE``) or a query text (``VEC_EMBED_L1_DISTANCE``)."""
        return self._distance("l1", other)

    def negative_inner_product(self, other: Any) -> ColumnElement[float]:
        """Negative inner product with a vector or a query text (``VEC_NEGATIVE_INNER_PRODUCT`` / ``VEC_EMBED_...``)."""
        return self._distance("negative_inner_product", other)

    def _distance(self, metric: str, other: Any) -> ColumnElement[float]:
        column = self.expr
        vector_type: Vector = column.type  # type: ignore[assignment]
        if isinstance(other, str):
            return vector_type.text_distance(column, metric, other)
        if hasattr(other, "__clause_element__"):
            other = other.__clause_element__()
        if isinstance(other, ColumnElement):
            return DISTANCES[metric](column, other)
        if other is None or isinstance(other, (bool, int, float, np.number)):
            wants = "a vector (a list or numpy array of floats)"
            if hasattr(vector_type, "model"):
                wants += " or a query text (str)"
            raise VectorValueError(f"{metric}_distance needs {wants}, got {other!r}")
        value = codec.to_array(other, vector_type.dim)
        return DISTANCES[metric](column, literal(value, type_=Vector(value.shape[0])))


class Vector(UserDefinedType[np.ndarray], SchemaEventTarget):  # type: ignore[type-arg]
    """A ``VECTOR(N)`` column: numpy ``float32`` arrays out, arrays or lists of floats in.

    Values are checked (dimension, NaN/Inf, 1-D, at most 16383) before anything is sent. On a pydantic
    model (SQLModel) field annotated ``list[float]`` the column reads lists instead (``model_fields.py``).
    """

    cache_ok = True
    comparator_factory = VectorComparator
    #: Values read back as lists of floats, not arrays (set for ``list[float]`` model fields only).
    reads_lists = False

    def __init__(self, dim: int | None = None) -> None:
        self.dim = None if dim is None else check_dimensions(dim)

    def get_col_spec(self, **kw: Any) -> str:
        """``VECTOR(N)``, or ``VECTOR`` without a dimension."""
        return "VECTOR" if self.dim is None else f"VECTOR({self.dim})"

    @property
    def python_type(self) -> type:
        """``numpy.ndarray``: what values read back as."""
        return np.ndarray

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any]:
        """Check a value (dimension, NaN/Inf, 1-D) and encode it in the dialect's wire format."""
        encode = wire_format(dialect).encode
        dim = self.dim

        def process(value: Any) -> Any:
            return None if value is None else encode(value, dim)

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Callable[[Any], Any]:
        """Decode the database's value to a float32 array (a list for ``list[float]`` model fields)."""
        decode = wire_format(dialect).decode
        if self.reads_lists:
            def as_list(value: Any) -> Any:
                return None if value is None else decode(value).tolist()

            return as_list

        def process(value: Any) -> Any:
            return None if value is None else decode(value)

        return process

    def adapt(self, cls: type[Any], **kw: Any) -> Any:
        # the dialect's copy of the type must read what this one reads
        adapted = super().adapt(cls, **kw)
        if self.reads_lists:
            adapted.reads_lists = True
        return adapted

    def _set_parent(self, parent: SchemaEventTarget, **kw: Any) -> None:
        watch_mapped_classes()

    def literal_processor(self, dialect: Dialect) -> Callable[[Any], str]:
        """A vector as a SQL string literal of TiDB's text form, for ``literal_binds``."""
        string_literal = String().literal_processor(dialect)
        dim = self.dim

        def process(value: Any) -> str:
            return string_literal(codec.encode_text(value, dim))  # type: ignore[misc]

        return process

    def text_distance(self, column: ColumnElement[Any], metric: str, text: str) -> ColumnElement[float]:
        """A distance to a query text: refused, a plain vector column has no model to embed it with."""
        raise TextQueryNotSupported(
            f"{column} is a plain Vector column: it has no embedding model, so a text query cannot be "
            f"embedded. Pass a vector, or declare the column as AutoEmbeddingVector(model, source=...) "
            f"to search it by text."
        )

    def coerce_compared_value(self, op: Any, value: Any) -> Any:
        """A value compared with a vector column is a vector of the same type."""
        return self


def distance_function(metric: str) -> type[VectorDistance]:
    """The distance element class of ``metric`` (``cosine``, ``l2``, ``l1``, ``negative_inner_product``)."""
    try:
        return DISTANCES[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(DISTANCES)}") from None


__all__ = ["Vector", "VectorComparator", "WireFormat", "wire_format", "EMBED_DISTANCES"]
