"""Reflection: ``vector(N)`` columns come back as ``Vector(N)``, EMBED_TEXT columns as ``AutoEmbeddingVector``.

TiDB stores a generation expression as ``embed_text(_utf8mb4'huggingface/BAAI/bge-m3', `content`)``;
the embedded engine keeps the text of its CREATE TABLE. Both parse here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects.mysql import base as mysql_base

from .auto_embedding import AutoEmbeddingVector
from .sql_text import unquote_identifier
from .vector import Vector

# A string literal with an optional charset introducer, as TiDB restores it into a generation
# expression (RestoreStringSingleQuotes without RestoreStringEscapeBackslash: ' doubled, \ kept
# as is) and as SQLite keeps the CREATE TABLE text (' doubled, no escapes at all). A double-quoted
# model or options string is MySQL's other string syntax, as the TiDB page writes it.
_STRING = r"""(?:_\w+\s*)?(?:'(?:[^']|'')*'|"(?:[^"]|"")*")"""
_IDENT = r"""(?:`(?:[^`]|``)+`|"(?:[^"]|"")+"|\[[^\]]+\]|[A-Za-z_][\w$]*)"""
_EMBED_TEXT = re.compile(
    rf"""^\s*\(?\s*embed_text\s*\(\s*(?P<model>{_STRING})\s*,\s*(?P<source>{_IDENT})\s*
    (?:,\s*(?P<options>{_STRING})\s*)?\)\s*\)?\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class EmbedTextExpression:
    model: str
    source: str
    options: dict[str, Any] | None


def _unquote_string(literal: str) -> str:
    literal = re.sub(r"^_\w+\s*", "", literal)
    quote = literal[0]
    return literal[1:-1].replace(quote * 2, quote)


def parse_embed_text(expression: str) -> EmbedTextExpression | None:
    """Read an EMBED_TEXT generation expression as stored by TiDB or SQLite; None if it is not one."""
    match = _EMBED_TEXT.match(expression or "")
    if match is None:
        return None
    options = None
    if match["options"]:
        try:
            options = json.loads(_unquote_string(match["options"]))
        except ValueError:
            return None
        if not isinstance(options, dict):
            return None
    return EmbedTextExpression(_unquote_string(match["model"]), unquote_identifier(match["source"]), options)


def auto_embedding_type(expression: str, dim: int | None) -> AutoEmbeddingVector | None:
    parsed = parse_embed_text(expression)
    if parsed is None:
        return None
    column_type = AutoEmbeddingVector(parsed.model, source=parsed.source, dim=dim, options=parsed.options)
    column_type.from_database = True
    return column_type


def with_auto_embedding(
    columns: list[dict[str, Any]], expressions: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """``get_columns()`` output with EMBED_TEXT columns typed ``AutoEmbeddingVector`` (new dicts, no ``computed``).

    ``expressions`` (column name -> generation expression) overrides what the dialect parsed, where
    the database's own text is more reliable than SQLAlchemy's line-based parsing.
    """
    result = []
    for info in columns:
        column_type, computed = info.get("type"), info.get("computed")
        if isinstance(column_type, Vector) and not isinstance(column_type, AutoEmbeddingVector) and computed:
            expression = (expressions or {}).get(info["name"]) or str(computed.get("sqltext", ""))
            reflected = auto_embedding_type(expression, column_type.dim)
            if reflected is not None:
                info = {k: v for k, v in info.items() if k != "computed"}
                info["type"] = reflected
        result.append(info)
    return result


def sqlite_generation_expressions(create_table: str) -> dict[str, str]:
    """Column name -> ``GENERATED ALWAYS AS (...)`` expression, read from SQLite's CREATE TABLE text.

    A real scan (quotes, nesting), where SQLAlchemy's regular expression loses expressions whose
    string constants hold commas, parentheses or line breaks.
    """
    open_at = _find_top_level(create_table, "(", 0)
    if open_at < 0:
        return {}
    found = {}
    for definition in _split_top_level(create_table[open_at + 1 : _closing(create_table, open_at)]):
        name_match = re.match(rf"\s*({_IDENT})", definition)
        generated = re.search(r"\bAS\s*\(", _mask_quoted(definition), re.IGNORECASE)
        if name_match is None or generated is None:
            continue
        start = generated.end() - 1
        found[unquote_identifier(name_match[1])] = definition[start + 1 : _closing(definition, start)]
    return found


def sqlite_columns(dialect: Any, connection: Any, table_name: str, schema: str | None,
                   columns: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    """The SQLite dialect's ``get_columns()`` result with auto-embedding columns typed (for the embedded engine)."""
    if not any(isinstance(c.get("type"), Vector) and c.get("computed") for c in columns):
        return columns
    create_table = dialect._get_table_sql(connection, table_name, schema=schema, **kw) or ""
    return with_auto_embedding(columns, sqlite_generation_expressions(create_table))


def _quoted_spans(text: str) -> list[tuple[int, int]]:
    spans, i = [], 0
    closers = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while i < len(text):
        char = text[i]
        if char in closers:
            end = text.find(closers[char], i + 1)
            while end >= 0 and char != "[" and text[end + 1 : end + 2] == char:  # '' "" `` doubled
                end = text.find(closers[char], end + 2)
            end = len(text) - 1 if end < 0 else end
            spans.append((i, end))
            i = end + 1
        else:
            i += 1
    return spans


def _mask_quoted(text: str) -> str:
    """``text`` with every quoted run blanked, so that only SQL structure is left to scan."""
    chars = list(text)
    for start, end in _quoted_spans(text):
        chars[start : end + 1] = " " * (end + 1 - start)
    return "".join(chars)


def _find_top_level(text: str, char: str, start: int) -> int:
    return _mask_quoted(text).find(char, start)


def _closing(text: str, open_at: int) -> int:
    depth = 0
    for i, char in enumerate(_mask_quoted(text)[open_at:], open_at):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return i
    return len(text)


def _split_top_level(text: str) -> list[str]:
    parts, depth, last = [], 0, 0
    for i, char in enumerate(_mask_quoted(text)):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[last:i])
            last = i + 1
    parts.append(text[last:])
    return parts


@event.listens_for(Table, "column_reflect")
def _reflect_auto_embedding(inspector: Any, table: Table, column_info: dict[str, Any]) -> None:
    # TiDB through SQLAlchemy's own mysql dialect (the embedded engine's get_columns() types them itself).
    converted = with_auto_embedding([column_info])[0]
    if converted is not column_info:
        column_info.pop("computed", None)
        column_info["type"] = converted["type"]


# TiDB reports VECTOR(N) as "vector(N)" in SHOW CREATE TABLE / information_schema. Registering a
# type name in a dialect's ``ischema_names`` is how SQLAlchemy lets a type package teach reflection a
# type it does not know (pgvector-python and GeoAlchemy2 do the same); it changes no SQL and only the
# reflection of columns whose type is VECTOR. MySQLDialect itself is not patched: Table reflection
# (autoload_with, Alembic autogenerate) types EMBED_TEXT columns through the column_reflect event
# above, and Inspector.get_columns() results are typed by with_auto_embedding().
mysql_base.ischema_names.setdefault("vector", Vector)


@dataclass(frozen=True)
class ReflectedVectorIndex:
    name: str
    column: str
    metric: str


_VECTOR_INDEX_SQL = re.compile(
    rf"""(?:VECTOR\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_IDENT})\s*(?:ON\s+{_IDENT}\s*)?
    \(\s*\(?\s*VEC_(?P<metric>COSINE|L2)_DISTANCE\s*\(\s*(?P<column>{_IDENT})\s*\)\s*\)?\s*\)""",
    re.IGNORECASE | re.VERBOSE,
)


def parse_vector_indexes(ddl: str) -> list[ReflectedVectorIndex]:
    """Vector indexes in DDL text: TiDB's SHOW CREATE TABLE or SQLite's CREATE INDEX."""
    return [
        ReflectedVectorIndex(unquote_identifier(m["name"]), unquote_identifier(m["column"]), m["metric"].lower())
        for m in _VECTOR_INDEX_SQL.finditer(ddl)
    ]


def reflect_vector_indexes(connection: Any, table: str, schema: str | None = None) -> list[ReflectedVectorIndex]:
    """The vector indexes of ``table`` as the database has them (SQLAlchemy skips expression indexes)."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
        ).scalars()
        return [found for sql in rows for found in parse_vector_indexes(sql)]
    if connection.dialect.name == "mysql":
        quote = connection.dialect.identifier_preparer.quote
        quoted = ".".join(quote(part) for part in ([schema] if schema else []) + [table])
        ddl = connection.exec_driver_sql(f"SHOW CREATE TABLE {quoted}").one()[1]
        return parse_vector_indexes(ddl)
    return []


# SQLite reports VECTOR(N) columns by their declared type.
from sqlalchemy.dialects.sqlite import base as _sqlite_base  # noqa: E402

_sqlite_base.ischema_names.setdefault("VECTOR", Vector)
