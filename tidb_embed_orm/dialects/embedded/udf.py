"""TiDB's SQL functions registered on each SQLite connection of the embedded engine.

SQLite reports an exception raised inside a Python function only as "user-defined function
raised exception"; ``UdfErrors`` keeps the real one so the dialect can raise it instead. There is
one record per connection (``udf_errors_of``): a connection runs one statement at a time, on
whichever thread (aiosqlite's worker, the loop's executor), so a record per thread or per engine
would hand one request's error to another's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from ... import codec
from ...embedders.cache import EmbeddingService
from ...exc import EmbedTextInRawSql
from ...options import stored_options
from . import fts_tokens
from .tidb_sql import values


class UdfErrors:
    """The last exception a SQL function raised on one connection."""

    last: BaseException | None = None

    def take(self) -> BaseException | None:
        error, self.last = self.last, None
        return error

    def guarded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` as a SQL function of this connection: what it raises is kept here before SQLite hides it."""

        def call(*args: Any) -> Any:
            try:
                return function(*args)
            except BaseException as exc:
                self.last = exc
                raise

        return call


def _cosine(a: codec.Float32Array, b: codec.Float32Array, norm_b: float | None = None) -> float:
    # TiDB's formula (pkg/types/vector.go): float32 sums, a float64 quotient clamped to [-1, 1], so
    # parallel vectors are exactly 0 apart; a zero (or overflowing) norm gives NaN, which SQLite returns as NULL.
    # The caller ignores float overflow and invalid values (``vec_distance``'s errstate).
    dot, norm_a = float(np.dot(a, b)), float(np.dot(a, a))
    if norm_b is None:
        norm_b = float(np.dot(b, b))
    similarity = dot / math.sqrt(norm_a * norm_b) if norm_a * norm_b else math.nan
    if math.isnan(similarity):
        return math.nan
    return 1.0 - min(1.0, max(-1.0, similarity))


class _Operand:
    """One argument of a distance function, with the last value it decoded: a scan passes the same query
    (a constant) for every row, which is decoded once (and its norm computed once) instead of per row."""

    __slots__ = ("raw", "array", "norm")

    def __init__(self) -> None:
        self.raw: Any = None
        self.array: codec.Float32Array | None = None
        self.norm: float | None = None

    def decode(self, value: Any) -> codec.Float32Array:
        if self.array is not None and type(value) is type(self.raw) and value == self.raw:
            return self.array
        if isinstance(value, bytes):  # a stored blob, read in place (nothing here writes to it)
            if len(value) % 4:
                raise codec.VectorTextError(f"a float32 vector blob must be a multiple of 4 bytes, got {len(value)}")
            array = np.frombuffer(value, dtype="<f4")
        else:
            array = codec.sql_value(value)
        self.raw, self.array, self.norm = value, array, None
        return array

    def cosine_norm(self) -> float:
        if self.norm is None:
            assert self.array is not None
            self.norm = float(np.dot(self.array, self.array))
        return self.norm


_DISTANCES: dict[str, Callable[[codec.Float32Array, codec.Float32Array], float]] = {
    "VEC_COSINE_DISTANCE": _cosine,
    "VEC_L2_DISTANCE": lambda a, b: float(np.linalg.norm(a - b)),
    "VEC_L1_DISTANCE": lambda a, b: float(np.abs(a - b).sum()),
    "VEC_NEGATIVE_INNER_PRODUCT": lambda a, b: -float(np.dot(a, b)),
}


def _index_marker(value: Any) -> None:
    return None


#: The attribute of a pysqlite3 connection that holds its ``UdfErrors``.
_ERRORS_ATTRIBUTE = "tidb_embed_udf_errors"


def udf_errors_of(connection: Any) -> UdfErrors:
    """The record of the SQL-function errors on ``connection`` (a pysqlite3 connection), made at first ask."""
    errors = getattr(connection, _ERRORS_ATTRIBUTE, None)
    if errors is None:
        errors = UdfErrors()
        setattr(connection, _ERRORS_ATTRIBUTE, errors)
    return cast(UdfErrors, errors)


def register_functions(connection: Any, service: EmbeddingService) -> None:
    guarded = udf_errors_of(connection).guarded

    def embed_text(model: str | None, text: str | None, options_json: str | None = None) -> bytes | None:
        # As TiDB: NULL model or text gives NULL; options must be a JSON object; k@search keys are
        # dropped (a query's search options are applied where VEC_EMBED_* is rewritten).
        if model is None or text is None:
            return None
        options = stored_options(None if options_json is None else str(options_json))
        vector = service.vector_for_write(str(model), str(text), options, id(connection))
        return None if vector is None else codec.float32_bytes(vector)

    connection.create_function("EMBED_TEXT", 2, guarded(embed_text), deterministic=True)
    connection.create_function("EMBED_TEXT", 3, guarded(embed_text), deterministic=True)

    for name, distance in _DISTANCES.items():

        def vec_distance(a: Any, b: Any, distance: Callable[..., float] = distance,
                         operands: tuple[_Operand, _Operand] = (_Operand(), _Operand())) -> float | None:
            # one pair of operands per function and connection (a connection runs one statement at a time)
            if a is None or b is None:
                return None
            left, right = operands[0].decode(a), operands[1].decode(b)
            if left.shape != right.shape:
                raise codec.VectorValueError(
                    f"vectors have different dimensions: {left.shape[0]} and {right.shape[0]}"
                )
            # beyond float32 is +-Inf, as on TiDB ('[3e38]' and '[-3e38]'); an Inf norm makes the cosine NaN
            with np.errstate(over="ignore", invalid="ignore"):
                if distance is _cosine:
                    return _cosine(left, right, operands[1].cosine_norm())
                return distance(left, right)

        connection.create_function(name, 2, guarded(vec_distance), deterministic=True)
        # The one-argument form names a vector index (CREATE INDEX ix ON t (VEC_COSINE_DISTANCE(v))):
        # SQLite keeps it as a real, reflectable index over a constant; searches are served by vector_index/.
        connection.create_function(name, 1, _index_marker, deterministic=True)

        def raw_embed_distance(column: Any, text: Any, name: str = name) -> None:
            raise EmbedTextInRawSql(
                f"VEC_EMBED_{name[4:]} in hand-written SQL cannot know the column's model on the embedded "
                f"engine: use the ORM comparator (Doc.embedding.cosine_distance(text)) or write "
                f"{name}(column, EMBED_TEXT('provider/model', text))"
            )

        connection.create_function(f"VEC_EMBED_{name[4:]}", 2, guarded(raw_embed_distance))

    # Written by the statement rewrites and triggers of tidb_sql/: TiDB's CAST(x AS VECTOR[(n)])
    # and the check/conversion of a value written into a VECTOR(n) column by hand-written SQL.
    def vector_store(value: Any, dim: int | None) -> bytes | None:
        return values.store(value, None if dim is None or dim < 0 else int(dim))

    connection.create_function(values.STORE_FUNCTION, 2, guarded(vector_store), deterministic=True)
    connection.create_function(values.COMPARE_FUNCTION, 2, guarded(values.compare), deterministic=True)

    def nullable(function: Callable[[codec.Float32Array], Any]) -> Callable[[Any], Any]:
        return lambda value: None if value is None else function(codec.sql_value(value))

    # The tokens a MULTILINGUAL or NGRAM full-text index stores (its triggers call it; fts5.py).
    def tokens(spec: Any, text: Any) -> str | None:
        return None if text is None else fts_tokens.document_tokens(str(spec), str(text))

    connection.create_function(fts_tokens.TOKENS_FUNCTION, 2, guarded(tokens), deterministic=True)

    def match(table_sql: Any, columns_json: Any, text: Any) -> str | None:
        if text is None:
            return None
        return fts_tokens.match_expression(None if table_sql is None else str(table_sql),
                                           None if columns_json is None else str(columns_json), str(text))

    connection.create_function(fts_tokens.MATCH_FUNCTION, 3, guarded(match), deterministic=True)

    connection.create_function("VEC_DIMS", 1, guarded(nullable(lambda v: int(v.shape[0]))), deterministic=True)
    connection.create_function(
        "VEC_L2_NORM", 1, guarded(nullable(lambda v: float(np.linalg.norm(v)))), deterministic=True
    )
    connection.create_function("VEC_FROM_TEXT", 1, guarded(nullable(codec.float32_bytes)), deterministic=True)
    connection.create_function("VEC_AS_TEXT", 1, guarded(nullable(codec.format_sql_text)), deterministic=True)

