"""Filtered vector search written once, served by the vector index on TiDB and on the embedded engine.

``nearest()`` is ``select(entity, distance)``: every row comes with its distance to the query, as
in TiDB's documented ``SELECT ..., VEC_COSINE_DISTANCE(...) AS distance ... ORDER BY distance LIMIT k``.

TiDB uses a vector index only for ``ORDER BY <distance> LIMIT k`` over the bare table: a WHERE
beside it makes TiDB scan. TiDB's documentation therefore filters in an outer query over the
index's top candidates (pingcap/docs ``ai/reference/vector-search-index.md``, "filter after KNN").
``nearest()`` builds that statement portably:

- on TiDB (``mysql`` dialect) it compiles to the documented form: the ``candidates`` nearest rows
  from the index in a subquery, joined back by primary key, then filtered and cut to ``k``. The
  trade-off: when fewer than ``k`` of those candidates match the filter, fewer than ``k`` rows come
  back (raise ``candidates`` for selective filters). A distance threshold (``max_distance`` /
  ``min_distance``) is filtered in that outer query too, on the distance the subquery computed.
  That form is written in ``dialects/tidb/compiler.py``;
- on the embedded engine it is the plain filtered search, which the engine's index serves with
  an adaptive post-filter and always returns ``k`` rows when ``k`` match; a threshold only trims
  those rows (``dialects/embedded/knn.py``);
- elsewhere it is the plain filtered search (an exact scan).

Because rows come nearest first, "the ``k`` nearest rows, then those within the threshold" and "the
nearest rows within the threshold, at most ``k``" are the same rows: the threshold never needs more
candidates from the index.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Float, Table, and_, bindparam, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.visitors import InternalTraversal

from .elements import VectorDistance, VectorEmbedDistance, backend_visit

#: The name of the distance column ``nearest()`` adds to every row.
DISTANCE = "distance"


class NearestCandidates(ColumnElement[bool]):
    """A marker in a search's WHERE: "filter only the ``candidates`` nearest rows" (TiDB's index-friendly form).

    It also carries the search's distance threshold, which each backend writes where its index
    keeps serving the search.
    """

    inherit_cache = True
    _traverse_internals = [
        ("distance", InternalTraversal.dp_clauseelement),
        ("candidates", InternalTraversal.dp_plain_obj),
        ("k", InternalTraversal.dp_plain_obj),
        # bound parameters: another threshold is the same compiled statement
        ("max_distance", InternalTraversal.dp_clauseelement),
        ("min_distance", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, distance: ColumnElement[Any], candidates: int, k: int | None = None,
                 max_distance: float | None = None, min_distance: float | None = None) -> None:
        self.distance = distance
        self.candidates = candidates
        self.k = k
        self.max_distance = None if max_distance is None else bindparam(None, max_distance, Float())
        self.min_distance = None if min_distance is None else bindparam(None, min_distance, Float())

    @property
    def table(self) -> Table:
        """The table whose vector column the distance reads."""
        return list(self.distance.clauses)[0].table  # type: ignore[attr-defined, no-any-return]

    @property
    def bounded(self) -> bool:
        """Whether the search has a distance threshold."""
        return self.max_distance is not None or self.min_distance is not None

    def bounds(self, distance: ColumnElement[Any]) -> ColumnElement[bool]:
        """The threshold as a condition on ``distance`` (the expression, or a subquery's column of it)."""
        conditions = []
        if self.min_distance is not None:
            conditions.append(distance >= self.min_distance)
        if self.max_distance is not None:
            conditions.append(distance <= self.max_distance)
        return and_(*conditions) if conditions else true()


class DistanceBound(ColumnElement[bool]):
    """A distance threshold in a search's WHERE: it trims the nearest rows, it does not select other rows.

    The embedded engine's index does not count it as a filter (a filter makes the index look further
    for ``k`` matching rows; a threshold never finds more rows further away).
    """

    tidb_visit_name = "tidb_distance_bound"
    inherit_cache = True
    _traverse_internals = [
        ("condition", InternalTraversal.dp_clauseelement),
        ("probed", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, condition: ColumnElement[bool], probed: bool = False) -> None:
        self.condition = condition
        #: beside an indexed search: the index's probes for k filtered rows do not apply it
        self.probed = probed


@compiles(DistanceBound)
def _compile_bound(element: DistanceBound, compiler: SQLCompiler, **kw: Any) -> str:
    own = backend_visit(compiler, element, **kw)
    return own if own is not None else compiler.process(element.condition, **kw)  # type: ignore[no-any-return]


@compiles(NearestCandidates)
def _compile_marker(element: NearestCandidates, compiler: SQLCompiler, **kw: Any) -> str:
    # dialects without a rewrite run the plain filtered search, the threshold beside the filter
    return compiler.process(element.bounds(element.distance), **kw) if element.bounded else "1 = 1"  # type: ignore[no-any-return]


def _threshold(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} is a finite number (a distance), got {value!r}")
    return float(value)


def nearest(
    entity: Any,
    distance: ColumnElement[Any],
    *,
    k: int,
    where: ColumnElement[bool] | Iterable[ColumnElement[bool]] = (),
    candidates: int | None = None,
    max_distance: float | None = None,
    min_distance: float | None = None,
) -> Select[Any]:
    """``select(entity, distance).where(*where).order_by(distance).limit(k)``, written so a vector index serves it.

    ``entity`` is a mapped class, a Table or a list of columns. ``distance`` is a comparator result
    such as ``Doc.embedding.cosine_distance("text")``; each row
    comes back as ``(entity, distance)`` (``session.scalars()`` still yields the entities alone).
    ``candidates`` (default ``max(10 * k, 100)``) is how many nearest rows TiDB filters.
    ``max_distance`` / ``min_distance`` keep only rows whose distance is within them (inclusive):
    fewer than ``k`` rows when fewer are that near, and the index still serves the search.
    """
    if not isinstance(distance, (VectorDistance, VectorEmbedDistance)):
        raise TypeError("nearest() takes a distance such as Doc.embedding.cosine_distance(query)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k is an int >= 0, got {k!r}")
    high, low = _threshold("max_distance", max_distance), _threshold("min_distance", min_distance)
    if high is not None and low is not None and low > high:
        raise ValueError(f"min_distance={low} is above max_distance={high}: no row can be in that range")
    criteria = [where] if isinstance(where, ColumnElement) else list(where)
    marker = NearestCandidates(distance, candidates if candidates is not None else max(10 * k, 100), k, high, low)
    labelled = distance.label(DISTANCE)
    entities = list(entity) if isinstance(entity, (list, tuple)) else [entity]
    return select(*entities, labelled).where(*criteria, marker).order_by(labelled).limit(k)


def split_marker(select_: Select[Any]) -> tuple[Select[Any], NearestCandidates | None]:
    """The select without its ``NearestCandidates`` marker, and the marker."""
    marker = next((c for c in select_._where_criteria if isinstance(c, NearestCandidates)), None)
    if marker is None:
        return select_, None
    stripped = select_._clone()
    stripped._where_criteria = tuple(c for c in select_._where_criteria if c is not marker)
    return stripped, marker
