"""The embedded engine under asyncio: ``create_async_engine("sqlite+tidb_embed:///dev.db")``.

SQLAlchemy asks a URL's dialect for its async variant (``get_async_dialect_cls``, as psycopg
does), so the same URL serves ``create_engine`` and ``create_async_engine``. Each connection is an
``aiosqlite`` connection whose worker thread opens pysqlite3 through a connector, loads sqlite-vec
and registers TiDB's SQL functions there. Embedding never runs on the event loop's thread: a
statement's batch of texts is embedded in the loop's executor before it runs (``off_loop``), and
the per-row ``EMBED_TEXT`` calls happen in the connection's worker thread.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import pool
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_module
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi, SQLiteDialect_aiosqlite

from ..offload import off_loop
from .dialect import EmbeddedDialect, EmbeddedExecutionContext, _load_dbapi


class _SharedUdfErrors:
    """Like UdfErrors, but readable from the loop thread: SQL functions run in aiosqlite's thread."""

    last: BaseException | None = None

    def take(self) -> BaseException | None:
        error, self.last = self.last, None
        return error


class _AsyncEmbeddedDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite in front of pysqlite3: the errors raised are pysqlite3's, so name those."""

    def _init_dbapi_attributes(self) -> None:
        super()._init_dbapi_attributes()
        for name in ("DatabaseError", "Error", "IntegrityError", "NotSupportedError", "OperationalError",
                     "ProgrammingError", "InterfaceError", "InternalError", "DataError", "Warning",
                     "sqlite_version", "sqlite_version_info"):
            if hasattr(self.sqlite, name):
                setattr(self, name, getattr(self.sqlite, name))


class AsyncEmbeddedExecutionContext(EmbeddedExecutionContext):
    def pre_exec(self) -> None:
        # Batch embedding and vector-index preparation: in the executor, never on the event loop.
        off_loop(self.dialect, super().pre_exec)

    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor(server_side=True)  # type: ignore[union-attr]


class AsyncEmbeddedDialect(EmbeddedDialect, SQLiteDialect_aiosqlite):  # type: ignore[misc]
    """``sqlite+tidb_embed://`` for ``create_async_engine``."""

    is_async = True
    supports_statement_cache = True
    supports_server_side_cursors = True
    execution_ctx_cls = AsyncEmbeddedExecutionContext  # type: ignore[assignment]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._udf_errors = _SharedUdfErrors()  # type: ignore[assignment]

    @classmethod
    def import_dbapi(cls) -> AsyncAdapt_dbapi_module:
        import aiosqlite

        return _AsyncEmbeddedDBAPI(aiosqlite, _load_dbapi())

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        return SQLiteDialect_aiosqlite.get_pool_class.__func__(cls, url)  # type: ignore[attr-defined,no-any-return]

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        import aiosqlite

        sqlite = self.loaded_dbapi.sqlite  # type: ignore[attr-defined]
        # The connection is made in aiosqlite's thread and read from the executor's (vector-index
        # matrices), one statement at a time: SQLite's own serialisation keeps that safe.
        cparams["check_same_thread"] = False

        def create(*_: Any, **__: Any) -> Any:
            def connector() -> Any:
                raw = sqlite.connect(*cargs, **cparams)
                self._prepare_raw_connection(raw)
                connection.tidb_embed_raw = raw
                return raw

            connection = aiosqlite.Connection(connector, 64)
            connection._thread.daemon = True  # as SQLAlchemy's aiosqlite dialect does
            return connection

        return self.loaded_dbapi.connect(async_creator_fn=create)

    def _raw(self, dbapi_connection: Any) -> Any:
        """The pysqlite3 connection behind an adapted aiosqlite one (itself, when given a raw one)."""
        driver = getattr(dbapi_connection, "_connection", None)
        return getattr(driver, "tidb_embed_raw", dbapi_connection)

    def _prepare_raw_connection(self, raw: Any) -> None:
        """What EmbeddedDialect.on_connect does, done in the connection's own thread."""
        EmbeddedDialect.on_connect(self)(raw)  # type: ignore[misc]

    def on_connect(self) -> Any:
        return None  # everything (SQLite's regexp/floor, sqlite-vec, TiDB's functions) ran in the connector

    def prepare_knn(self, dbapi_connection: Any, *args: Any, **kw: Any) -> None:
        super().prepare_knn(self._raw(dbapi_connection), *args, **kw)

    def _database_key(self, dbapi_connection: Any) -> Any:
        return super()._database_key(self._raw(dbapi_connection))


dialect = AsyncEmbeddedDialect
