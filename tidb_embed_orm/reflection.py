"""Reflection: ``vector(N)`` columns come back as ``Vector(N)``, EMBED_TEXT columns as ``AutoEmbeddingVector``.

TiDB stores a generation expression as ``embed_text(_utf8mb4'huggingface/BAAI/bge-m3', `content`)``;
the embedded engine keeps the text of its CREATE TABLE. Both parse here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects.mysql import base as mysql_base

from .auto_embedding import AutoEmbeddingVector
from .vector import Vector

# A string literal with an optional charset introducer: _utf8mb4'...' or "..." (\' and '' escapes).
_STRING = r"""(?:_\w+\s*)?(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
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
    quote, body = literal[0], literal[1:-1]
    body = body.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m[1], m[1]), body)


def _unquote_ident(ident: str) -> str:
    if ident[0] == "`":
        return ident[1:-1].replace("``", "`")
    if ident[0] == '"':
        return ident[1:-1].replace('""', '"')
    if ident[0] == "[":
        return ident[1:-1]
    return ident


def parse_embed_text(expression: str) -> EmbedTextExpression | None:
    """Read an EMBED_TEXT generation expression as stored by TiDB or SQLite; None if it is not one."""
    match = _EMBED_TEXT.match(expression or "")
    if match is None:
        return None
    options = None
    if match["options"]:
        options = json.loads(_unquote_string(match["options"]))
    return EmbedTextExpression(_unquote_string(match["model"]), _unquote_ident(match["source"]), options)


def auto_embedding_type(expression: str, dim: int | None) -> AutoEmbeddingVector | None:
    parsed = parse_embed_text(expression)
    if parsed is None:
        return None
    return AutoEmbeddingVector(parsed.model, source=parsed.source, dim=dim, options=parsed.options)


@event.listens_for(Table, "column_reflect")
def _reflect_auto_embedding(inspector: Any, table: Table, column_info: dict[str, Any]) -> None:
    column_type = column_info.get("type")
    computed = column_info.get("computed")
    if not isinstance(column_type, Vector) or not computed:
        return
    reflected = auto_embedding_type(str(computed.get("sqltext", "")), column_type.dim)
    if reflected is not None:
        column_info["type"] = reflected
        column_info.pop("computed", None)


# TiDB reports VECTOR(N) as "vector(N)" in SHOW CREATE TABLE / information_schema.
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
        ReflectedVectorIndex(_unquote_ident(m["name"]), _unquote_ident(m["column"]), m["metric"].lower())
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
