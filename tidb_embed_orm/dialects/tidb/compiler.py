"""TiDB's statement form of ``nearest()``: filter only the ``candidates`` nearest rows.

TiDB uses a vector index only for ``ORDER BY <distance> LIMIT k`` over the bare table, so a
``nearest()`` search with a filter or a distance threshold compiles to TiDB's documented form
(pingcap/docs ``ai/reference/vector-search-index.md``: the filter goes in an outer query over the
KNN subquery): the nearest rows in a subquery (which the index serves), joined back by primary key,
then filtered and cut to ``k``. The distance each row carries is the subquery's, computed once.
Registered for the dialect name ``"mysql"`` (TiDB is SQLAlchemy's own mysql dialect) by
``setup()`` in this package's ``__init__.py``; a select without ``nearest()``'s marker compiles
exactly as without the library.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Label
from sqlalchemy.sql.selectable import Select

from ...sql.nearest import NearestCandidates, split_marker


def candidates_form(select_: Select[Any], marker: NearestCandidates) -> Select[Any]:
    """TiDB's form: the nearest ``candidates`` rows in a subquery, joined back by key, then filtered."""
    stripped, _ = split_marker(select_)
    filtered = bool(stripped._where_criteria)
    if not filtered and not marker.bounded:
        return stripped  # nothing to filter: the plain search already uses the index
    table = marker.table
    keys = list(table.primary_key.columns)
    if not keys:
        raise ValueError(f"nearest() on TiDB needs a primary key on {table.name!r} to join the candidates back")
    distance = marker.distance.label("tidb_embed_distance")
    # Unfiltered (a threshold only): the k nearest are all the rows the threshold can keep.
    top = marker.candidates if filtered or marker.k is None else marker.k
    inner = select(*keys, distance).order_by(distance).limit(top).subquery("tidb_embed_candidates")
    found = inner.c.tidb_embed_distance
    # The row's distance: the one the subquery computed (the same expression, not computed again).
    columns = [found.label(c.name) if isinstance(c, Label) and c.element.compare(marker.distance) else c
               for c in stripped._raw_columns]
    joined = stripped.with_only_columns(*columns).join(inner, and_(*(key == inner.c[key.key] for key in keys)))
    if marker.bounded:
        joined = joined.where(marker.bounds(found))
    return joined.order_by(None).order_by(found)


def compile_select(select_: Select[Any], compiler: SQLCompiler, **kw: Any) -> str:
    """``@compiles(Select, "mysql")``: a ``nearest()`` search in its candidates form, others unchanged."""
    _, marker = split_marker(select_)
    if marker is not None:
        select_ = candidates_form(select_, marker)
    return compiler.visit_select(select_, **kw)
