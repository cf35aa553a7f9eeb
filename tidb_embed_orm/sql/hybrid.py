"""Hybrid search: vector and full-text results fused in one statement, as TiDB documents it.

``hybrid_search(Doc, vector=Doc.embedding.cosine_distance(q), text=Doc.content.fts_match(q))`` is a
``select(Doc, hybrid_score, vector_rank, fulltext_rank)`` built like TiDB's "Hybrid Search with
SQL" page: a ``vec`` CTE (the vector top-N, ranked with ``ROW_NUMBER()``), an ``fts`` CTE (the
full-text top-N by BM25, ranked the same way), both LEFT JOINed to the table and fused. One round
trip on TiDB; the same statement runs on the embedded engine.

Fusion is ``RRF(k=60)`` - ``COALESCE(1.0 / (60 + vec.r), 0) + COALESCE(1.0 / (60 + fts.r), 0)`` -
or ``Weighted(vector=0.5, text=0.5)``: the vector similarity (``1 - distance`` for cosine, else
``1 / (1 + distance)``) and the BM25 score divided by the best candidate's, each weighted.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, Table, and_, bindparam, func, inspect, literal, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.elements import BindParameter, ColumnElement, _anonymous_label
from sqlalchemy.sql.selectable import Select
from sqlalchemy.sql.visitors import InternalTraversal, replacement_traverse
from sqlalchemy.util import immutabledict

from .elements import VectorDistance, VectorEmbedDistance, backend_visit
from .fulltext import FtsMatchWord, FulltextError, FulltextJoin


@dataclass(frozen=True)
class RRF:
    """Reciprocal Rank Fusion: each list a row is in adds ``1 / (k + rank)``."""

    k: int = 60

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 0:
            raise FulltextError(f"RRF k is an int >= 0 (60 is the usual value), got {self.k!r}")


@dataclass(frozen=True)
class Weighted:
    """Weighted score fusion: ``vector * similarity + text * (bm25 / best bm25)``."""

    vector: float = 0.5
    text: float = 0.5

    def __post_init__(self) -> None:
        for name in ("vector", "text"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise FulltextError(f"Weighted({name}=...) is a finite number >= 0, got {value!r}")


def _number(value: float | int) -> ColumnElement[Any]:
    """A constant of the fusion formula, written into the SQL like TiDB's page (validated numbers only)."""
    return literal_column(repr(float(value)) if isinstance(value, float) else str(int(value)), Float)


class EmbeddedOnly(ColumnElement[bool]):
    """A condition only the embedded engine writes; elsewhere it is left out of the WHERE clause.

    A plain scan sorts NULL distances (rows without a vector) first; TiDB's vector index holds no
    such rows, and a WHERE beside its ``ORDER BY distance LIMIT n`` would keep TiDB off the index.
    """

    tidb_visit_name = "tidb_embedded_only"
    inherit_cache = True
    _traverse_internals = [("condition", InternalTraversal.dp_clauseelement)]

    def __init__(self, condition: ColumnElement[bool]) -> None:
        self.condition = condition


@compiles(EmbeddedOnly)
def _compile_left_out(element: EmbeddedOnly, compiler: Any, **kw: Any) -> str:
    own = backend_visit(compiler, element, **kw)  # the embedded engine's compiler writes the condition
    return "" if own is None else own  # elsewhere an empty conjunct: SQLAlchemy leaves it out of WHERE


def _table_of(entity: Any) -> Table:
    if isinstance(entity, Table):
        return entity
    table = getattr(inspect(entity, raiseerr=False), "local_table", None)
    if not isinstance(table, Table):
        raise FulltextError(f"hybrid_search takes a mapped class or a Table, got {entity!r}")
    return table


def _column_table(expression: ColumnElement[Any]) -> Any:
    searched = expression.columns[0] if isinstance(expression, FtsMatchWord) else list(expression.clauses)[0]  # type: ignore[attr-defined]
    return getattr(searched, "table", None)


#: Built statements by shape (the arguments' SQLAlchemy cache keys, which leave out bound values):
#: a search of the same shape is the built statement with its own values (``Select.params``), so an
#: application pays for building TiDB's two-CTE statement once, not on every search.
_TEMPLATES: dict[Any, tuple[Select[Any], str]] = {}
#: Shapes remembered before the oldest is forgotten.
_TEMPLATE_LIMIT = 256
#: Numbers the built statements: the values of build ``b`` travel as ``tidb_hybrid_<b>_0``, ``..._1``...
_BUILDS = itertools.count()


class OneShapeOnce(ColumnElement[bool]):
    """Left out of the SQL; refuses a statement holding two hybrid searches built from one template.

    Both would send their values under the same names, and one search would silently run with the
    other's values (``union_all(hybrid_search(...q1), hybrid_search(...q2))`` of one shape).
    """

    inherit_cache = True
    _traverse_internals = [("prefix", InternalTraversal.dp_string)]

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


@compiles(OneShapeOnce)
def _compile_one_shape_once(element: OneShapeOnce, compiler: Any, **kw: Any) -> str:
    seen = compiler.__dict__.setdefault("tidb_hybrid_prefixes", set())
    if element.prefix in seen:
        raise FulltextError(
            "this statement holds two hybrid_search() statements of the same shape, which would share their "
            "bound values: run each search as its own statement"
        )
    seen.add(element.prefix)
    return ""  # an empty conjunct: SQLAlchemy leaves it out of the WHERE clause


def _shape(entity: Any, vector: ColumnElement[Any], text: FtsMatchWord, where: ColumnElement[bool] | None,
           fusion: RRF | Weighted, limit: int, candidates: int | None,
           distance_threshold: float | None) -> tuple[Any, dict[str, str], dict[str, Any]] | None:
    """(memo key, bind key -> number, number -> value) of a search's arguments; None when it cannot be reused.

    The memo key holds each argument's SQLAlchemy cache key: equal keys compile to the same SQL with
    only the bound values differing (SQLAlchemy's own compiled cache relies on it). The values are
    renamed ``tidb_hybrid_<build>_<number>`` in the built statement: the names are part of its cache key,
    so a compiled form always belongs to one build, whose names it finds the values under (anonymous
    names differ from one build to the next).
    """
    keys: list[Any] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    for expression in (vector, text, where):
        if expression is None:
            keys.append(None)
            continue
        # Private: SQLAlchemy's cache key (the SQL shape, and the bound parameters in order); the public
        # API has none. None: an element that cannot be cached, built anew each time.
        cache_key = expression._generate_cache_key()
        if cache_key is None:
            return None
        keys.append(cache_key.key)
        for bind in cache_key.bindparams:
            # Private: an anonymous key (the class SQLAlchemy marks them with) tells a value an expression
            # bound from a name the caller gave (filled at execution, or shared): only the former are renamed.
            plain = (isinstance(bind.key, _anonymous_label) and not bind.expanding and not bind.literal_execute
                     and bind.callable is None)
            if not plain:
                return None
            if bind.key not in names:
                names[bind.key] = name = str(len(names))
                values[name] = bind.value
    memo_key = (entity, *keys, fusion, limit, candidates, distance_threshold)
    try:
        hash(memo_key)
    except TypeError:
        return None
    return memo_key, names, values


def _named(expression: ColumnElement[Any], names: dict[str, str]) -> ColumnElement[Any]:
    """``expression`` with its bound values renamed as ``names`` says (a copy; the caller's is untouched)."""

    def rename(element: Any, **kw: Any) -> Any:
        if isinstance(element, BindParameter) and element.key in names:
            return bindparam(names[element.key], element.value, type_=element.type)
        return None

    return replacement_traverse(expression, {}, rename)  # type: ignore[no-any-return]


def hybrid_search(
    entity: Any,
    *,
    vector: ColumnElement[float],
    text: FtsMatchWord,
    fusion: RRF | Weighted | None = None,
    where: ColumnElement[bool] | None = None,
    limit: int = 10,
    candidates: int | None = None,
    distance_threshold: float | None = None,
) -> Select[Any]:
    """One statement: ``(row, hybrid_score, vector_rank, fulltext_rank)``, best first.

    ``vector`` is a distance on the table's vector column (``Doc.embedding.cosine_distance("text")``
    on an auto-embedding column, or with a vector); ``text`` is ``Doc.content.fts_match("text")``.
    ``where`` filters both searches (on TiDB a filter beside the vector search keeps it off the
    vector index); each search keeps its best ``candidates`` rows (default ``max(20, 2 * limit)``);
    ``distance_threshold`` drops vector candidates farther than it.
    """
    fusion = RRF() if fusion is None else fusion
    if not isinstance(fusion, (RRF, Weighted)):
        raise FulltextError(f"fusion is RRF(k=60) or Weighted(vector=, text=), got {fusion!r}")
    if not isinstance(vector, (VectorDistance, VectorEmbedDistance)) or len(list(vector.clauses)) != 2:
        raise FulltextError("vector= is a distance such as Doc.embedding.cosine_distance('query text' or a vector)")
    if not isinstance(text, FtsMatchWord):
        raise FulltextError("text= is a full-text match such as Doc.content.fts_match('query text')")
    # limit=0 is SQL's LIMIT 0 (no rows), as nearest(k=0) and fulltext_search(limit=0)
    for name, value, least in (("limit", limit, 0), ("candidates", candidates, 1)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise FulltextError(f"{name} is an int >= {least}, got {value!r}")
    table = _table_of(entity)
    for name, expression in (("vector", vector), ("text", text)):
        searched = _column_table(expression)
        if searched is not table and getattr(searched, "element", None) is not table:
            raise FulltextError(f"{name}= searches {searched!r}, not the table {table.name!r} of the results")
    keys = list(table.primary_key.columns)
    if not keys:
        raise FulltextError(f"hybrid_search joins on the primary key, and table {table.name!r} has none")
    shape = _shape(entity, vector, text, where, fusion, limit, candidates, distance_threshold)
    if shape is None:  # a bind the caller names or fills at execution time: built as it is
        return _build(entity, table, keys, vector, text, fusion, where, limit, candidates, distance_threshold)
    memo_key, numbers, values = shape
    found = _TEMPLATES.get(memo_key)
    if found is None:
        prefix = f"tidb_hybrid_{next(_BUILDS)}_"
        names = {key: prefix + number for key, number in numbers.items()}
        vector, text, where = (None if e is None else _named(e, names) for e in (vector, text, where))  # type: ignore[assignment]
        template = _build(entity, table, keys, vector, text, fusion, where, limit, candidates, distance_threshold)
        found = _TEMPLATES[memo_key] = (template.where(OneShapeOnce(prefix)), prefix)
        while len(_TEMPLATES) > _TEMPLATE_LIMIT:
            try:
                _TEMPLATES.pop(next(iter(_TEMPLATES)), None)
            except (StopIteration, RuntimeError):  # emptied or changed by another thread meanwhile
                break
    template, prefix = found
    return _with_values(template, {prefix + number: value for number, value in values.items()})


#: SQLAlchemy 2.1's Select.params() keeps the statement's tree and sends the values beside it (the
#: cache key's ``params``); 2.0's copies the tree with the values in it.
_PARAMS_BESIDE_TREE = "params" in CacheKey._fields


def _with_values(template: Select[Any], values: dict[str, Any]) -> Select[Any]:
    """The built statement with this search's values: its own object, compiled once for all of them.

    On SQLAlchemy 2.1 the copy's cache key is the template's with these values as its ``params``,
    exactly what SQLAlchemy would compute by walking the whole tree again on every execution
    (``tests/test_hybrid_reuse.py`` checks both are equal); it is set on the copy at once.
    """
    statement = template.params(values)
    if _PARAMS_BESIDE_TREE:
        # Private: the statement's cache key and SQLAlchemy's memo of it (no public API sets either).
        key = template._generate_cache_key()
        if key is not None:
            own = key._replace(params=immutabledict({**(key.params or {}), **values}))  # type: ignore[call-arg]
            statement._set_memoized_attribute("_generate_cache_key", lambda: own)
    return statement


def _build(entity: Any, table: Table, keys: list[Any], vector: Any, text: FtsMatchWord, fusion: RRF | Weighted,
           where: ColumnElement[bool] | None, limit: int, candidates: int | None,
           distance_threshold: float | None) -> Select[Any]:
    """The statement of TiDB's page, built from validated arguments."""
    top = candidates if candidates is not None else max(20, 2 * limit)
    filters = [] if where is None else [where]

    distance = vector.label("distance")
    vector_column = list(vector.clauses)[0]
    v_query = (select(*keys, distance).where(EmbeddedOnly(vector_column.is_not(None)), *filters)
               .order_by(distance).limit(top))
    if re.fullmatch(r"\w+", str(table.name)):  # TiDB's page: read the vector index's TiFlash replica
        v_query = v_query.prefix_with(f"/*+ READ_FROM_STORAGE(TIFLASH[{table.name}]) */", dialect="mysql")
    v = v_query.subquery("v")
    vec_query = select(*(v.c[k.name] for k in keys), func.row_number().over(order_by=v.c.distance).label("r"),
                       v.c.distance)
    if distance_threshold is not None:
        vec_query = vec_query.where(v.c.distance <= float(distance_threshold))
    vec = vec_query.cte("vec")

    # On the embedded engine, scores come from the FTS5 table joined in; without a filter the best
    # ``top`` matches are ranked inside the index and only their rows are read from the table.
    joined = text.through_join(ranked=not filters)
    score = joined.label("score")
    join = FulltextJoin(table, joined, top=None if filters else literal(top, Integer))
    f = (select(*keys, score).select_from(join).where(joined, *filters)
         .order_by(score.desc()).limit(top).subquery("f"))
    fts_columns = [*(f.c[k.name] for k in keys), func.row_number().over(order_by=f.c.score.desc()).label("r")]
    if isinstance(fusion, Weighted):
        fts_columns.append((f.c.score / func.max(f.c.score).over()).label("norm"))
    fts = select(*fts_columns).cte("fts")

    if isinstance(fusion, RRF):
        k = _number(fusion.k)
        fused = (func.coalesce(_number(1.0) / (k + vec.c.r), _number(0))
                 + func.coalesce(_number(1.0) / (k + fts.c.r), _number(0)))
    else:
        similarity = (_number(1) - vec.c.distance) if vector.metric == "cosine" else (
            _number(1.0) / (_number(1.0) + vec.c.distance))
        fused = (func.coalesce(_number(fusion.vector) * similarity, _number(0))
                 + func.coalesce(_number(fusion.text) * fts.c.norm, _number(0)))
    hybrid_score = fused.label("hybrid_score")
    first = keys[0].name
    # Equivalent to the OR above, and lets the database read only the candidates' rows by key
    # instead of scanning the whole table for the outer joins.
    candidates_only = [keys[0].in_(select(vec.c[first]).union(select(fts.c[first])))] if len(keys) == 1 else []
    return (
        select(entity, hybrid_score, vec.c.r.label("vector_rank"), fts.c.r.label("fulltext_rank"))
        .join(vec, and_(*(vec.c[k.name] == k for k in keys)), isouter=True)
        .join(fts, and_(*(fts.c[k.name] == k for k in keys)), isouter=True)
        .where(or_(vec.c[first].is_not(None), fts.c[first].is_not(None)))
        .where(*candidates_only)
        .order_by(hybrid_score.desc(), *keys)
        .limit(limit)
    )


__all__ = ["RRF", "Weighted", "hybrid_search"]


