"""TiDB full-text search on the embedded engine: an external-content SQLite FTS5 table per index.

A ``FulltextIndex("ft", "content")`` on ``docs`` is the FTS5 table ``_tidb_fts_docs_ft`` reading its
text from ``docs`` (``content='docs'``), kept current by three triggers on ``docs``. Triggers run
inside the writing statement, so the index commits, rolls back and is seen by other connections
and processes exactly with the rows. Parsers map to FTS5 tokenizers:

============ ============================================ ============================================
TiDB parser  tokens                                       differences
============ ============================================ ============================================
STANDARD     FTS5 ``unicode61 remove_diacritics 0``       none known for English text
MULTILINGUAL ``fts_tokens.py``: words, jieba or bigram    Japanese and Korean by character bigrams
             CJK words, emoji (contentless FTS5 table)    (TiDB segments them into words)
NGRAM(...)   ``fts_tokens.py``: exactly the min_gram..    none known
             max_gram grams (contentless FTS5 table)
============ ============================================ ============================================

A STANDARD index is an external-content table reading ``docs``; MULTILINGUAL and NGRAM indexes are
contentless (``content=''``) tables whose triggers store ``tidb_fts_tokens(spec, text)``.

``FTS_MATCH_WORD('q', col)`` keeps TiDB's meaning: the query is split into words, each one quoted
(user text can never become FTS5 syntax) and OR-ed (NGRAM: AND-ed, as TiDB AND-s n-grams). In WHERE
it is ``docs.rowid IN (SELECT rowid FROM fts WHERE fts MATCH ?)``; elsewhere it is the row's
BM25 score, ``-bm25(fts)``, so that higher is better as on TiDB.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, column
from sqlalchemy.engine import Connection
from sqlalchemy.sql.compiler import DDLCompiler, SQLCompiler
from sqlalchemy.sql.ddl import CreateIndex, DropIndex
from sqlalchemy.sql.elements import BooleanClauseList
from sqlalchemy.types import TypeDecorator

from ...sql import fulltext as ft
from ...sql.scanner import quote_identifier, string_literal
from . import fts_tokens

PREFIX = "_tidb_fts_"
_WORD = re.compile(r"[^\W_]+")
_META = fts_tokens.META


def fts_table_name(table_name: str, index_name: str) -> str:
    return f"{PREFIX}{table_name}_{index_name}"


def tokenizer(parser: ft.FulltextParser) -> str:
    """The FTS5 tokenizer of a parser's table (``ascii`` over the tokens ``fts_tokens`` made)."""
    return "ascii" if fts_tokens.is_tokenized(parser) else "unicode61 remove_diacritics 0"


def _names(index: ft.FulltextIndex) -> tuple[str, str]:
    if index.table is None:
        raise ft.FulltextError(f"full-text index {index.name!r} is not attached to a table")
    return str(index.table.name), fts_table_name(str(index.table.name), index.effective_name)


def create_statement(index: ft.FulltextIndex) -> str:
    table, fts = _names(index)
    meta = json.dumps({"table": table, "index": index.effective_name, "columns": list(index.column_names),
                       "parser": index.parser.name, "options": index.parser.option_dict,
                       "spec": _spec(index.parser)}).replace("*/", "*\\/")
    columns = ", ".join(quote_identifier(c) for c in index.column_names)
    content = "''" if fts_tokens.is_tokenized(index.parser) else f"{string_literal(table)}, content_rowid='rowid'"
    return (f"CREATE VIRTUAL TABLE {quote_identifier(fts)} USING fts5({columns}, content={content}, "
            f"tokenize={string_literal(tokenizer(index.parser))} /* tidb_embed_orm fulltext {meta} */)")


def _spec(parser: ft.FulltextParser) -> str | None:
    return fts_tokens.spec(parser) if fts_tokens.is_tokenized(parser) else None


def sync_statements(index: ft.FulltextIndex) -> list[str]:
    """The triggers that keep the FTS5 table equal to the table, then the initial fill."""
    table, fts = _names(index)
    names = [quote_identifier(c) for c in index.column_names]
    spec = _spec(index.parser)
    if spec is None:
        def value(c: str) -> str:
            return c
    else:  # the tokens, made by fts_tokens for MULTILINGUAL and NGRAM
        def value(c: str) -> str:
            return f"{fts_tokens.TOKENS_FUNCTION}({string_literal(spec)}, {c})"
    new = ", ".join(value(f"new.{c}") for c in names)
    old = ", ".join(value(f"old.{c}") for c in names)
    listed = ", ".join(names)
    qfts, qtable = quote_identifier(fts), quote_identifier(table)
    fill = (f"INSERT INTO {qfts}({qfts}) VALUES ('rebuild')" if spec is None else
            f"INSERT INTO {qfts}(rowid, {listed}) SELECT rowid, {', '.join(value(c) for c in names)} FROM {qtable}")
    insert = f"INSERT INTO {qfts}(rowid, {listed}) VALUES (new.rowid, {new});"
    delete = f"INSERT INTO {qfts}({qfts}, rowid, {listed}) VALUES ('delete', old.rowid, {old});"
    changed = " OR ".join(["old.rowid IS NOT new.rowid", *(f"old.{c} IS NOT new.{c}" for c in names)])
    return [
        f"CREATE TRIGGER {quote_identifier(fts + '_ai')} AFTER INSERT ON {qtable} BEGIN {insert} END",
        f"CREATE TRIGGER {quote_identifier(fts + '_ad')} AFTER DELETE ON {qtable} BEGIN {delete} END",
        f"CREATE TRIGGER {quote_identifier(fts + '_au')} AFTER UPDATE ON {qtable} WHEN {changed} "
        f"BEGIN {delete} {insert} END",
        fill,
    ]


def drop_statements(table_name: str, index_name: str) -> list[str]:
    fts = fts_table_name(table_name, index_name)
    return [*(f"DROP TRIGGER IF EXISTS {quote_identifier(fts + suffix)}" for suffix in ("_ai", "_ad", "_au")),
            f"DROP TABLE IF EXISTS {quote_identifier(fts)}"]


class Fts5Backend:
    """The FTS5 table and triggers the embedded engine keeps beside a FulltextIndex (its dialect's
    ``tidb_embed_fulltext``)."""

    def after_create(self, index: ft.FulltextIndex, connection: Connection) -> None:
        for statement in sync_statements(index):
            connection.exec_driver_sql(statement)

    def before_drop(self, index: ft.FulltextIndex, connection: Connection) -> None:
        table, _ = _names(index)
        for statement in drop_statements(table, index.effective_name)[:3]:
            connection.exec_driver_sql(statement)

    def after_table_drop(self, table: Table, connection: Connection) -> None:
        for index in ft.fulltext_indexes(table):
            connection.exec_driver_sql(drop_statements(str(table.name), index.effective_name)[-1])


FTS5_BACKEND = Fts5Backend()


def compile_create_index(element: CreateIndex, compiler: DDLCompiler, **kw: Any) -> str:
    """CREATE INDEX of a FulltextIndex: its FTS5 table (the embedded DDL compiler's rule)."""
    return create_statement(element.element)  # type: ignore[arg-type]


def compile_drop_index(element: DropIndex, compiler: DDLCompiler, **kw: Any) -> str:
    _, fts = _names(element.element)  # type: ignore[arg-type]
    return f"DROP TABLE IF EXISTS {quote_identifier(fts)}"


# --- reflection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReflectedFulltextIndex:
    name: str
    table: str
    columns: tuple[str, ...]
    parser: ft.FulltextParser


def reflect_fts5_indexes(connection: Any, table: str | None = None) -> list[ReflectedFulltextIndex]:
    """The full-text indexes the embedded engine holds (all tables, or ``table``'s)."""
    rows = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?) = ? AND sql IS NOT NULL",
        (len(PREFIX), PREFIX),
    ).scalars()
    found = []
    for sql in rows:
        match = _META.search(sql)
        if match is None:
            continue
        meta = json.loads(match["json"])
        parser = ft.as_parser(meta["parser"])
        if meta.get("options"):
            parser = parser(**meta["options"])
        if table is None or meta["table"] == table:
            found.append(ReflectedFulltextIndex(meta["index"], meta["table"], tuple(meta["columns"]), parser))
    return found


def restore_statements(index: ReflectedFulltextIndex) -> list[str]:
    """Drop and re-create a reflected index on its table, filled from the rows.

    For code that replaces a table under its name (a rebuild: DROP, then RENAME a copy): DROP TABLE
    takes the triggers with it, so the index must be made again on the new table.
    """
    table = Table(index.table, MetaData(), *(Column(c, Text) for c in index.columns))
    rebuilt = ft.FulltextIndex(index.name, *table.c, parser=index.parser)
    return [*drop_statements(index.table, index.name), create_statement(rebuilt), *sync_statements(rebuilt)]


# --- FTS_MATCH_WORD ---------------------------------------------------------------------------


def fts5_expression(text: str, parser: ft.FulltextParser | str, columns: tuple[str, ...] | None) -> str:
    """TiDB's query text as an FTS5 query: each word quoted, OR-ed (NGRAM: its grams AND-ed).

    STANDARD splits words as FTS5's unicode61 does; MULTILINGUAL and NGRAM tokenize as their index did
    (``fts_tokens``), a CJK word without a segmenter becoming the phrase of its bigrams.
    """
    parser = ft.as_parser(parser)
    if fts_tokens.is_tokenized(parser):
        return fts_tokens.tokenized_query(fts_tokens.spec(parser), text, columns)
    return fts_tokens.combine(_WORD.findall(text), "OR", columns)


class Fts5Query(TypeDecorator[str]):
    """The bound query text, turned into a safe FTS5 query as it is sent."""

    impl = Text
    cache_ok = True

    def __init__(self, parser: ft.FulltextParser, columns: tuple[str, ...] | None) -> None:
        super().__init__()
        self.parser, self.columns = parser, columns

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else fts5_expression(str(value), self.parser, self.columns)


def _base_table(from_: Any) -> Table | None:
    while from_ is not None and not isinstance(from_, Table):
        from_ = getattr(from_, "element", None)
    return from_


def _index_for(element: ft.FtsMatchWord) -> tuple[Any, ft.FulltextIndex]:
    columns = element.columns
    froms = {id(getattr(c, "table", None)): getattr(c, "table", None) for c in columns}
    if len(froms) != 1 or None in froms.values():
        raise ft.FulltextError("FTS_MATCH_WORD searches columns of one table")
    from_ = next(iter(froms.values()))
    table = _base_table(from_)
    names = {str(getattr(c, "name", "")) for c in columns}
    for index in ft.fulltext_indexes(table):
        if names <= set(index.column_names) and element.parser_name in (None, index.parser.name):
            return from_, index
    parser = f" WITH PARSER {element.parser_name}" if element.parser_name else ""
    raise ft.FulltextError(
        f"no full-text index{parser} on {getattr(table, 'name', table)}({', '.join(sorted(names))}): declare "
        f"FulltextIndex('ft_name', {', '.join(repr(n) for n in sorted(names))}) in the table's __table_args__"
    )


def _conjuncts(criterion: Any) -> list[Any]:
    if isinstance(criterion, BooleanClauseList):
        return [c for clause in criterion.clauses for c in _conjuncts(clause)]
    return [criterion]


def _is_where_filter(element: ft.FtsMatchWord, compiler: SQLCompiler, kw: dict[str, Any]) -> bool:
    """True while compiling one of this select's WHERE uses of ``element`` (columns come before, ORDER BY after)."""
    if kw.get("within_columns_clause") or not compiler.stack:
        return False
    statement = compiler.stack[-1].get("selectable")
    pending: dict[tuple[int, int], int] = compiler.__dict__.setdefault("_tidb_fts_where", {})
    key = (id(statement), id(element))
    if key not in pending:
        # Private: the criteria one by one (the public Select.whereclause is their AND, rebuilt on each access).
        criteria = getattr(statement, "_where_criteria", ())
        pending[key] = sum(1 for c in criteria for part in _conjuncts(c) if part is element)
    if pending[key] > 0:
        pending[key] -= 1
        return True
    return False


def _fts_table(element: ft.FtsMatchWord) -> tuple[Any, Any, str]:
    """(the searched FROM, its full-text index, the name of the index's FTS5 table) of a match."""
    from_, index = _index_for(element)
    return from_, index, fts_table_name(str(_base_table(from_).name), index.effective_name)  # type: ignore[union-attr]


def _match_sql(element: ft.FtsMatchWord, compiler: SQLCompiler, kw: dict[str, Any]) -> tuple[Any, str, str]:
    """(the searched FROM, the quoted FTS5 table, ``<fts5 table> MATCH <query>``) of a match."""
    from_, index, fts_name = _fts_table(element)
    names = tuple(str(c.name) for c in element.columns)  # type: ignore[attr-defined]
    column_filter = None if set(names) == set(index.column_names) else names
    fts = quote_identifier(fts_name)
    if fts_tokens.is_tokenized(index.parser):
        # cut the query as the index was built (its spec is in its CREATE VIRTUAL TABLE text)
        table_sql = f"(SELECT sql FROM sqlite_master WHERE type = 'table' AND name = {string_literal(fts_name)})"
        columns = "NULL" if column_filter is None else string_literal(json.dumps(list(column_filter)))
        query_sql = (f"{fts_tokens.MATCH_FUNCTION}({table_sql}, {columns}, "
                     f"{compiler.process(element.query, **kw)})")
    else:
        query_sql = compiler.process(element.query._with_binary_element_type(Fts5Query(index.parser, column_filter)),
                                     **kw)
    return from_, fts, f"{fts} MATCH {query_sql}"


def _ranked_name(fts_name: str) -> str:
    """The alias of a ranked join's best matches (``"<fts5 table>_top"``)."""
    return quote_identifier(fts_name + "_top")


def compile_fts_match_word(element: ft.FtsMatchWord, compiler: SQLCompiler, **kw: Any) -> str:
    if element.joined and element.ranked:  # the match and its score are in the FROM clause (FulltextJoin(top=))
        return "1" if _is_where_filter(element, compiler, kw) else f"{_ranked_name(_fts_table(element)[2])}.score"
    from_, fts, match = _match_sql(element, compiler, kw)
    rowid = compiler.process(column("rowid", _selectable=from_), **kw)
    if element.joined:  # the FTS5 table is in the FROM clause (FulltextJoin): read it there
        return match if _is_where_filter(element, compiler, kw) else f"(-bm25({fts}))"
    if _is_where_filter(element, compiler, kw):
        return f"{rowid} IN (SELECT {fts}.rowid FROM {fts} WHERE {match})"
    return f"(SELECT -bm25({fts}) FROM {fts} WHERE {match} AND {fts}.rowid = {rowid})"


def compile_fulltext_join(element: ft.FulltextJoin, compiler: SQLCompiler, **kw: Any) -> str:
    left = compiler.process(element.left, **{**kw, "asfrom": True})
    rowid = compiler.process(column("rowid", _selectable=element.left), **kw)
    if element.match.ranked and element.top is not None:
        # The best ``top`` matches ranked inside the index, then only their rows read from the table
        # (the FTS5 table holds exactly the table's rows with text: its triggers keep it so).
        _from, fts, match = _match_sql(element.match, compiler, kw)
        top = _ranked_name(_fts_table(element.match)[2])
        limit = compiler.process(element.top, **kw)
        ranked = (f"(SELECT {fts}.rowid AS rowid, -bm25({fts}) AS score FROM {fts} WHERE {match} "
                  f"ORDER BY score DESC LIMIT {limit})")
        return f"{left} JOIN {ranked} AS {top} ON {top}.rowid = {rowid}"
    fts = quote_identifier(_fts_table(element.match)[2])
    return f"{left} JOIN {fts} ON {fts}.rowid = {rowid}"


__all__ = ["FTS5_BACKEND", "ReflectedFulltextIndex", "compile_create_index", "compile_drop_index",
           "compile_fts_match_word", "compile_fulltext_join", "create_statement", "drop_statements", "fts5_expression",
           "fts_table_name", "reflect_fts5_indexes", "restore_statements", "sync_statements", "tokenizer"]
