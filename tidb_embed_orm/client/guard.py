"""Client mode: raw SQL (``text()``, ``exec_driver_sql``) that would write a text without its vector is refused.

Only the client can embed in client mode, and it sees the text of a raw statement only as SQL:
an INSERT or UPDATE that writes an auto-embedding column's source text, and not the vector
itself, would leave a stale or NULL vector. It is refused before anything is written.

The decision is made on the tokenizer's significant tokens (``sql_text``), never on a pattern
over the raw text: comments, strings and letter case cannot hide a write; a leading
``WITH [RECURSIVE] ...`` is skipped (parentheses matched) to find the main statement's keyword;
SQLite's row values (``SET (content, x) = (...)``), MySQL's ``INSERT ... SET`` and the upsert
clauses (``ON CONFLICT ... DO UPDATE SET``, ``ON DUPLICATE KEY UPDATE``) are read like any
other assignment.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..exc import RawWriteWithoutVectorError
from ..sql.auto_embedding import auto_embedding_columns, tables_named
from ..sql.scanner import Token, is_name, matching_paren, significant, split_top_level, tokenize, unquote_name

_MODIFIERS = ("OR", "ROLLBACK", "ABORT", "REPLACE", "FAIL", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY")
_MAIN = ("INSERT", "REPLACE", "UPDATE", "SELECT", "DELETE", "VALUES")
_END_OF_SET = ("WHERE", "ORDER", "LIMIT", "FROM", "RETURNING")
_END_OF_UPSERT_SET = ("WHERE", "RETURNING", "ON")


def check_raw_write(statement: str, *, backslash_escapes: bool = False) -> None:
    """Raise if ``statement`` writes an auto-embedding column's source text but not its vector.

    ``backslash_escapes``: the statement goes to MySQL / TiDB, where ``'x\\''`` is one string.
    """
    upper = statement.upper()
    if "INSERT" not in upper and "UPDATE" not in upper and "REPLACE" not in upper:
        return  # no statement here can write (a superset test: it never lets a write through)
    for words in split_top_level(significant(tokenize(statement, backslash_escapes=backslash_escapes)), ";"):
        if words and words[0].is_word("CREATE"):
            return  # DDL (a trigger's body is not a write now)
        try:
            start = _main_keyword(words)
            if start is None:
                continue
            if words[start].is_word("UPDATE"):
                _check_update(words[start:])
            elif words[start].is_word("INSERT", "REPLACE"):
                _check_insert(words[start:])
        except ValueError as exc:
            if isinstance(exc, RawWriteWithoutVectorError):
                raise
            continue  # unbalanced parentheses: the database refuses the statement itself


def _main_keyword(words: list[Token]) -> int | None:
    """Index of the statement's keyword, after a leading ``WITH [RECURSIVE] name AS (...), ...`` clause."""
    if not words:
        return None
    if not words[0].is_word("WITH"):
        return 0
    index = 1
    while index < len(words):
        if words[index].is_punct("("):
            index = matching_paren(words, index) + 1
        elif words[index].is_word(*_MAIN):
            return index
        else:
            index += 1
    return None


def _check_insert(words: list[Token]) -> None:
    index = _skip_modifiers(words, 1)
    if index < len(words) and words[index].is_word("INTO"):
        index += 1
    table, index = _table_after(words, index)
    if table is None:
        return
    if index < len(words) and words[index].is_word("PARTITION") and index + 1 < len(words):
        index = matching_paren(words, index + 1) + 1  # MySQL: INSERT INTO t PARTITION (p0) ...
    if index + 1 < len(words) and words[index].is_word("AS") and is_name(words[index + 1]):
        index += 2  # SQLite: INSERT INTO t AS alias ...
    written: set[str] | None
    if index < len(words) and words[index].is_punct("("):
        written = _column_list(words, index)
    elif index < len(words) and words[index].is_word("SET"):
        written = _assignments(words, index + 1, ("ON", "RETURNING"))  # MySQL: INSERT INTO t SET a = 1
    elif index < len(words) and words[index].is_word("DEFAULT"):
        written = set()  # DEFAULT VALUES
    else:
        written = None  # every column, in table order
    upserts = list(_upsert_assignments(words, index))
    for declared in tables_named(table):
        for column, source in auto_embedding_columns(declared):
            text, vector = source.name.lower(), column.name.lower()
            if written is None or (text in written and vector not in written):
                raise RawWriteWithoutVectorError(_message(table, source.name, column.name))
            for clause, assigned in upserts:
                if text in assigned and vector not in assigned:
                    raise RawWriteWithoutVectorError(_upsert_message(table, source.name, column.name, clause))


def _check_update(words: list[Token]) -> None:
    index = _skip_modifiers(words, 1)
    table, _ = _table_after(words, index)
    set_at = _top_level(words, index, ("SET",))
    if set_at is None:
        return
    assigned = _assignments(words, set_at + 1, _END_OF_SET)
    # every table named before SET (MySQL's multi-table UPDATE t1 JOIN t2 ON ... / UPDATE t1, t2 SET ...);
    # MySQL also takes the table references in parentheses (UPDATE (docs) SET ...): then every name in them
    if table is None:
        named = {unquote_name(t) for t in words[index:set_at] if is_name(t)}
    else:
        named = {table} | {unquote_name(t) for t in _top_level_tokens(words, index, set_at) if is_name(t)}
    for name in sorted(named):
        for declared in tables_named(name):
            for column, source in auto_embedding_columns(declared):
                if source.name.lower() in assigned and column.name.lower() not in assigned:
                    raise RawWriteWithoutVectorError(_message(name, source.name, column.name))


def _message(table: str, source: str, column: str) -> str:
    return (
        f"in client mode this raw SQL would write {table}.{source} without its vector "
        f"({column}), which only the client can compute: write the row through SQLAlchemy "
        f"(a Session, conn.execute(insert({table}), rows) or update({table}).values({source}=...)) "
        f"so it is embedded, or write {column} yourself with the text's vector"
    )


def _upsert_message(table: str, source: str, column: str, clause: str) -> str:
    inserted = "excluded." if clause == "ON CONFLICT DO UPDATE" else "VALUES("
    close = "" if clause == "ON CONFLICT DO UPDATE" else ")"
    return (
        f"in client mode this raw upsert's {clause} sets {table}.{source} but not its vector ({column}): "
        f"the row would keep the old text's vector. Write the upsert through SQLAlchemy "
        f"(sqlite/mysql insert(...).on_conflict_do_update / on_duplicate_key_update, setting {source} from the "
        f"inserted row: it is embedded), or insert {column} with the text's vector and also set "
        f"{column} = {inserted}{column}{close}"
    )


def _skip_modifiers(words: list[Token], index: int) -> int:
    while index < len(words) and words[index].is_word(*_MODIFIERS):
        index += 1
    return index


def _table_after(words: list[Token], index: int) -> tuple[str | None, int]:
    if index >= len(words) or not is_name(words[index]):
        return None, index
    table = unquote_name(words[index])
    index += 1
    if index + 1 < len(words) and words[index].is_punct(".") and is_name(words[index + 1]):
        table = unquote_name(words[index + 1])
        index += 2
    return table, index


def _top_level_tokens(words: list[Token], start: int, end: int) -> Iterator[Token]:
    index = start
    while index < end:
        if words[index].is_punct("("):
            index = matching_paren(words, index) + 1
            continue
        yield words[index]
        index += 1


def _top_level(words: list[Token], start: int, keywords: tuple[str, ...]) -> int | None:
    """Index of the first of ``keywords`` at ``start`` or after, outside any parentheses."""
    index = start
    while index < len(words):
        if words[index].is_punct("("):
            index = matching_paren(words, index) + 1
        elif words[index].is_word(*keywords):
            return index
        else:
            index += 1
    return None


def _column_list(words: list[Token], index: int) -> set[str] | None:
    """The INSERT's column names (None: no column list, every column is written)."""
    if index + 1 < len(words) and words[index + 1].is_word("SELECT", "WITH", "VALUES"):
        return None
    return _names(words[index + 1 : matching_paren(words, index)])


def _names(tokens: list[Token]) -> set[str]:
    """The column names in ``a, t.b, "c"`` (a qualified name counts as its last part)."""
    names = set()
    for part in split_top_level(tokens):
        named = [t for t in part if is_name(t)]
        if named:
            names.add(unquote_name(named[-1]).lower())
    return names


def _assignments(words: list[Token], start: int, end_words: tuple[str, ...]) -> set[str]:
    """The columns assigned by ``a = 1, t.b = 2, (c, d) = (3, 4)`` from ``start`` to the first of ``end_words``."""
    end = _top_level(words, start, end_words)
    names: set[str] = set()
    for assignment in split_top_level(words[start : len(words) if end is None else end]):
        equals = _equals(assignment)
        if equals is None:
            continue
        target = assignment[:equals]
        if target and target[0].is_punct("("):  # SQLite row value: SET (a, b) = (...)
            names |= _names(target[1:-1])
        else:
            names |= _names(target)
    return names


def _equals(assignment: list[Token]) -> int | None:
    depth = 0
    for index, token in enumerate(assignment):
        if token.is_punct("("):
            depth += 1
        elif token.is_punct(")"):
            depth -= 1
        elif depth == 0 and token.is_punct("="):
            return index
    return None


def _upsert_assignments(words: list[Token], start: int) -> Iterator[tuple[str, set[str]]]:
    """Each upsert clause of an INSERT with the columns it assigns."""
    index = start
    while (on := _top_level(words, index, ("ON",))) is not None:
        index = on + 1
        if index < len(words) and words[index].is_word("CONFLICT"):
            do = _top_level(words, index, ("DO",))
            if do is not None and do + 2 < len(words) and words[do + 1].is_word("UPDATE") and words[do + 2].is_word(
                "SET"
            ):
                yield "ON CONFLICT DO UPDATE", _assignments(words, do + 3, _END_OF_UPSERT_SET)
        elif index + 2 < len(words) and words[index].is_word("DUPLICATE") and words[index + 2].is_word("UPDATE"):
            yield "ON DUPLICATE KEY UPDATE", _assignments(words, index + 3, ("RETURNING",))


#: ``conn.info`` key (or execution option) set while the library itself writes vectors it embedded
#: (rebuilds' copies and fills): raw copies pass the guard, and client-filled columns may be written.
FILLED_BY_CLIENT = "tidb_embed_vectors_filled_by_client"


@contextmanager
def vectors_filled_by_client(conn: Any) -> Iterator[None]:
    """Let raw copies through on ``conn``: the caller embeds and writes the vectors itself afterwards."""
    info = getattr(conn, "info", None)  # offline (--sql) binds execute nothing and have none
    if info is None:
        yield
        return
    info[FILLED_BY_CLIENT] = True
    try:
        yield
    finally:
        info.pop(FILLED_BY_CLIENT, None)


def backslash_escapes(dialect: Any) -> bool:
    """MySQL and TiDB read a backslash in a string as an escape (SQLite does not)."""
    return dialect.name == "mysql"


def refuse_raw_writes(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    """``before_cursor_execute``: check statements that did not come from SQLAlchemy constructs."""
    from sqlalchemy.sql.elements import TextClause

    if conn.info.get(FILLED_BY_CLIENT):
        return
    compiled = getattr(context, "compiled", None)
    if compiled is None or isinstance(getattr(compiled, "statement", None), TextClause):
        check_raw_write(statement, backslash_escapes=backslash_escapes(conn.dialect))
