"""What an embedded vector index keeps inside the database, in the same transactions as the rows.

Each schema (``main`` or an ATTACHed database) that holds vector indexes has two tables:

- ``_tidb_embed_vector_index``: one row per SQLite vector index (``CREATE INDEX ix ON t
  (VEC_COSINE_DISTANCE(v))``) with its table, column, metric and a ``token`` naming this
  incarnation of it (files on disk carry the token), and how far its change log was compacted;
- ``_tidb_embed_vector_log``: the change log. Triggers on the table append the rowid of every
  inserted, deleted or re-vectored row, inside the writer's transaction: a rollback leaves no
  trace, a commit is seen by every other connection and process, a crash loses nothing;
- ``_tidb_embed_vector_graph``: which saved graph file holds each index's rows (the random id of
  the save, recorded in the transaction that compacts the log to the graph's position). A graph
  file is used only when the database names it: a restored backup, a copy of the database or a
  file from elsewhere never pairs a graph with a state it was not saved from.

The HNSW graph (``store.py``) holds the committed table as of one log position; a search adds
what the log says changed after it. Installation follows the DDL: ``reconcile`` runs after every
CREATE / DROP / ALTER statement and installs or removes what the indexes in ``sqlite_master`` need.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ....exc import VectorIndexUnsupported
from ....sql.reflection import parse_vector_indexes
from ....sql.scanner import string_literal
from ....sql.statement import Statement

log = logging.getLogger("tidb_embed_orm.vector_index")

META_TABLE = "_tidb_embed_vector_index"
LOG_TABLE = "_tidb_embed_vector_log"
GRAPH_TABLE = "_tidb_embed_vector_graph"
TRIGGER_PREFIX = "_tidb_embed_vlog_"
INTERNAL_TABLES = frozenset({META_TABLE, LOG_TABLE, GRAPH_TABLE})

Quote = Callable[[str], str]


@dataclass(frozen=True)
class IndexEntry:
    """One installed vector index, as its schema's ``_tidb_embed_vector_index`` row has it."""

    schema: str
    name: str
    table: str
    column: str
    metric: str
    token: str
    compacted_through: int


def schemas(cursor: Any) -> list[tuple[str, str]]:
    """``(schema, file)`` of every database on the connection (file is ``''`` in memory)."""
    return [(row[1], row[2] or "") for row in cursor.execute("PRAGMA database_list").fetchall() if row[1] != "temp"]


def _triggers(quote: Quote, name: str, table: str, column: str, token: str) -> list[str]:
    log = f"INSERT INTO {quote(LOG_TABLE)} (token, row)"
    t, c, tk = quote(table), quote(column), string_literal(token)
    prefix = TRIGGER_PREFIX + name
    return [
        f"CREATE TRIGGER {quote(prefix + '_i')} AFTER INSERT ON {t} BEGIN {log} VALUES ({tk}, NEW.rowid); END",
        f"CREATE TRIGGER {quote(prefix + '_u')} AFTER UPDATE ON {t} "
        f"WHEN OLD.rowid IS NOT NEW.rowid OR OLD.{c} IS NOT NEW.{c} BEGIN "
        f"{log} SELECT {tk}, OLD.rowid WHERE OLD.rowid IS NOT NEW.rowid; "
        f"{log} VALUES ({tk}, NEW.rowid); END",
        f"CREATE TRIGGER {quote(prefix + '_d')} AFTER DELETE ON {t} BEGIN {log} VALUES ({tk}, OLD.rowid); END",
    ]


def _has_table(cursor: Any, qschema: str, name: str) -> bool:
    return cursor.execute(f"SELECT 1 FROM {qschema}.sqlite_master WHERE type = 'table' AND name = ?",
                          (name,)).fetchone() is not None


def _entries(cursor: Any, quote: Quote, schema: str, where: str = "", params: tuple[Any, ...] = ()) -> list[IndexEntry]:
    if not _has_table(cursor, quote(schema), META_TABLE):
        return []  # no vector index was ever installed in this schema
    rows = cursor.execute(
        f"SELECT name, table_name, column_name, metric, token, compacted_through "
        f"FROM {quote(schema)}.{quote(META_TABLE)} {where}", params,
    ).fetchall()
    return [IndexEntry(schema, *row) for row in rows]


def installed(cursor: Any, quote: Quote, schema: str) -> dict[str, IndexEntry]:
    """The installed vector indexes of ``schema`` by index name (``{}`` before the first one)."""
    return {entry.name: entry for entry in _entries(cursor, quote, schema)}


def find_index(cursor: Any, quote: Quote, schema: str, table: str, column: str, metric: str) -> IndexEntry | None:
    """The installed index on ``table.column`` for ``metric`` (this runs before every search)."""
    where = "WHERE table_name = ? AND column_name = ? AND metric = ?"
    return next(iter(_entries(cursor, quote, schema, where, (table, column, metric))), None)


def _declared(cursor: Any, qschema: str) -> dict[str, tuple[str, str, str]]:
    rows = cursor.execute(
        f"SELECT tbl_name, sql FROM {qschema}.sqlite_master WHERE type = 'index' AND sql LIKE '%VEC\\_%' ESCAPE '\\'"
    ).fetchall()
    return {found.name: (table, found.column, found.metric) for table, sql in rows
            for found in parse_vector_indexes(sql)}


def _triggers_present(cursor: Any, qschema: str) -> set[str]:
    rows = cursor.execute(
        f"SELECT name FROM {qschema}.sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
        (len(TRIGGER_PREFIX), TRIGGER_PREFIX),
    ).fetchall()
    return {row[0] for row in rows}


def _drop_triggers(cursor: Any, quote: Quote, qschema: str, name: str) -> None:
    for suffix in ("_i", "_u", "_d"):
        cursor.execute(f"DROP TRIGGER IF EXISTS {qschema}.{quote(TRIGGER_PREFIX + name + suffix)}")


def check_supported(cursor: Any, quote: Quote, schema: str, name: str, table: str, column: str) -> None:
    """Refuse a vector index the embedded engine cannot keep (before the CREATE INDEX runs)."""
    qschema = quote(schema)
    row = cursor.execute(f"SELECT sql FROM {qschema}.sqlite_master WHERE type = 'table' AND name = ?",
                         (table,)).fetchone()
    if row and "WITHOUT ROWID" in " ".join(str(row[0]).upper().split()):
        raise VectorIndexUnsupported(
            f"vector index {name!r}: table {table!r} is WITHOUT ROWID; the embedded engine's vector index "
            "keys rows by rowid. Declare the table with a rowid (the default) to index it."
        )
    declared = {r[1]: str(r[2]).upper().replace(" ", "") for r in
                cursor.execute(f"PRAGMA {qschema}.table_xinfo({quote(table)})").fetchall()}
    if column in declared and not re.fullmatch(r"VECTOR\(\d+\)", declared[column]):
        raise VectorIndexUnsupported(
            f"vector index {name!r}: column {table}.{column} is {declared[column] or 'untyped'}; a vector index "
            "needs a fixed dimension, as on TiDB: declare it Vector(N) (VECTOR(N))"
        )


def check_create_index(cursor: Any, quote: Quote, statement: Statement) -> None:
    """If ``statement`` (read once by ``sql.scanner.read_statement``) creates a vector index, refuse it now
    when it cannot be kept."""
    if statement.keyword != "CREATE" or statement.ddl_object != "INDEX" or statement.table is None:
        return
    found = parse_vector_indexes(statement.sql)
    for index in found:
        for schema, _file in schemas(cursor):
            if statement.schema not in (None, schema):
                continue
            if _has_table(cursor, quote(schema), statement.table):
                check_supported(cursor, quote, schema, index.name, statement.table, index.column)
                break


def _install(cursor: Any, quote: Quote, schema: str, name: str, table: str, column: str, metric: str) -> None:
    qschema = quote(schema)
    check_supported(cursor, quote, schema, name, table, column)
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {qschema}.{quote(META_TABLE)} (name TEXT PRIMARY KEY, table_name TEXT NOT NULL, "
        "column_name TEXT NOT NULL, metric TEXT NOT NULL, token TEXT NOT NULL, "
        "compacted_through INTEGER NOT NULL DEFAULT 0)"
    )
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {qschema}.{quote(LOG_TABLE)} "
        "(seq INTEGER PRIMARY KEY AUTOINCREMENT, token TEXT NOT NULL, row INTEGER NOT NULL)"
    )
    cursor.execute(
        f"CREATE INDEX IF NOT EXISTS {qschema}.{quote(LOG_TABLE + '_token')} ON {quote(LOG_TABLE)} (token, seq)"
    )
    _create_graph_table(cursor, quote, schema)
    _uninstall(cursor, quote, schema, name)
    token = secrets.token_hex(8)
    for statement in _triggers(quote, name, table, column, token):
        cursor.execute(statement.replace("CREATE TRIGGER ", f"CREATE TRIGGER {qschema}.", 1))
    cursor.execute(
        f"INSERT INTO {qschema}.{quote(META_TABLE)} (name, table_name, column_name, metric, token) "
        "VALUES (?, ?, ?, ?, ?)",
        (name, table, column, metric, token),
    )


def _uninstall(cursor: Any, quote: Quote, schema: str, name: str) -> None:
    qschema = quote(schema)
    _drop_triggers(cursor, quote, qschema, name)
    if _has_table(cursor, qschema, META_TABLE):
        row = cursor.execute(f"SELECT token FROM {qschema}.{quote(META_TABLE)} WHERE name = ?", (name,)).fetchone()
        if row is not None:
            cursor.execute(f"DELETE FROM {qschema}.{quote(LOG_TABLE)} WHERE token = ?", (row[0],))
            if _has_table(cursor, qschema, GRAPH_TABLE):
                cursor.execute(f"DELETE FROM {qschema}.{quote(GRAPH_TABLE)} WHERE token = ?", (row[0],))
            cursor.execute(f"DELETE FROM {qschema}.{quote(META_TABLE)} WHERE name = ?", (name,))


def reconcile(cursor: Any, quote: Quote, forget: Callable[[str, set[str]], None] | None = None) -> bool:
    """Install what new vector indexes need and remove what dropped ones left; True if anything changed.

    ``forget(database_file, live_tokens)`` is told which indexes still exist in each database file
    after a change, so saved graphs of dropped ones can be deleted.
    """
    changed = False
    for schema, database_file in schemas(cursor):
        qschema = quote(schema)
        declared = _declared(cursor, qschema)
        have = installed(cursor, quote, schema)
        if not declared and not have:
            continue
        triggers = _triggers_present(cursor, qschema)
        for name, (table, column, metric) in declared.items():
            entry = have.get(name)
            complete = all(TRIGGER_PREFIX + name + s in triggers for s in ("_i", "_u", "_d"))
            if entry is None or (entry.table, entry.column, entry.metric) != (table, column, metric) or not complete:
                try:
                    _install(cursor, quote, schema, name, table, column, metric)
                except VectorIndexUnsupported as exc:  # made before this engine saw it: searches scan
                    log.warning("%s; searches on it scan the table", exc)
                    continue
                changed = True
        for name in have.keys() - declared.keys():
            _uninstall(cursor, quote, schema, name)
            changed = True
        if changed and forget is not None and database_file:
            forget(database_file, {entry.token for entry in installed(cursor, quote, schema).values()})
    return changed


def log_position(cursor: Any, quote: Quote, schema: str) -> int:
    """The last change-log position this connection can see (its own uncommitted writes included)."""
    row = cursor.execute(
        f"SELECT seq FROM {quote(schema)}.sqlite_sequence WHERE name = ?", (LOG_TABLE,)
    ).fetchone()
    return int(row[0]) if row else 0


def holds_vector(cursor: Any, quote: Quote, schema: str, table: str, column: str, rowid: int) -> bool:
    """Whether the row ``rowid`` of ``table`` has a vector in ``column`` (one B-tree lookup): a search ranks
    such a row exactly when no graph can hold it (``ann.OUTSIDE_ROWID``)."""
    sql = f"SELECT 1 FROM {quote(schema)}.{quote(table)} WHERE rowid = ? AND {quote(column)} IS NOT NULL"
    return cursor.execute(sql, (rowid,)).fetchone() is not None


def changed_rows(cursor: Any, quote: Quote, schema: str, token: str, after: int, upto: int | None = None) -> list[int]:
    """Rowids the log names after position ``after`` (and up to ``upto``), each once."""
    sql = f"SELECT DISTINCT row FROM {quote(schema)}.{quote(LOG_TABLE)} WHERE token = ? AND seq > ?"
    params: tuple[Any, ...] = (token, after)
    if upto is not None:
        sql += " AND seq <= ?"
        params += (upto,)
    return [row[0] for row in cursor.execute(sql, params).fetchall()]


def compact(cursor: Any, quote: Quote, schema: str, token: str, through: int) -> None:
    """Forget log entries a saved graph already holds (called in a write transaction)."""
    qschema = quote(schema)
    cursor.execute(f"DELETE FROM {qschema}.{quote(LOG_TABLE)} WHERE token = ? AND seq <= ?", (token, through))
    cursor.execute(
        f"UPDATE {qschema}.{quote(META_TABLE)} SET compacted_through = max(compacted_through, ?) WHERE token = ?",
        (through, token),
    )


def _create_graph_table(cursor: Any, quote: Quote, schema: str) -> None:
    # Also created at the first save: databases indexed by earlier versions lack it.
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {quote(schema)}.{quote(GRAPH_TABLE)} "
        "(token TEXT PRIMARY KEY, save TEXT NOT NULL, watermark INTEGER NOT NULL, rootpage INTEGER NOT NULL)"
    )


@dataclass(frozen=True)
class SavedGraph:
    """The saved graph a database names for one index: which save, at which log position, of which
    table b-tree (VACUUM moves a table and may renumber its rows)."""

    save: str
    watermark: int
    rootpage: int


def saved_graph(cursor: Any, quote: Quote, schema: str, token: str) -> SavedGraph | None:
    """The saved graph the database names for index ``token``, if any."""
    if not _has_table(cursor, quote(schema), GRAPH_TABLE):
        return None
    row = cursor.execute(
        f"SELECT save, watermark, rootpage FROM {quote(schema)}.{quote(GRAPH_TABLE)} WHERE token = ?", (token,)
    ).fetchone()
    return SavedGraph(str(row[0]), int(row[1]), int(row[2])) if row else None


def record_saved_graph(cursor: Any, quote: Quote, schema: str, token: str, saved: SavedGraph) -> None:
    """In the write transaction that saves a graph: it holds the rows through ``saved.watermark``, so
    the log entries up to there are deleted and the database names this save as the graph to load."""
    compact(cursor, quote, schema, token, saved.watermark)
    _create_graph_table(cursor, quote, schema)
    cursor.execute(
        f"INSERT OR REPLACE INTO {quote(schema)}.{quote(GRAPH_TABLE)} (token, save, watermark, rootpage) "
        "VALUES (?, ?, ?, ?)", (token, saved.save, saved.watermark, saved.rootpage),
    )
