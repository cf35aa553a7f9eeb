"""A write's texts embedded before it takes SQLite's write lock: the statements only SQLite can read.

The ORM flush (``flush.py``) and statements with parameters (the execution context) hand their texts
over before they run. What is left — ``INSERT ... SELECT``, ``UPDATE ... SET body = <expr>``, an
upsert whose conflict branch writes other texts, raw SQL, a table whose triggers write an embedded
table — is run once with EMBED_TEXT only noting its texts, rolled back, and the texts embedded in
batches (``embedders/feed.py``); the real run then finds each vector held. Outside a transaction the
rollback ends the lock before the model runs; inside one that already wrote, the texts are still
embedded in batches.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ...sql.statement import read_statement
from .tidb_sql.triggers import schema_versions

#: A statement that may write (its leading word after comments; WITH is read by the scanner).
_WRITE = re.compile(
    r"(?:\s|--[^\n]*\n|/\*.*?\*/)*(?:INSERT|UPDATE|REPLACE|DELETE|WITH)\b", re.IGNORECASE | re.DOTALL
)
#: Where a CREATE TRIGGER's header ends and the statements it runs begin.
_TRIGGER_BODY = re.compile(r"\bBEGIN\b", re.IGNORECASE)
_DRY_RUN = "tidb_embed_dry_run"


def writes_embedding_table(connection: Any, dbapi: Any, sql: str) -> bool:
    """Could ``sql`` make SQLite evaluate EMBED_TEXT: a write naming a table with an EMBED_TEXT column,
    or a table whose triggers write one (an inbox table copied into the embedded one by a trigger)?

    The cheap tests first (the leading word, then the table names); the schema is re-read only when
    it changed (PRAGMA schema_version), and remembered on the connection.
    """
    if connection.embedding_service is None or connection.texts_announced or not _WRITE.match(sql):
        return False
    keyword = read_statement(sql).keyword
    if keyword not in ("INSERT", "UPDATE", "REPLACE", "DELETE"):
        return False  # a WITH ... SELECT (a hybrid search): no schema read for it
    cursor = dbapi.Cursor(connection)
    try:
        versions = schema_versions(cursor)
        if versions != connection._embedding_tables[0]:
            embedded, reached = _embedding_table_names(cursor, versions)
            names = embedded | reached
            connection._embedding_tables = (
                versions,
                _names_pattern(names) if names else None,
                _names_pattern(reached) if reached else None,
            )
    finally:
        cursor.close()
    # A DELETE embeds nothing itself; only a trigger of the table it deletes from can write a text.
    pattern = connection._embedding_tables[2 if keyword == "DELETE" else 1]
    return pattern is not None and pattern.search(sql) is not None


def _embedding_table_names(cursor: Any, versions: Any) -> tuple[set[str], set[str]]:
    """(tables with an EMBED_TEXT column, tables whose triggers write one, maybe through other triggers)."""
    names: set[str] = set()
    triggers: list[tuple[str, str]] = []
    for schema, _version in versions:
        for kind, name, table, ddl in cursor.execute(
            f"SELECT type, name, tbl_name, sql FROM \"{schema}\".sqlite_master "
            "WHERE (type = 'table' AND sql LIKE '%EMBED_TEXT%') OR type = 'trigger'"
        ).fetchall():
            if kind == "table":
                names.add(str(name))
            elif ddl:
                triggers.append((str(table), str(ddl)))
    embedded, reached = set(names), set()
    grew = bool(names)
    while grew:
        grew = False
        reaches = _names_pattern(names)
        for table, ddl in triggers:
            if table not in reached and reaches.search(_TRIGGER_BODY.split(ddl, 1)[-1]):
                names.add(table)
                reached.add(table)
                grew = True
    return embedded, reached


def _names_pattern(names: set[str]) -> re.Pattern[str]:
    """Any of ``names`` as a whole word, case-insensitively (table names in SQL text)."""
    return re.compile(r"\b(?:" + "|".join(re.escape(n) for n in sorted(names)) + r")\b", re.IGNORECASE)


@contextmanager
def texts_embedded_first(connection: Any, dbapi: Any, sql: str, parameters: Any, *, many: bool) -> Iterator[None]:
    """Around a statement that may embed: its texts are read by a dry run and embedded, in batches,
    before it takes the write lock; the real run finds them held."""
    if not writes_embedding_table(connection, dbapi, sql):
        yield
        return
    held = dry_run(connection, dbapi, sql, parameters, many)
    try:
        yield
    finally:
        if held:
            connection.embedding_service.release(id(connection), "statement")


def dry_run(connection: Any, dbapi: Any, sql: str, parameters: Any, many: bool) -> bool:
    """Run ``sql`` with EMBED_TEXT noting its texts, roll it back, embed the texts: True if any."""
    service = connection.embedding_service
    began = not connection.in_transaction
    with service.collecting(id(connection)) as collector:
        cursor = dbapi.Cursor(connection)
        cursor.execute("BEGIN" if began else f"SAVEPOINT {_DRY_RUN}")
        failure: Exception | None = None
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
        except dbapi.Error as exc:
            failure = exc
        finally:
            cursor.close()  # its statement is reset before the rollback
        if began or connection.in_transaction:
            undo = dbapi.Cursor(connection)
            try:
                undo.execute("ROLLBACK" if began else f"ROLLBACK TO {_DRY_RUN}")
                if not began:
                    undo.execute(f"RELEASE {_DRY_RUN}")
            except dbapi.Error:
                if not began:  # else the statement's error ended the transaction: nothing to undo
                    raise
            finally:
                undo.close()
        if failure is not None:
            if "locked" in str(failure) or "busy" in str(failure):
                raise failure  # the real run would wait for the same lock again
            if not began and not connection.in_transaction:
                raise failure  # it ended the transaction (INSERT OR ROLLBACK ...), as the statement would
            return False  # the real run raises what is wrong (or embeds as it goes)
    if not len(collector):
        return False
    service.hold(id(connection), "statement", collector.texts)
    return True
