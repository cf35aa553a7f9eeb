"""The table says how it is filled: client-mode DDL marks each auto-embedding column it creates.

A table created by ``use_client_embedding`` has plain ``VECTOR(N)`` columns that only a client-mode
engine fills. An engine *without* client mode writing texts into it would leave NULL (INSERT) or
stale (UPDATE) vectors, silently. So client-mode DDL marks the column, where the database keeps it:

- MySQL / TiDB: the column's ``COMMENT 'tidb-embed-orm: client-filled from <source> by <model>'``
  (a column that declares its own ``comment=`` keeps it, and carries no mark);
- SQLite (the embedded engine): SQLite has no column comments but keeps the CREATE TABLE text
  verbatim in ``sqlite_master``, so the mark is a SQL comment inside the column definition:
  ``embedding VECTOR(384) /* tidb-embed-orm: client-filled from content by <model> */``. It travels
  with the table through renames and the rebuilds (which copy or re-render column definitions).

An engine without client mode that INSERTs or UPDATEs a source text of such a table through
SQLAlchemy (ORM or Core) is refused with :class:`ClientFilledTableError`. The mark is read once per
(engine, table) and cached (forgotten when this process creates or drops the table through
SQLAlchemy; another process recreating it is seen by engines created afterwards): the steady state
costs a dictionary lookup per statement, and statements on tables without auto-embedding columns
cost one more (``tables_named``). The check is one
``before_execute`` listener on the ``Engine`` class (installed when ``tidb_embed_orm`` is imported);
it never changes a statement, and does nothing for tables without the library's column type.
Raw SQL (``text()``, ``exec_driver_sql``) naming a declared client-filled table is read by the
raw-write guard (``guard.py``) in a ``before_cursor_execute`` listener: a text written without its
vector is refused the same way. (A table only reflected, never declared in Python, is not known
to be client-filled.)
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.dialects.mysql.base import MySQLDialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import TextClause

from ..embedding_mode import mode_of
from ..exc import ClientFilledTableError, RawWriteWithoutVectorError
from ..sql.auto_embedding import auto_embedding_columns, declared_table_names, tables_named
from ..sql.scanner import is_name, significant, tokenize, unquote_name
from .guard import backslash_escapes, check_raw_write

#: The words every mark starts with.
MARK = "tidb-embed-orm: client-filled"


def client_filled_marker(column: Any, dialect: Dialect) -> str:
    """The DDL that follows an auto-embedding column's ``VECTOR(N)`` in client mode: the mark."""
    note = f"{MARK} from {column.type.source} by {column.type.model}"
    if isinstance(dialect, MySQLDialect):
        if column.comment is not None:
            return ""  # the mysql DDL compiler renders the column's own COMMENT
        return "COMMENT '" + note.replace("\\", "\\\\").replace("'", "''") + "'"
    return "/* " + note.replace("*/", "* /") + " */"


#: engine -> {(schema, table name): whether its vectors are filled on the client}
_VERDICTS: weakref.WeakKeyDictionary[Engine, dict[tuple[str | None, str], bool]] = weakref.WeakKeyDictionary()


def is_client_filled(conn: Connection, table: Any) -> bool:
    """Whether ``table``'s DDL carries the client-filled mark (read once per engine and table)."""
    verdicts = _VERDICTS.setdefault(conn.engine, {})
    key = (table.schema, table.name)
    verdict = verdicts.get(key)
    if verdict is None:
        # No such table (or schema) in this database: not client-filled. A table this process creates or
        # drops through SQLAlchemy is read again (_forget).
        verdict = bool(_read_mark(conn, table.schema, table.name))
        verdicts[key] = verdict
    return verdict


def _forget(table: Any, connection: Any, **kw: Any) -> None:
    """After CREATE/DROP of a table with an auto-embedding column: every engine reads its mark again."""
    if auto_embedding_columns(table):
        for verdicts in list(_VERDICTS.values()):
            verdicts.pop((table.schema, table.name), None)


def _read_mark(conn: Connection, schema: str | None, name: str) -> bool | None:
    """True/False from the table's DDL; None when the table does not exist."""
    if isinstance(conn.dialect, MySQLDialect):
        found = conn.execute(
            text(
                "SELECT MAX(COLUMN_COMMENT LIKE :mark) FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name"
            ),
            {"mark": MARK + "%", "schema": schema, "name": name},
        ).scalar()
        return None if found is None else bool(found)
    if conn.dialect.name == "sqlite":
        quote = conn.dialect.identifier_preparer.quote
        master = "sqlite_master" if schema is None else f"{quote(schema)}.sqlite_master"
        attached = {row[1] for row in conn.exec_driver_sql("PRAGMA database_list")}
        if (schema or "main") not in attached:
            return None  # a schema this database does not have (the table is another database's)
        sql = conn.execute(
            text(f"SELECT sql FROM {master} WHERE type = 'table' AND name = :name"), {"name": name}
        ).scalar()
        if sql is None:
            return None
        return any(token.kind == "comment" and MARK in token.text for token in tokenize(sql))
    return False


def _writes_source(statement: Any, sources: set[str], multiparams: Any, params: Any) -> bool:
    if isinstance(statement, Insert) and statement.select is not None:
        return any(str(getattr(n, "key", n)) in sources for n in statement._select_names or ())
    for batch in getattr(statement, "_multi_values", None) or ():  # insert().values([{...}, {...}])
        for row in batch:
            if not isinstance(row, dict) or any(str(getattr(k, "key", k)) in sources for k in row):
                return True  # positional rows write every column
    if getattr(statement, "_multi_values", None):
        return False
    if any(str(getattr(k, "key", k)) in sources for k in (statement._values or {})):
        return True
    rows = multiparams or ([params] if params else [])
    return any(isinstance(row, dict) and not sources.isdisjoint(row) for row in rows)


def refuse_unfilled_writes(
    conn: Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
) -> None:
    """``before_execute`` on every engine: no client-filled table gets a text without its vector."""
    if not isinstance(clauseelement, (Insert, Update)) or mode_of(conn.dialect).fills_columns:
        return
    table = clauseelement.table
    name = getattr(table, "name", None)
    if not isinstance(name, str) or not tables_named(name) or not is_client_filled(conn, table):
        return
    targets = auto_embedding_columns(table)
    if not _writes_source(clauseelement, {source.key for _, source in targets}, multiparams, params):
        return
    columns = ", ".join(f"{column.name} (from {source.name})" for column, source in targets)
    raise ClientFilledTableError(
        f"this table's vectors are filled on the client: {name}.{columns} was created by "
        f"use_client_embedding() and this engine does not embed (the row's vector would be NULL or stale): "
        f"call use_client_embedding(engine) on this engine too"
    )


def refuse_unfilled_raw_writes(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    """``before_cursor_execute`` on every engine: raw SQL writing a text into a client-filled table is refused."""
    if mode_of(conn.dialect).fills_columns or not isinstance(statement, str):
        return
    compiled = getattr(context, "compiled", None)
    if compiled is not None and not isinstance(getattr(compiled, "statement", None), TextClause):
        return  # a Core / ORM statement: refuse_unfilled_writes saw it
    lowered = statement.lower()
    if not any(name in lowered for name in declared_table_names()):
        return  # names no declared table with an auto-embedding column: nothing to read
    if "insert" not in lowered and "update" not in lowered and "replace" not in lowered:
        return
    named = {unquote_name(t) for t in significant(tokenize(statement)) if is_name(t)}
    filled = [table for name in sorted(named) for table in tables_named(name) if is_client_filled(conn, table)]
    if not filled:
        return
    try:
        check_raw_write(statement, backslash_escapes=backslash_escapes(conn.dialect))
    except RawWriteWithoutVectorError:
        raise ClientFilledTableError(
            f"this table's vectors are filled on the client: {', '.join(sorted({t.name for t in filled}))} was "
            f"created by use_client_embedding() and this engine does not embed, so this raw SQL would leave a NULL "
            f"or stale vector: call use_client_embedding(engine) on this engine too"
        ) from None


def install() -> None:
    if not event.contains(Engine, "before_execute", refuse_unfilled_writes):
        event.listen(Engine, "before_execute", refuse_unfilled_writes)
        event.listen(Engine, "before_cursor_execute", refuse_unfilled_raw_writes)
        event.listen(Table, "after_create", _forget)
        event.listen(Table, "after_drop", _forget)
