"""Vector-index searches on the embedded engine, served from an in-memory float32 matrix.

TiDB answers ``ORDER BY VEC_COSINE_DISTANCE(col, q) LIMIT k`` on an indexed column from its
vector index. The embedded engine does the same for columns with a ``VectorIndex``: a select of
exactly that shape (one table, no WHERE/GROUP BY/OFFSET) gets ``rowid IN (TIDB_EMBED_KNN(...))``,
an exact top-k computed by numpy over a matrix of the column, rebuilt whenever the database may
have changed. The outer ORDER BY still ranks the k rows with sqlite-vec, so results are those of
the plain scan.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from sqlalchemy import Column, Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement, Label, UnaryExpression
from sqlalchemy.sql.selectable import Select

from .. import codec
from ..auto_embedding import AutoEmbeddingVector
from ..functions import VectorDistance, VectorEmbedDistance, render_string_literal
from ..index import VectorIndex

KNN_FUNCTION = "TIDB_EMBED_KNN"


@dataclass
class _Matrix:
    generation: int
    rowids: np.ndarray
    vectors: np.ndarray  # unit rows for cosine, raw rows for l2
    squared_norms: np.ndarray


class MatrixCache:
    """Per (database, table, column, metric): the column as one matrix, and its generation."""

    def __init__(self) -> None:
        self.generation = 0
        self._matrices: dict[tuple[Any, ...], _Matrix] = {}
        self._lock = threading.Lock()
        self.builds = 0

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1

    def ensure(self, database: Any, dbapi_connection: Any, table: str, column: str, metric: str) -> None:
        key = (database, table, column, metric)
        with self._lock:
            current = self._matrices.get(key)
            if current is not None and current.generation == self.generation:
                return
            generation = self.generation
        quote = '"{}"'.format
        cursor = dbapi_connection.cursor()
        try:
            rows = cursor.execute(
                f"SELECT rowid, {quote(column)} FROM {quote(table)} WHERE {quote(column)} IS NOT NULL"
            ).fetchall()
        finally:
            cursor.close()
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        blob = b"".join(r[1] for r in rows)
        vectors = np.frombuffer(blob, dtype="<f4").reshape(len(rows), -1) if rows else np.empty((0, 1), np.float32)
        if metric == "cosine" and len(rows):
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors = vectors / np.where(norms == 0, 1, norms)
        with self._lock:
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            squared = np.einsum("ij,ij->i", vectors, vectors) if metric == "l2" else np.empty(0, np.float32)
            self._matrices[key] = _Matrix(generation, rowids, vectors, squared)
            self.builds += 1

    def top_k(self, database: Any, table: str, column: str, metric: str, query: bytes, k: int) -> str:
        matrix = self._matrices[(database, table, column, metric)]
        if k <= 0 or len(matrix.rowids) == 0:
            return "[]"
        q = codec.decode_bytes(query)
        if metric == "cosine":
            norm = float(np.linalg.norm(q))
            scores = -(matrix.vectors @ (q / (norm or 1.0)))
        else:
            scores = matrix.squared_norms - 2.0 * (matrix.vectors @ q)
        # Take a margin past k so float ties at the boundary cannot drop a row the scan would keep.
        take = min(len(scores), k + 8)
        best = np.argpartition(scores, take - 1)[:take] if take < len(scores) else np.arange(len(scores))
        return json.dumps(matrix.rowids[best].tolist())


class KnnFilter(ColumnElement[bool]):
    """``table.rowid IN (SELECT value FROM json_each(TIDB_EMBED_KNN(...)))``."""

    inherit_cache = False

    def __init__(
        self, table: Table, column: ColumnElement[Any], metric: str, query: ColumnElement[Any], limit: Any
    ) -> None:
        self.table, self.column, self.metric, self.query, self.limit = table, column, metric, query, limit


@compiles(KnnFilter, "sqlite")
def _compile_knn_filter(element: KnnFilter, compiler: SQLCompiler, **kw: Any) -> str:
    preparer = compiler.preparer
    args = ", ".join(
        [
            render_string_literal(compiler, element.table.name),
            render_string_literal(compiler, str(element.column.name)),
            render_string_literal(compiler, element.metric),
            compiler.process(element.query, **kw),
            compiler.process(element.limit, **kw),
        ]
    )
    return (
        f"{preparer.format_table(element.table)}.rowid IN "
        f"(SELECT value FROM json_each({KNN_FUNCTION}({args})))"
    )


def _indexed_search(select: Select[Any]) -> KnnFilter | None:
    if (
        not select._order_by_clauses
        or select._limit_clause is None
        or select._offset_clause is not None
        or select._where_criteria
        or select._group_by_clauses
        or select._having_criteria
        or select._distinct
    ):
        return None
    froms = select.get_final_froms()
    if len(froms) != 1 or not isinstance(froms[0], Table):
        return None
    table = froms[0]
    order = select._order_by_clauses[0]
    if isinstance(order, UnaryExpression) and order.modifier is not None and order.modifier.__name__ == "asc_op":
        order = order.element
    if isinstance(order, Label):
        order = order.element
    if not isinstance(order, (VectorDistance, VectorEmbedDistance)):
        return None
    args = list(order.clauses)
    if len(args) != 2 or not isinstance(args[0], Column) or args[0].table is not table:
        return None
    column, query = args
    if isinstance(order, VectorEmbedDistance):
        query = cast(AutoEmbeddingVector, column.type).embed_text_expression(query)
    elif not isinstance(query, BindParameter):
        return None
    if not any(
        isinstance(index, VectorIndex) and index.vector_column_name == column.name and index.metric == order.metric
        for index in table.indexes
    ):
        return None
    if not isinstance(select._limit_clause, BindParameter):
        return None
    return KnnFilter(table, column, order.metric, query, select._limit_clause)


@compiles(Select, "sqlite")
def _compile_select(select: Select[Any], compiler: SQLCompiler, **kw: Any) -> str:
    knn = None if kw.get("asfrom") or compiler.stack else _indexed_search(select)
    if knn is not None:
        searches = getattr(compiler, "tidb_embed_knn", [])
        searches.append((knn.table.name, knn.column.name, knn.metric))
        compiler.tidb_embed_knn = searches  # type: ignore[attr-defined]
        select = select.where(knn)
    return compiler.visit_select(select, **kw)
