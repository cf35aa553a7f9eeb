"""The write checks of hand-written SQL: triggers keeping every VECTOR column's values TiDB's vectors.

A ``VECTOR[(n)]`` column gets two triggers (after INSERT, after UPDATE OF it) that parse and check what
SQL writes there (``'[1,2,3]'``) and keep it as a float32 blob, with TiDB's errors otherwise. They are
not derived from the statement that made the table: after any DDL the cursor reconciles them with the
schema (``reconcile_vector_triggers``), whatever made it so.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from ....exc import TidbEmbedError
from ....sql.scanner import quote_identifier
from .columns import vector_columns
from .values import STORE_FUNCTION

#: The name of every write-check trigger starts so (the rest is a random tag, the column and the event).
TRIGGER_PREFIX = "tidb_embed_vector_"


#: A table's options after its column list: ``) WITHOUT ROWID`` (maybe beside STRICT).
_WITHOUT_ROWID = re.compile(r"\)[^)]*\bWITHOUT\s+ROWID\b[^)]*$", re.IGNORECASE)


def vector_triggers(table: str, columns: list[tuple[str, int | None]], tag: str,
                    keys: list[str] | None = None) -> list[str]:
    """Triggers that turn a vector text written by SQL into a checked float32 blob (TiDB's errors otherwise)."""
    return [sql for column in columns for sql in _column_triggers(table, column, tag, keys).values()]


def _column_triggers(table: str, column_dim: tuple[str, int | None], tag: str,
                     keys: list[str] | None = None) -> dict[str, str]:
    """Event ("insert" / "update") -> the CREATE TRIGGER keeping one column's writes checked.

    The written row is found by its rowid, or (a WITHOUT ROWID table, which has none) by ``keys``,
    its primary key columns.
    """
    column, dim = column_dim
    quoted_table, quoted = quote_identifier(table), quote_identifier(column)
    size = "NULL" if dim is None else str(dim)
    bad_blob = f"length(NEW.{quoted}) % 4 != 0" if dim is None else f"length(NEW.{quoted}) != {4 * dim}"
    when = f"NEW.{quoted} IS NOT NULL AND (typeof(NEW.{quoted}) != 'blob' OR {bad_blob})"
    row = "rowid = NEW.rowid" if not keys else " AND ".join(
        f"{quote_identifier(key)} IS NEW.{quote_identifier(key)}" for key in keys)
    body = f"UPDATE {quoted_table} SET {quoted} = {STORE_FUNCTION}(NEW.{quoted}, {size}) WHERE {row};"
    statements = {}
    for event in ("INSERT", f"UPDATE OF {quoted}"):
        short = event.split()[0].lower()
        name = quote_identifier(f"{TRIGGER_PREFIX}{tag}_{column}_{short}")
        statements[short] = f"CREATE TRIGGER {name} AFTER {event} ON {quoted_table} WHEN {when} BEGIN {body} END"
    return statements


def _after_name(trigger_sql: str) -> str:
    """A trigger's definition without its name: what two triggers doing the same thing share."""
    at = trigger_sql.find(" AFTER ")
    return trigger_sql[at:] if at >= 0 else trigger_sql


def reconcile_vector_triggers(cursor: Any) -> bool:
    """Make the write-check triggers of every table match its VECTOR columns, as the schema has them now.

    Run after every DDL statement (and script), whatever made the schema so (CREATE TABLE by hand,
    ``create_all``, an Alembic rebuild's create / copy / drop / rename): a trigger whose definition
    no longer fits its table (a body naming a renamed-away table, another VECTOR(N), a column that is
    gone, a duplicate) is dropped, a missing one created, as ``vector_index.schema.reconcile`` does
    for the change logs. Costs a few PRAGMAs when the schema did not change since the last call on
    this connection. ``cursor`` is a plain DBAPI cursor (its statements pass no hook). True if
    anything changed.
    """
    state = cursor.connection
    versions = schema_versions(cursor)
    if getattr(state, "tidb_embed_triggers_at", None) == versions:
        return False
    changed = False
    for schema, _version in versions:
        qschema = quote_identifier(schema)
        master = "sqlite_temp_master" if schema == "temp" else f"{qschema}.sqlite_master"
        # definition -> (table, event, column, the primary key of a WITHOUT ROWID table)
        wanted: dict[str, tuple[str, str, tuple[str, int | None], list[str] | None]] = {}
        for table, sql in cursor.execute(
            f"SELECT name, sql FROM {master} WHERE type = 'table' AND sql LIKE '%VECTOR%'"
        ).fetchall():
            try:
                _, columns = vector_columns(sql)
            except (TidbEmbedError, ValueError):
                continue
            keys = _primary_key(cursor, qschema, table) if _WITHOUT_ROWID.search(sql) else None
            for column in columns:
                for event, trigger in _column_triggers(table, column, "", keys).items():
                    wanted[_after_name(trigger)] = (table, event, column, keys)
        kept: set[str] = set()
        for name, sql in cursor.execute(
            f"SELECT name, sql FROM {master} WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
            (len(TRIGGER_PREFIX), TRIGGER_PREFIX),
        ).fetchall():
            definition = _after_name(str(sql))
            if definition in wanted and definition not in kept:
                kept.add(definition)
                continue
            cursor.execute(f"DROP TRIGGER IF EXISTS {qschema}.{quote_identifier(name)}")
            changed = True
        tags: dict[str, str] = {}  # one tag per table (as one CREATE TABLE used to get)
        for definition, (table, event, column, keys) in wanted.items():
            if definition in kept:
                continue
            trigger = _column_triggers(table, column, tags.setdefault(table, uuid.uuid4().hex[:8]), keys)[event]
            where = "CREATE TEMP TRIGGER " if schema == "temp" else f"CREATE TRIGGER {qschema}."
            cursor.execute(trigger.replace("CREATE TRIGGER ", where, 1))
            changed = True
    if changed:
        versions = schema_versions(cursor)
    state.tidb_embed_triggers_at = versions
    return changed


def _primary_key(cursor: Any, qschema: str, table: str) -> list[str]:
    rows = cursor.execute(f"PRAGMA {qschema}.table_info({quote_identifier(table)})").fetchall()
    return [row[1] for row in sorted(rows, key=lambda row: row[5]) if row[5] > 0]


def drop_table_triggers(cursor: Any, schema: str | None, table: str) -> None:
    """Drop ``table``'s write-check triggers (before an ALTER TABLE: SQLite checks every trigger of a table
    before it drops a column, and the reconcile after the statement makes the right ones again)."""
    qschema = quote_identifier(schema or "main")
    master = "sqlite_temp_master" if schema == "temp" else f"{qschema}.sqlite_master"
    names = cursor.execute(
        f"SELECT name FROM {master} WHERE type = 'trigger' AND tbl_name = ? AND substr(name, 1, ?) = ?",
        (table, len(TRIGGER_PREFIX), TRIGGER_PREFIX),
    ).fetchall()
    for (name,) in names:
        cursor.execute(f"DROP TRIGGER IF EXISTS {qschema}.{quote_identifier(name)}")


def schema_versions(cursor: Any) -> tuple[tuple[str, int], ...]:
    """(schema, PRAGMA schema_version) of every database on the connection: changes with any DDL."""
    names = [row[1] for row in cursor.execute("PRAGMA database_list").fetchall()]
    return tuple(
        (name, cursor.execute(f"PRAGMA {quote_identifier(name)}.schema_version").fetchone()[0]) for name in names
    )
