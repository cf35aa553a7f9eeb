"""The embedded engine's DBAPI connection: every statement passes ``tidb_sql`` before SQLite sees it.

Rewriting at the DBAPI cursor (not in the dialect) means TiDB SQL pasted into a raw cursor
behaves as it does through ``exec_driver_sql``, ``text()`` or the ORM.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any

from ...secrets import ApiKey
from ...sql.scanner import tokenize
from ...sql.statement import could_need_reading, read_statement
from .tidb_sql.hook import (
    UnsupportedStatementError,
    check_vector_columns,
    needs_rewrite,
    prepare,
    reconcile_vector_triggers,
    set_provider_key,
)
from .tidb_sql.triggers import drop_table_triggers, schema_versions
from .write_texts import texts_embedded_first, writes_embedding_table

KeySink = Callable[[str, "ApiKey | str"], None]
#: A column definition of type VECTOR in CREATE TABLE text: its (maybe quoted) name.
_VECTOR_COLUMN = re.compile(r"""(?:^|[,(])\s*("[^"]+"|`[^`]+`|\[[^\]]+\]|\w+)\s+VECTOR\b""", re.IGNORECASE)
_FACTORIES: dict[Any, type] = {}


def connection_factory(dbapi: Any) -> type:
    """A ``dbapi.Connection`` subclass whose cursors speak TiDB's SQL (one class per DBAPI module)."""
    if dbapi in _FACTORIES:
        return _FACTORIES[dbapi]

    class TidbCursor(dbapi.Cursor):  # type: ignore[name-defined,misc]
        def execute(self, sql: str, parameters: Any = ()) -> Any:
            if not isinstance(sql, str):
                return super().execute(sql, parameters)
            statement = read_statement(sql)
            connection = self.connection
            altered = statement.is_ddl and statement.keyword == "ALTER" and statement.table is not None
            if altered:  # SQLite checks a table's triggers before it drops a column: the checks are made anew after
                connection.drop_write_checks(statement.schema, statement.table)
            try:
                if not needs_rewrite(statement):
                    check_vector_columns(sql, connection, connection.vector_column_names)
                elif set_provider_key(statement, parameters, connection.store_provider_key):
                    return super().execute("-- SET: the provider key is kept by the engine, not in SQLite")
                else:
                    sql = prepare(statement, connection)
                with connection.texts_embedded_first(sql, parameters, many=False):
                    result = super().execute(sql, parameters)
            finally:
                if statement.is_ddl:  # even when it failed (an ALTER's checks were dropped before it)
                    connection.reconcile_schema()
            return result

        def executemany(self, sql: str, seq_of_parameters: Any) -> Any:
            if isinstance(sql, str):
                statement = read_statement(sql)
                if needs_rewrite(statement):
                    if statement.keyword == "SET":
                        raise UnsupportedStatementError("a provider key is SET by one statement, not executemany")
                    sql = prepare(statement, self.connection)
                if self.connection.writes_embedding_table(sql):
                    seq_of_parameters = list(seq_of_parameters)  # read twice: by the dry run, then for real
                    with self.connection.texts_embedded_first(sql, seq_of_parameters, many=True):
                        return super().executemany(sql, seq_of_parameters)
            return super().executemany(sql, seq_of_parameters)

        def executescript(self, script: str) -> Any:
            """A pasted script (the TiDB page's block): statement by statement when one needs reading."""
            if not (isinstance(script, str) and could_need_reading(script)):
                return super().executescript(script)
            self.connection.commit()  # as executescript does
            # ... and like it, no implicit BEGIN: the script's own BEGIN / COMMIT / SAVEPOINT decide.
            level, self.connection.isolation_level = self.connection.isolation_level, None
            try:
                for statement in split_statements(script, dbapi.complete_statement):
                    self.execute(statement)
            finally:
                self.connection.isolation_level = level
            return self

    class TidbConnection(dbapi.Connection):  # type: ignore[name-defined,misc]
        key_sink: Callable[[], KeySink | None] = staticmethod(lambda: None)  # type: ignore[assignment]

        def cursor(self, factory: Any = TidbCursor) -> Any:
            return super().cursor(factory)

        def execute(self, sql: str, parameters: Any = ()) -> Any:
            return self.cursor().execute(sql, parameters)

        def executemany(self, sql: str, seq_of_parameters: Any) -> Any:
            return self.cursor().executemany(sql, seq_of_parameters)

        def executescript(self, script: str) -> Any:
            return self.cursor().executescript(script)

        _vector_names: tuple[Any, re.Pattern[str] | None] = (None, None)

        def vector_column_names(self) -> tuple[Any, re.Pattern[str] | None]:
            """(schema versions, a pattern matching the names of the database's VECTOR columns, None when it
            has none).

            The names are re-read only when the schema changes (PRAGMA schema_version of each attached
            database); the versions are read each time, for the caller's own memo too.
            """
            cursor = dbapi.Cursor(self)
            try:
                versions = schema_versions(cursor)
                if versions != self._vector_names[0]:
                    names: set[str] = set()
                    for name, _version in versions:
                        for (ddl,) in cursor.execute(
                            f"SELECT sql FROM \"{name}\".sqlite_master WHERE type = 'table' AND sql LIKE '%VECTOR%'"
                        ).fetchall():
                            names.update(_VECTOR_COLUMN.findall(ddl))
                    words = sorted({n.strip('"`[]') for n in names})
                    pattern = None if not words else re.compile(
                        r"\b(?:" + "|".join(re.escape(n) for n in words) + r")\b", re.IGNORECASE)
                    self._vector_names = (versions, pattern)
                return versions, self._vector_names[1]
            finally:
                cursor.close()

        def reconcile_schema(self) -> None:
            """After DDL: the VECTOR write checks of every table, as the schema now says (by table name)."""
            cursor = dbapi.Cursor(self)
            try:
                reconcile_vector_triggers(cursor)
            finally:
                cursor.close()

        def drop_write_checks(self, schema: str | None, table: str) -> None:
            cursor = dbapi.Cursor(self)
            try:
                drop_table_triggers(cursor, schema, table)
            finally:
                cursor.close()

        #: Set by ``attach_dialect``: the engine's EmbeddingService (None on a connection no engine made).
        embedding_service: Any = None
        #: Set by the dialect while a statement runs whose texts it held from the statement's parameters.
        texts_announced = False
        #: (schema versions, tables a write may embed for, tables whose triggers embed), for write_texts.py
        _embedding_tables: tuple[Any, re.Pattern[str] | None, re.Pattern[str] | None] = (None, None, None)

        def writes_embedding_table(self, sql: str) -> bool:
            """Could ``sql`` make SQLite evaluate EMBED_TEXT (``write_texts.py``)?"""
            return writes_embedding_table(self, dbapi, sql)

        def texts_embedded_first(self, sql: str, parameters: Any, *, many: bool) -> Any:
            """Around a statement that may embed: its texts embedded first, in batches (``write_texts.py``)."""
            return texts_embedded_first(self, dbapi, sql, parameters, many=many)

        def store_provider_key(self, provider: str, key: ApiKey | str) -> None:
            sink = self.key_sink()
            if sink is None:
                raise RuntimeError("this connection's engine is gone: the key has nowhere to go")
            sink(provider, key)

    _FACTORIES[dbapi] = TidbConnection
    return TidbConnection


def split_statements(script: str, complete: Callable[[str], bool]) -> list[str]:
    """The statements of ``script``, split where SQLite itself sees a complete statement (triggers stay whole)."""
    statements, buffer = [], ""
    for token in tokenize(script):
        buffer += token.text
        if token.is_punct(";") and complete(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer)
            buffer = ""
    if buffer.strip():
        statements.append(buffer)
    return statements


def attach_dialect(dbapi_connection: Any, dialect: Any) -> None:
    """Keys SET on this connection are kept for ``dialect`` (held weakly), as configure_provider keeps them."""
    from ...providers import store_client_base, store_client_key

    dialect_ref = weakref.ref(dialect)

    def current() -> KeySink | None:
        alive = dialect_ref()
        if alive is None:
            return None

        def store(provider: str, value: ApiKey | str) -> None:
            if isinstance(value, ApiKey):
                store_client_key(alive, provider, value)
            else:
                store_client_base(alive, provider, value)

        return store

    dbapi_connection.key_sink = current
    dbapi_connection.embedding_service = dialect.embedding_service


def set_journal_mode(dbapi_connection: Any, journal_mode: str | None, operational_error: type[Exception]) -> None:
    """File databases default to WAL: readers and one writer at a time never wait on each other."""
    if not journal_mode:
        return
    cursor = dbapi_connection.cursor()
    try:
        files = [row[2] for row in cursor.execute("PRAGMA database_list").fetchall() if row[1] == "main"]
        if files and files[0]:
            current = cursor.execute("PRAGMA journal_mode").fetchone()[0]
            if str(current).lower() != journal_mode.lower():
                if not journal_mode.isalpha():
                    raise ValueError(f"journal_mode must be a SQLite journal mode such as 'wal', got {journal_mode!r}")
                cursor.execute(f"PRAGMA journal_mode = {journal_mode}")
    except operational_error:
        pass  # another connection holds the database: it will be switched by a later connection
    finally:
        cursor.close()
