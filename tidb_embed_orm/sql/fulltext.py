"""TiDB full-text search: ``FULLTEXT INDEX ... WITH PARSER p`` and ``FTS_MATCH_WORD('q', col)``.

``FulltextIndex(name, "content", parser=MULTILINGUAL)`` goes in ``__table_args__`` (or alone) and
compiles to TiDB's DDL: inside ``CREATE TABLE`` when ``create_all`` makes the table with it, else
``ALTER TABLE t ADD FULLTEXT INDEX ... ADD_COLUMNAR_REPLICA_ON_DEMAND`` (TiDB serves full-text
search from a TiFlash replica, like vector search). ``fts_match(Doc.content, "java")`` - or
``Doc.content.fts_match("java")`` on a ``SearchableText`` column - is ``FTS_MATCH_WORD(%s, content)``
with the query bound: true for matching rows in WHERE, and their BM25 score (higher is better) in
SELECT and ORDER BY. The embedded engine serves the same SQL from SQLite FTS5
(``dialects/sqlite_fts5.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Column, Float, Index, String, Table, Text, bindparam, event, select, true
from sqlalchemy.engine import Connection
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.ddl import CreateIndex, CreateTable, DropIndex, SchemaGenerator
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.selectable import Join, Select, TableClause
from sqlalchemy.types import NullType, TypeEngine

from ..exc import FulltextError
from . import vector_index as _vector_index  # noqa: F401  (its CREATE INDEX rule first: ours chains to it)
from .elements import backend_visit

_NGRAM_OPTIONS = ("min_gram", "max_gram", "granularity", "lower_case")


@dataclass(frozen=True)
class FulltextParser:
    """A TiDB full-text parser: ``STANDARD``, ``MULTILINGUAL``, ``NGRAM`` or ``NGRAM(min_gram=2, ...)``."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def __call__(
        self,
        *,
        min_gram: int | None = None,
        max_gram: int | None = None,
        granularity: str | None = None,
        lower_case: bool | None = None,
    ) -> FulltextParser:
        if self.name != "NGRAM":
            raise FulltextError(f"only NGRAM takes parameters; write WITH PARSER {self.name} as {self.name}")
        given = {"min_gram": min_gram, "max_gram": max_gram, "granularity": granularity, "lower_case": lower_case}
        low, high = min_gram if min_gram is not None else 3, max_gram if max_gram is not None else 3
        if not (isinstance(low, int) and isinstance(high, int) and 2 <= low <= high <= 5):
            raise FulltextError(f"NGRAM needs 2 <= min_gram <= max_gram <= 5, got min_gram={low}, max_gram={high}")
        if granularity not in (None, "word", "char"):
            raise FulltextError(f"NGRAM granularity is 'word' or 'char', got {granularity!r}")
        if lower_case is not None and not isinstance(lower_case, bool):
            raise FulltextError(f"NGRAM lower_case is True or False, got {lower_case!r}")
        return FulltextParser("NGRAM", tuple((k, v) for k, v in given.items() if v is not None))

    def normalized(self) -> FulltextParser:
        """The same parser with TiDB's defaults spelled out, for comparing two definitions."""
        if self.name != "NGRAM":
            return self
        options = {"min_gram": 3, "max_gram": 3, "granularity": "word", "lower_case": True, **self.option_dict}
        return FulltextParser("NGRAM", tuple((k, options[k]) for k in _NGRAM_OPTIONS))

    @property
    def option_dict(self) -> dict[str, Any]:
        return dict(self.options)

    def sql(self) -> str:
        """The parser as TiDB writes it after ``WITH PARSER``."""
        if not self.options:
            return self.name
        rendered = []
        for key, value in self.options:
            text = ("true" if value else "false") if isinstance(value, bool) else repr(value)
            rendered.append(f"{key}={text}")
        return f"{self.name}({', '.join(rendered)})"

    def __repr__(self) -> str:
        if not self.options:
            return self.name
        return f"NGRAM({', '.join(f'{k}={v!r}' for k, v in self.options)})"


STANDARD = FulltextParser("STANDARD")
MULTILINGUAL = FulltextParser("MULTILINGUAL")
NGRAM = FulltextParser("NGRAM")
PARSERS = {p.name: p for p in (STANDARD, MULTILINGUAL, NGRAM)}


def as_parser(parser: FulltextParser | str) -> FulltextParser:
    """``STANDARD`` or ``"standard"`` (any case) -> the parser; anything else is refused."""
    if isinstance(parser, FulltextParser):
        return parser
    if isinstance(parser, str) and parser.upper() in PARSERS:
        return PARSERS[parser.upper()]
    raise FulltextError(
        f"unknown full-text parser {parser!r}: TiDB has STANDARD, MULTILINGUAL and NGRAM(min_gram=, max_gram=)"
    )


class FulltextIndex(Index):
    """A TiDB ``FULLTEXT INDEX`` on text columns, with its parser.

    ``add_columnar_replica_on_demand=True`` (TiDB's default advice) lets TiDB create the TiFlash
    replica full-text search reads from, when the index is added to an existing table.
    """

    def __init__(
        self,
        name: str | None,
        *columns: Column[Any] | str,
        parser: FulltextParser | str = STANDARD,
        add_columnar_replica_on_demand: bool = True,
        **kw: Any,
    ) -> None:
        if not columns:
            raise FulltextError("a full-text index needs at least one text column")
        self.parser = as_parser(parser)
        self.add_columnar_replica_on_demand = add_columnar_replica_on_demand
        super().__init__(name, *columns, **kw)  # type: ignore[arg-type]
        self.ddl_if(callable_=_not_created_inline)  # type: ignore[arg-type]  # DDLIfCallable is a Protocol of keywords
        event.listen(self, "after_create", _backend_after_create)
        event.listen(self, "before_drop", _backend_before_drop)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(str(getattr(c, "name", c)) for c in self.expressions)

    @property
    def effective_name(self) -> str:
        """The index's name, or the one TiDB gives an unnamed index (its first column's)."""
        return str(self.name) if self.name is not None else self.column_names[0]

    def _set_parent(self, table: Any, **kw: Any) -> None:  # type: ignore[override]
        super()._set_parent(table, **kw)
        if isinstance(table, Table) and not getattr(table, "_tidb_fulltext_events", False):
            table._tidb_fulltext_events = True  # type: ignore[attr-defined]
            event.listen(table, "before_create", _mark_inline)
            event.listen(table, "after_create", _clear_inline)
            event.listen(table, "before_drop", _backend_before_table_drop)
            event.listen(table, "after_drop", _backend_after_table_drop)


def fulltext_indexes(table: Any) -> list[FulltextIndex]:
    return sorted((i for i in getattr(table, "indexes", ()) if isinstance(i, FulltextIndex)),
                  key=lambda i: i.effective_name)


# --- per-backend hooks (the embedded engine's FTS5 tables and triggers) -----------------------


class FulltextBackend(Protocol):
    def after_create(self, index: FulltextIndex, connection: Connection) -> None: ...
    def before_drop(self, index: FulltextIndex, connection: Connection) -> None: ...
    def after_table_drop(self, table: Table, connection: Connection) -> None: ...


def _backend(connection: Connection) -> FulltextBackend | None:
    """The structures a backend keeps beside the DDL (the embedded engine: FTS5 + triggers), named by its
    dialect class as ``tidb_embed_fulltext``; None for TiDB, which keeps its index itself."""
    return getattr(connection.dialect, "tidb_embed_fulltext", None)


def _backend_after_create(index: FulltextIndex, connection: Connection, **kw: Any) -> None:
    backend = _backend(connection)
    if backend is not None:
        backend.after_create(index, connection)


def _backend_before_drop(index: FulltextIndex, connection: Connection, **kw: Any) -> None:
    backend = _backend(connection)
    if backend is not None:
        backend.before_drop(index, connection)


def _backend_before_table_drop(table: Table, connection: Connection, **kw: Any) -> None:
    # TiDB refuses DROP TABLE while a FULLTEXT index exists: drop_all drops the indexes first.
    if connection.dialect.name == "mysql":
        for index in fulltext_indexes(table):
            connection.execute(DropFulltextIndexIfExists(index))


def _backend_after_table_drop(table: Table, connection: Connection, **kw: Any) -> None:
    backend = _backend(connection)
    if backend is not None:
        backend.after_table_drop(table, connection)


# --- inside CREATE TABLE on TiDB --------------------------------------------------------------


def _mark_inline(table: Table, connection: Connection, **kw: Any) -> None:
    """``create_all`` / ``table.create``: write the indexes inside CREATE TABLE, as TiDB's docs do."""
    if connection.dialect.name == "mysql" and isinstance(kw.get("_ddl_runner"), SchemaGenerator):
        for index in fulltext_indexes(table):
            index._tidb_inline = "pending"  # type: ignore[attr-defined]


def _clear_inline(table: Table, connection: Connection, **kw: Any) -> None:
    for index in fulltext_indexes(table):  # after the table and its indexes, even if compiling failed
        index._tidb_inline = None  # type: ignore[attr-defined]


def _not_created_inline(ddl: Any, target: Any, bind: Any, **kw: Any) -> bool:
    if isinstance(ddl, CreateIndex) and getattr(target, "_tidb_inline", None) == "done":
        target._tidb_inline = None
        return False
    return True


def _index_body(index: FulltextIndex, compiler: DDLCompiler) -> str:
    if index.name is None and index.parser.name == "NGRAM":
        raise FulltextError("TiDB needs a name for an NGRAM full-text index: FulltextIndex('ft_name', ...)")
    columns = ", ".join(compiler.preparer.quote(name) for name in index.column_names)
    name = f"{compiler.preparer.quote(str(index.name))} " if index.name is not None else ""
    return f"{name}({columns}) WITH PARSER {index.parser.sql()}"


def _chain(element_class: type, dialect: str, compile_fulltext: Callable[..., str]) -> None:
    """Add a FulltextIndex rule to a DDL construct, keeping any rule another module set before."""
    previous = element_class.__dict__.get("_compiler_dispatcher")
    earlier = previous.specs.get(dialect) if previous is not None else None

    def dispatch(element: Any, compiler: Any, **kw: Any) -> str:
        if isinstance(getattr(element, "element", None), FulltextIndex):
            return compile_fulltext(element, compiler, **kw)
        fallback = earlier or element_class.__dict__["_compiler_dispatcher"].specs["default"]
        return fallback(element, compiler, **kw)  # type: ignore[no-any-return]

    compiles(element_class, dialect)(dispatch)


def _compile_create_mysql(element: CreateIndex, compiler: DDLCompiler, **kw: Any) -> str:
    index: FulltextIndex = element.element  # type: ignore[assignment]
    if index.table is None:
        raise CompileError(f"full-text index {index.name!r} is not attached to a table")
    table = compiler.preparer.format_table(index.table)
    if index.add_columnar_replica_on_demand or index.name is None:
        suffix = " ADD_COLUMNAR_REPLICA_ON_DEMAND" if index.add_columnar_replica_on_demand else ""
        return f"ALTER TABLE {table} ADD FULLTEXT INDEX {_index_body(index, compiler)}{suffix}"
    columns = ", ".join(compiler.preparer.quote(name) for name in index.column_names)
    return (f"CREATE FULLTEXT INDEX {compiler.preparer.quote(str(index.name))} ON {table} ({columns}) "
            f"WITH PARSER {index.parser.sql()}")


def _compile_drop_mysql(element: DropIndex, compiler: DDLCompiler, **kw: Any) -> str:
    index: FulltextIndex = element.element  # type: ignore[assignment]
    table = compiler.preparer.format_table(index.table)  # type: ignore[arg-type]
    return f"DROP INDEX {compiler.preparer.quote(index.effective_name)} ON {table}"


_chain(CreateIndex, "mysql", _compile_create_mysql)
_chain(DropIndex, "mysql", _compile_drop_mysql)


_earlier_create_table = CreateTable.__dict__.get("_compiler_dispatcher")
_earlier_create_table_mysql = _earlier_create_table.specs.get("mysql") if _earlier_create_table else None


@compiles(CreateTable, "mysql")
def _compile_create_table_mysql(element: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    if _earlier_create_table_mysql is not None:
        text: str = _earlier_create_table_mysql(element, compiler, **kw)
    else:
        text = compiler.visit_create_table(element, **kw)
    inline = [i for i in fulltext_indexes(element.element) if getattr(i, "_tidb_inline", None) == "pending"]
    if not inline:
        return text
    head, close, tail = text.rpartition("\n)")
    clauses = "".join(f", \n\tFULLTEXT INDEX {_index_body(index, compiler)}" for index in inline)
    for index in inline:
        index._tidb_inline = "done"  # type: ignore[attr-defined]
    return f"{head}{clauses}{close}{tail}"


class DropFulltextIndexIfExists(DropIndex):
    """``ALTER TABLE t DROP INDEX IF EXISTS ft``: what lets ``drop_all`` drop a TiDB table."""


@compiles(DropFulltextIndexIfExists, "mysql")
def _compile_drop_if_exists(element: DropFulltextIndexIfExists, compiler: DDLCompiler, **kw: Any) -> str:
    index: FulltextIndex = element.element  # type: ignore[assignment]
    table = compiler.preparer.format_table(index.table)  # type: ignore[arg-type]
    return (f"ALTER TABLE {table} DROP INDEX IF EXISTS "
            f"{compiler.preparer.quote(index.effective_name)}")


# --- FTS_MATCH_WORD --------------------------------------------------------------------------


class FtsMatchWord(FunctionElement[float]):
    """``FTS_MATCH_WORD(%s [WITH PARSER p], col[, col...])``: a match in WHERE, a BM25 score elsewhere."""

    inherit_cache = True
    type = Float()
    tidb_visit_name = "tidb_fts_match_word"

    def __init__(self, query: ColumnElement[Any], *columns: ColumnElement[Any], parser: str | None = None,
                 joined: bool = False) -> None:
        self.parser_name = parser
        #: Searched through a FulltextJoin in the same FROM (the embedded engine reads the score there).
        self.joined = joined
        super().__init__(query, *columns)

    def through_join(self) -> FtsMatchWord:
        """The same match, for a select whose FROM is ``FulltextJoin(table, match)``."""
        return FtsMatchWord(self.query, *self.columns, parser=self.parser_name, joined=True)

    @property
    def query(self) -> BindParameter[Any]:
        return list(self.clauses)[0]  # type: ignore[return-value]

    @property
    def columns(self) -> list[ColumnElement[Any]]:  # type: ignore[override]  # the searched columns
        return list(self.clauses)[1:]

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> Any:
        key = super()._gen_cache_key(anon_map, bindparams)
        return None if key is None else (*key, self.parser_name, self.joined)


class FulltextJoin(Join):
    """The table, joined on the embedded engine to the full-text index ``match`` searches.

    TiDB reads FTS_MATCH_WORD from the table itself, so there it is just the table. On the
    embedded engine it is ``t JOIN <fts5 table> ON rowid``: SQLite then drives the search from the
    index and reads each row's BM25 score from the join instead of one lookup per row.
    """

    tidb_visit_name = "tidb_fulltext_join"
    inherit_cache = True

    def __init__(self, table: Table, match: FtsMatchWord) -> None:
        self.match = match
        super().__init__(table, TableClause("fulltext_index"), true())

    def _gen_cache_key(self, anon_map: Any, bindparams: Any) -> Any:
        key = super()._gen_cache_key(anon_map, bindparams)
        match = self.match._gen_cache_key(anon_map, bindparams)
        return None if key is None or match is None else (*key, match)


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
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise FulltextError(f"limit is an int >= 1, got {limit!r}")
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
        return fts_match(self.expr, query, *more_columns, parser=parser)


class SearchableText(Text):
    """``TEXT`` with ``.fts_match(query)``: the same column type, with the search method on it."""

    comparator_factory = SearchableTextComparator  # type: ignore[assignment]
    cache_ok = True

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        return Text()


__all__ = [
    "MULTILINGUAL",
    "NGRAM",
    "STANDARD",
    "FtsMatchWord",
    "FulltextError",
    "FulltextIndex",
    "FulltextParser",
    "SearchableText",
    "FulltextJoin",
    "fts_match",
    "fulltext_indexes",
    "fulltext_search",
    "FulltextBackend",
]
