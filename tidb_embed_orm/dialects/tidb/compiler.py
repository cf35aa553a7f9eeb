"""TiDB's statement form of ``nearest()``: filter only the ``candidates`` nearest rows.

TiDB uses a vector index only for ``ORDER BY <distance> LIMIT k`` over the bare table, so a
``nearest()`` search with a filter compiles to TiDB's documented form: the nearest rows in a
subquery (which the index serves), joined back by primary key, then filtered and cut to ``k``.
Registered for the dialect name ``"mysql"`` (TiDB is SQLAlchemy's own mysql dialect) by
``setup()`` in this package's ``__init__.py``; a select without ``nearest()``'s marker compiles
exactly as without the library.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import Select

from ...sql.nearest import NearestCandidates, split_marker


def candidates_form(select_: Select[Any], marker: NearestCandidates) -> Select[Any]:
    """TiDB's form: the nearest ``candidates`` rows in a subquery, joined back by key, then filtered."""
    stripped, _ = split_marker(select_)
    if not stripped._where_criteria:
        return stripped  # nothing to filter: the plain search already uses the index
    table = marker.table
    keys = list(table.primary_key.columns)
    if not keys:
        raise ValueError(f"nearest() on TiDB needs a primary key on {table.name!r} to join the candidates back")
    distance = marker.distance.label("tidb_embed_distance")
    inner = select(*keys, distance).order_by(distance).limit(marker.candidates).subquery("tidb_embed_candidates")
    joined = stripped.join(inner, and_(*(key == inner.c[key.key] for key in keys)))
    return joined.order_by(None).order_by(inner.c.tidb_embed_distance)


def compile_select(select_: Select[Any], compiler: SQLCompiler, **kw: Any) -> str:
    """``@compiles(Select, "mysql")``: a ``nearest()`` search in its candidates form, others unchanged."""
    _, marker = split_marker(select_)
    if marker is not None:
        select_ = candidates_form(select_, marker)
    return compiler.visit_select(select_, **kw)
