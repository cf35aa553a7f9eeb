"""Full-text search: ``FTS_MATCH_WORD('q', col)`` and the search builder around it.

``fts_match(Doc.content, "java")`` - or ``Doc.content.fts_match("java")`` on a ``SearchableText``
column - is ``FTS_MATCH_WORD(%s, content)`` with the query bound: true for matching rows in WHERE,
and their BM25 score (higher is better) in SELECT and ORDER BY. The embedded engine serves the same
SQL from SQLite FTS5 (``dialects/embedded/fts5.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, String, Table, Text, bindparam, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Join, Select, TableClause
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType, TypeEngine

from ...exc import FulltextError
from ..elements import backend_visit
from .parsers import FulltextParser, as_parser


class FtsMatchWord(FunctionElement[float]):
    """``FTS_MATCH_WORD(%s [WITH PARSER p], col[, col...])``: a match in WHERE, a BM25 score elsewhere."""

    inherit_cache = True
    type = Float()
    tidb_visit_name = "tidb_fts_match_word"

    def __init__(self, query: ColumnElement[Any], *columns: ColumnElement[Any], parser: str | None = None,
                 joined: bool = False, ranked: bool = False) -> None:
        self.parser_name = parser
        #: Searched through a FulltextJoin in the same FROM (the embedded engine reads the score there).
        self.joined = joined
        #: ... whose best rows the embedded engine ranks in the index before joining the table (FulltextJoin(top=)).
        self.ranked = ranked
        super().__init__(query, *columns)

    def through_join(self, *, ranked: bool = False) -> FtsMatchWord:
        """The same match, for a select whose FROM is ``FulltextJoin(table, match)``.

        ``ranked``: the select keeps only the best rows of the match and has no other filter, so the
        embedded engine may rank them inside the index and read only those rows of the table.
        """
        return FtsMatchWord(self.query, *self.columns, parser=self.parser_name, joined=True, ranked=ranked)

    @property
    def query(self) -> BindParameter[Any]:
        """The bound query text."""
        return list(self.clauses)[0]  # type: ignore[return-value]

    @property
    def columns(self) -> list[ColumnElement[Any]]:  # type: ignore[override]  # the searched columns
        """The searched columns, in the order given."""
        return list(self.clauses)[1:]

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> Any:
        key = super()._gen_cache_key(anon_map, bindparams)
        return None if key is None else (*key, self.parser_name, self.joined, self.ranked)


class FulltextJoin(Join):
    """The table, joined on the embedded engine to the full-text index ``match`` searches.

    TiDB reads FTS_MATCH_WORD from the table itself, so there it is just the table. On the
    embedded engine it is ``t JOIN <fts5 table> ON rowid``: SQLite then drives the search from the
    index and reads each row's BM25 score from the join instead of one lookup per row.
    """

    tidb_visit_name = "tidb_fulltext_join"
    inherit_cache = True
    # The match is part of the join: in its cache key, and copied with it (Select.params() clones the
    # statement; a match left behind would keep the first query's text).
    _traverse_internals = [*Join._traverse_internals, ("match", InternalTraversal.dp_clauseelement),
                           ("top", InternalTraversal.dp_clauseelement)]

    def __init__(self, table: Table, match: FtsMatchWord, top: ColumnElement[Any] | None = None) -> None:
        """``top``: with a ``ranked`` match, how many best matches the select keeps (its own LIMIT).

        The embedded engine then ranks the matches inside the full-text index and joins only those
        ``top`` rows to the table, instead of reading the table's row of every match.
        """
        if match.ranked and top is None:
            raise FulltextError("a ranked full-text join needs top= (the select's LIMIT)")
        self.match = match
        self.top = top
        super().__init__(table, TableClause("fulltext_index"), true())


@compiles(FulltextJoin)
def _compile_fulltext_join(element: FulltextJoin, compiler: SQLCompiler, **kw: Any) -> str:
    own = backend_visit(compiler, element, **kw)
    if own is not None:
        return own
    return compiler.process(element.left, **{**kw, "asfrom": True})  # type: ignore[no-any-return]


def fulltext_search(entity: Any, match: FtsMatchWord, *, where: ColumnElement[bool] | None = None,
                    limit: int = 10) -> Select[Any]:
    """``select(entity, score)`` of the best ``limit`` matches, best first: TiDB's documented query.

    ``WHERE FTS_MATCH_WORD(q, col) [AND where] ORDER BY FTS_MATCH_WORD(q, col) DESC LIMIT n`` on
    TiDB; on the embedded engine it reads the scores through a ``FulltextJoin`` (fast at any size).
    """
    if not isinstance(match, FtsMatchWord):
        raise FulltextError("fulltext_search takes a full-text match such as Doc.content.fts_match('query text')")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise FulltextError(f"limit is an int >= 0, got {limit!r}")  # 0: no rows, as nearest(k=0)
    table = _searched_table(match)
    joined = match.through_join()
    score = joined.label("score")
    filters = [] if where is None else [where]
    return (select(entity, score).select_from(FulltextJoin(table, joined)).where(joined, *filters)
            .order_by(score.desc()).limit(limit))


def _searched_table(match: FtsMatchWord) -> Table:
    table = getattr(match.columns[0], "table", None)
    while table is not None and not isinstance(table, Table):
        table = getattr(table, "element", None)
    if table is None:
        raise FulltextError("a full-text search runs on the columns of a table")
    return table


def fts_match(column: Any, query: str, *more_columns: Any, parser: FulltextParser | str | None = None) -> FtsMatchWord:
    """TiDB's ``FTS_MATCH_WORD(query, column, ...)``: rows holding any of the query's words, BM25-scored.

    Use it in ``where(...)`` to find rows and in ``order_by(fts_match(...).desc())`` to rank them
    (TiDB ranks by the score only when WHERE holds this one match call).
    """
    if not isinstance(query, str):
        raise FulltextError(f"a full-text query is a str (sent as a bound parameter), got {type(query).__name__}")
    resolved = [c.__clause_element__() if hasattr(c, "__clause_element__") else c for c in (column, *more_columns)]
    for target in resolved:
        if not isinstance(target, ColumnElement) or not isinstance(target.type, (String, NullType)):
            raise FulltextError(f"full-text search runs on text columns; {target!r} is not one")
    parser_name = None if parser is None else as_parser(parser).name
    return FtsMatchWord(bindparam(None, query, type_=Text()), *resolved, parser=parser_name)


@compiles(FtsMatchWord)
def _compile_fts_match_word(element: FtsMatchWord, compiler: SQLCompiler, **kw: Any) -> str:
    own = backend_visit(compiler, element, **kw)
    if own is not None:
        return own
    query = compiler.process(element.query, **kw)
    if element.parser_name is not None:
        query = f"{query} WITH PARSER {element.parser_name.lower()}"
    columns = ", ".join(compiler.process(c, **kw) for c in element.columns)
    return f"FTS_MATCH_WORD({query}, {columns})"


class SearchableTextComparator(Text.Comparator[str]):
    """``Doc.content.fts_match("java programming")``."""

    def fts_match(self, query: str, *more_columns: Any, parser: FulltextParser | str | None = None) -> FtsMatchWord:
        """``FTS_MATCH_WORD(query, this column[, more columns])``: a filter in WHERE, the BM25 score elsewhere."""
        return fts_match(self.expr, query, *more_columns, parser=parser)


class SearchableText(Text):
    """``TEXT`` with ``.fts_match(query)``: the same column type, with the search method on it."""

    comparator_factory = SearchableTextComparator  # type: ignore[assignment]
    cache_ok = True

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        """A value compared with the column is text."""
        return Text()

