"""Which SELECTs the embedded engine serves from a vector index, and how they are rewritten.

TiDB answers ``ORDER BY VEC_COSINE_DISTANCE(col, q) LIMIT k`` on an indexed column from its HNSW
index. The embedded engine does the same for a select over one table whose first ORDER BY is the
distance its ``VectorIndex`` was built on, with a LIMIT (a WHERE and an OFFSET are allowed): it
gets ``col IS NOT NULL AND rowid IN (<candidates from the index>)``, and SQLite ranks the
candidates exactly with the statement's own ORDER BY (``vector_index/search.py``). Rows with a
NULL vector are not in the index, as on TiDB; without an index the statement is the plain scan.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Column, Table
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    ColumnElement,
    FunctionFilter,
    Label,
    Null,
    Over,
    UnaryExpression,
    WithinGroup,
    _label_reference,
)
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Select

from ...sql.auto_embedding import AutoEmbeddingVector
from ...sql.elements import VectorDistance, VectorEmbedDistance, client_query_distance
from ...sql.nearest import DistanceBound, split_marker
from ...sql.vector_index import VectorIndex
from .vector_index.search import PROBING_FUNCTION, KnnSearch


def _not_null_of(criterion: Any, column: Any) -> bool:
    """``column IS NOT NULL`` (bare or wrapped, as hybrid search writes it): what the index implies anyway."""
    inner = getattr(criterion, "condition", criterion)
    return (
        isinstance(inner, BinaryExpression)
        and inner.operator is operators.is_not
        and isinstance(inner.right, Null)
        and inner.left.compare(column)
    )


class KnnFilter(ColumnElement[bool]):
    """``col IS NOT NULL AND rowid IN (candidates)``: the vector index's part of a search.

    Only ``EmbeddedCompiler`` compiles it (``visit_tidb_knn_filter``); it is added while compiling there.
    """

    __visit_name__ = "tidb_knn_filter"
    inherit_cache = False

    def __init__(self, table: Table, column: ColumnElement[Any], metric: str, query: ColumnElement[Any],
                 limit: ColumnElement[Any], offset: ColumnElement[Any] | None, nested: bool) -> None:
        self.table, self.column, self.metric, self.query = table, column, metric, query
        self.limit, self.offset, self.nested = limit, offset, nested


def compile_knn_filter(element: KnnFilter, compiler: SQLCompiler, **kw: Any) -> str:
    searches: list[KnnSearch] = getattr(compiler, "tidb_embed_knn", [])
    number = len(searches)
    limit = compiler.process(element.limit, **kw)
    offset = "0" if element.offset is None else compiler.process(element.offset, **kw)
    arguments = f"{compiler.process(element.query, **kw)}, {limit}, {offset}"
    rowid = f"{compiler.preparer.format_table(element.table)}.rowid"
    # Filtered: the statement's own WHERE, or criteria the ORM adds as it compiles (inheritance,
    # with_loader_criteria): the selectable compiled here is the one with all of them.
    compiling = compiler.stack[-1]["selectable"] if compiler.stack else None
    # Private: the public Select.whereclause AND-s the criteria into one new expression on each access,
    # and the KnnFilter added by served_by_index() must be told apart from the user's own criteria.
    criteria = getattr(compiling, "_where_criteria", ())
    # A distance threshold only trims the nearest rows: it is no reason to look further for k rows.
    filtered = any(not isinstance(c, (KnnFilter, DistanceBound)) and not _not_null_of(c, element.column)
                   for c in criteria)
    bounded = any(isinstance(c, DistanceBound) and c.probed for c in criteria)
    search = KnnSearch(number, element.table.schema, element.table.name, str(element.column.name),
                       element.metric, filtered, element.nested,
                       declared_ef_search(element.table, str(element.column.name), element.metric), bounded)
    searches.append(search)
    compiler.tidb_embed_knn = searches  # type: ignore[attr-defined]
    return f"({compiler.process(element.column, **kw)} IS NOT NULL AND ({rowid} {search.head}{arguments}{search.tail}))"


def declared_ef_search(table: Table, column: str, metric: str) -> int | None:
    """``VectorIndex(..., ef_search=n)`` of the index a search on ``table.column`` uses, as the model declares it."""
    for index in getattr(table, "indexes", ()):
        if (isinstance(index, VectorIndex) and index.vector_column_name == column and index.metric == metric
                and index.ef_search is not None):
            return index.ef_search
    return None


def compile_distance_bound(element: DistanceBound, compiler: SQLCompiler, **kw: Any) -> str:
    """The threshold; beside an indexed search, void while the index probes for k rows matching the filter.

    A filtered search asks the index for more candidates until k rows match the filter (``Plan.execute``
    in ``vector_index/search.py``); the threshold must not count there, or a threshold that keeps
    fewer than k rows would make it look through the whole index. The final run applies it.
    """
    condition = compiler.process(element.condition, **kw)
    return f"({condition} OR {PROBING_FUNCTION}())" if element.probed else condition


def _query_argument(order: VectorDistance | VectorEmbedDistance, column: Column[Any], query: Any,
                    compiler: SQLCompiler) -> ColumnElement[Any] | None:
    """The expression whose value is the query vector, as the database will see it."""
    if isinstance(order, VectorDistance):
        return query if isinstance(query, BindParameter) else None
    client = client_query_distance(compiler, order)
    if client is not None:
        return list(cast(Any, client).clauses)[1]  # the text, processed into its vector
    return cast(AutoEmbeddingVector, column.type).embed_query_expression(query)


#: Functions that make a select aggregate its rows: an index that proposes k rows would change the answer.
AGGREGATES = frozenset({
    "count", "sum", "total", "avg", "min", "max", "group_concat", "string_agg", "json_group_array",
    "json_group_object", "array_agg", "every", "bool_and", "bool_or",
})


def _aggregates(select: Select[Any]) -> bool:
    # Private: the public Select.selected_columns is a derived collection (ORM entities expanded, labels
    # applied) built anew on each access; the expressions as written are only in _raw_columns, which
    # SQLAlchemy's own compiler reads too.
    for column in select._raw_columns:
        for element in visitors.iterate(column):
            if isinstance(element, (Over, WithinGroup, FunctionFilter)):
                return True
            if isinstance(element, FunctionElement) and str(getattr(element, "name", "")).lower() in AGGREGATES:
                return True
    return False


def _indexed_search(select: Select[Any], compiler: SQLCompiler, nested: bool) -> KnnFilter | None:
    if _aggregates(select):
        return None
    # Private: SQLAlchemy has no public accessor for a Select's ORDER BY, LIMIT / OFFSET, GROUP BY, HAVING or
    # DISTINCT (order_by(), limit()... only set them); these attributes are what its compilers read.
    if (
        not select._order_by_clauses
        or not isinstance(select._limit_clause, BindParameter)
        or select._group_by_clauses
        or select._having_criteria
        or select._distinct
    ):
        return None
    offset = select._offset_clause
    if offset is not None and not isinstance(offset, BindParameter):
        return None
    froms = select.get_final_froms()
    if len(froms) != 1 or not isinstance(froms[0], Table):
        return None
    table = froms[0]
    order = select._order_by_clauses[0]
    if isinstance(order, UnaryExpression) and order.modifier is not None and order.modifier.__name__ == "asc_op":
        order = order.element
    # Private class: order_by("name") / order_by(a_label) wraps the label so; no public type names it.
    if isinstance(order, _label_reference):  # order_by(a_label): SQLAlchemy orders by the label's name
        order = order.element
    if isinstance(order, Label):
        order = order.element
    if not isinstance(order, (VectorDistance, VectorEmbedDistance)):
        return None
    args = list(order.clauses)
    if len(args) != 2 or not isinstance(args[0], Column) or args[0].table is not table:
        return None
    column, query = args
    if not any(
        isinstance(index, VectorIndex) and index.vector_column_name == column.name and index.metric == order.metric
        for index in table.indexes
    ):
        return None
    query_argument = _query_argument(order, cast(Column[Any], column), query, compiler)
    if query_argument is None:
        return None
    # Private: the criteria one by one (the public Select.whereclause is their AND, rebuilt on each access).
    if nested and not all(_not_null_of(c, column) for c in select._where_criteria):
        return None  # a filtered subquery: its own row count is not seen, so it cannot ask for more
    return KnnFilter(table, column, order.metric, query_argument, select._limit_clause, offset, nested)


def served_by_index(select: Select[Any], compiler: SQLCompiler, **kw: Any) -> Select[Any]:
    """``select`` as the embedded engine runs it: with the vector index's candidates where one serves it.

    Called by ``EmbeddedCompiler.visit_select`` for every select it compiles.
    """
    select, marker = split_marker(select)  # nearest(): the index's adaptive post-filter always finds k rows
    # Subqueries and CTEs too (TiDB's hybrid search ranks the vector side in one), when unfiltered.
    knn = _indexed_search(select, compiler, nested=bool(kw.get("asfrom") or compiler.stack))
    if marker is not None and marker.bounded:  # nearest()'s threshold trims the rows the index found
        select = select.where(DistanceBound(marker.bounds(marker.distance), probed=knn is not None))
    return select if knn is None else select.where(knn)
