"""Filtered vector search written once, served by the vector index on TiDB and on the embedded engine.

TiDB uses a vector index only for ``ORDER BY <distance> LIMIT k`` over the bare table: a WHERE
beside it makes TiDB scan. TiDB's documentation therefore filters in an outer query over the
index's top candidates. ``nearest()`` builds that statement portably:

- on TiDB (``mysql`` dialect) it compiles to the documented form: the ``candidates`` nearest rows
  from the index in a subquery, joined back by primary key, then filtered and cut to ``k``. The
  trade-off: when fewer than ``k`` of those candidates match the filter, fewer than ``k`` rows come
  back (raise ``candidates`` for selective filters). That form is written in
  ``dialects/tidb/compiler.py``;
- on the embedded engine it is the plain filtered search, which the engine's index serves with
  an adaptive post-filter and always returns ``k`` rows when ``k`` match;
- elsewhere it is the plain filtered search (an exact scan).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.visitors import InternalTraversal

from .elements import VectorDistance, VectorEmbedDistance


class NearestCandidates(ColumnElement[bool]):
    """A marker in a search's WHERE: "filter only the ``candidates`` nearest rows" (TiDB's index-friendly form)."""

    inherit_cache = True
    _traverse_internals = [
        ("distance", InternalTraversal.dp_clauseelement),
        ("candidates", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, distance: ColumnElement[Any], candidates: int) -> None:
        self.distance = distance
        self.candidates = candidates

    @property
    def table(self) -> Table:
        """The table whose vector column the distance reads."""
        return list(self.distance.clauses)[0].table  # type: ignore[attr-defined, no-any-return]


@compiles(NearestCandidates)
def _compile_marker(element: NearestCandidates, compiler: SQLCompiler, **kw: Any) -> str:
    return "1 = 1"  # dialects without a rewrite run the plain filtered search


def nearest(
    entity: Any,
    distance: ColumnElement[Any],
    *,
    k: int,
    where: ColumnElement[bool] | Iterable[ColumnElement[bool]] = (),
    candidates: int | None = None,
) -> Select[Any]:
    """``select(entity).where(*where).order_by(distance).limit(k)``, written so a vector index serves it.

    ``distance`` is a comparator result such as ``Doc.embedding.cosine_distance("text")``.
    ``candidates`` (default ``max(10 * k, 100)``) is how many nearest rows TiDB filters.
    """
    if not isinstance(distance, (VectorDistance, VectorEmbedDistance)):
        raise TypeError("nearest() takes a distance such as Doc.embedding.cosine_distance(query)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k is an int >= 0, got {k!r}")
    criteria = [where] if isinstance(where, ColumnElement) else list(where)
    marker = NearestCandidates(distance, candidates if candidates is not None else max(10 * k, 100))
    return select(entity).where(*criteria, marker).order_by(distance).limit(k)


def split_marker(select_: Select[Any]) -> tuple[Select[Any], NearestCandidates | None]:
    """The select without its ``NearestCandidates`` marker, and the marker."""
    marker = next((c for c in select_._where_criteria if isinstance(c, NearestCandidates)), None)
    if marker is None:
        return select_, None
    stripped = select_._clone()
    stripped._where_criteria = tuple(c for c in select_._where_criteria if c is not marker)
    return stripped, marker
