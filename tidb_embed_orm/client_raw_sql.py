"""Client mode: raw SQL (``text()``, ``exec_driver_sql``) that would write a text without its vector is refused.

Only the client can embed in client mode, and it sees the text of a raw statement only as SQL:
an INSERT or UPDATE that writes an auto-embedding column's source text, and not the vector
itself, would leave a stale or NULL vector. It is refused before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .auto_embedding import auto_embedding_columns, tables_named
from .errors import TidbEmbedError
from .sql_text import Token, is_name, significant, split_top_level, tokenize, unquote_name


class RawWriteWithoutVectorError(TidbEmbedError, ValueError):
    """Raw SQL writing a source text whose vector only the client can compute."""


_END_OF_SET = {"WHERE", "ORDER", "LIMIT", "FROM", "RETURNING"}


_WRITE = re.compile(r"^\s*(?:WITH\b.*?\b)?(?:INSERT|REPLACE|UPDATE)\b", re.IGNORECASE | re.DOTALL)


def check_raw_write(statement: str) -> None:
    """Raise if ``statement`` writes an auto-embedding column's source text but not its vector."""
    if not _WRITE.match(statement):
        return
    words = significant(tokenize(statement))
    if not words or not words[0].is_word("INSERT", "REPLACE", "UPDATE"):
        return
    if words[0].is_word("UPDATE"):
        table, index = _table_after(words, 1)
        written = _assigned_columns(words, index)
    else:
        into = next((i for i, t in enumerate(words) if t.is_word("INTO")), None)
        if into is None:
            return
        table, index = _table_after(words, into + 1)
        written = _column_list(words, index)
    for declared in tables_named(table or ""):
        for column, source in auto_embedding_columns(declared):
            if (written is None or source.key.lower() in written) and (
                written is None or column.key.lower() not in written
            ):
                raise RawWriteWithoutVectorError(
                    f"in client mode this raw SQL would write {table}.{source.key} without its vector "
                    f"({column.key}), which only the client can compute: write the row through SQLAlchemy "
                    f"(a Session, conn.execute(insert({table}), rows) or update({table}).values({source.key}=...)) "
                    f"so it is embedded, or write {column.key} yourself with the text's vector"
                )


def _table_after(words: list[Token], index: int) -> tuple[str | None, int]:
    while index < len(words) and words[index].is_word(
        "OR", "ROLLBACK", "ABORT", "REPLACE", "FAIL", "IGNORE", "LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "ONLY"
    ):
        index += 1
    if index >= len(words) or not is_name(words[index]):
        return None, index
    table = unquote_name(words[index])
    index += 1
    if index + 1 < len(words) and words[index].is_punct(".") and is_name(words[index + 1]):
        table = unquote_name(words[index + 1])
        index += 2
    return table, index


def _column_list(words: list[Token], index: int) -> set[str] | None:
    """The INSERT's column names (None: no column list, every column is written)."""
    if index >= len(words) or not words[index].is_punct("("):
        return None
    if index + 1 < len(words) and words[index + 1].is_word("SELECT", "WITH"):
        return None
    names: set[str] = set()
    for token in words[index + 1 :]:
        if token.is_punct(")"):
            return names
        if is_name(token):
            names.add(unquote_name(token).lower())
    return names


def _assigned_columns(words: list[Token], index: int) -> set[str]:
    start = next((i for i in range(index, len(words)) if words[i].is_word("SET")), len(words)) + 1
    end = next(
        (i for i in range(start, len(words)) if words[i].upper in _END_OF_SET and words[i].kind == "word"), len(words)
    )
    names = set()
    for assignment in split_top_level(words[start:end]):
        equals = next((i for i, t in enumerate(assignment) if t.is_punct("=")), None)
        if equals:
            names.add(unquote_name(assignment[equals - 1]).lower())
    return names


#: ``conn.info`` key set while the library itself copies rows whose vectors it fills right after (rebuilds).
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


def refuse_raw_writes(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
    """``before_cursor_execute``: check statements that did not come from SQLAlchemy constructs."""
    from sqlalchemy.sql.elements import TextClause

    if conn.info.get(FILLED_BY_CLIENT):
        return
    compiled = getattr(context, "compiled", None)
    if compiled is None or isinstance(getattr(compiled, "statement", None), TextClause):
        check_raw_write(statement)
