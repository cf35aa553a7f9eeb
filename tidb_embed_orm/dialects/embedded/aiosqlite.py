"""The embedded engine under asyncio: ``create_async_engine("sqlite+tidb_embed:///dev.db")``.

SQLAlchemy asks a URL's dialect for its async variant (``get_async_dialect_cls``, as psycopg
does), so the same URL serves ``create_engine`` and ``create_async_engine``. Each connection is an
``aiosqlite`` connection whose worker thread opens pysqlite3 through a connector and sets it up
exactly as the synchronous engine does (sqlite-vec, TiDB's SQL functions). Statements run in that
thread, so ``EMBED_TEXT`` (and the dry run that reads a statement's texts first) never runs on the
event loop's thread; a statement's preparation (vector-index upkeep) runs in the loop's executor.

The synchronous engine's machinery works on the pysqlite3 connection itself: it is handed that
connection (``_raw``), never aiosqlite's proxy. The proxy's thread is idle while the greenlet
waits, and SQLite serialises access, so using the connection from another thread is safe.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi, SQLiteDialect_aiosqlite

from ...embedders.cache import EmbeddingService
from ...ext.offload import off_loop
from ...sql.vector_index import BACKGROUND_BUILD
from .base import EmbeddedDialect, EmbeddedExecutionContext, _load_dbapi
from .vector_index.search import VectorIndexes


class _AsyncEmbeddingService(EmbeddingService):
    """Statements announce their texts by the proxy connection; EMBED_TEXT asks by the pysqlite3 one."""

    driver_ids: dict[int, int]

    def _connection_key(self, connection: int) -> int:
        return self.driver_ids.get(connection, connection)


class _AsyncEmbeddedDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite in front of pysqlite3: the errors raised are pysqlite3's, so name those."""

    def _init_dbapi_attributes(self) -> None:
        super()._init_dbapi_attributes()
        for name in ("DatabaseError", "Error", "IntegrityError", "NotSupportedError", "OperationalError",
                     "ProgrammingError", "InterfaceError", "InternalError", "DataError", "Warning",
                     "sqlite_version", "sqlite_version_info"):
            if hasattr(self.sqlite, name):
                setattr(self, name, getattr(self.sqlite, name))


class _CursorView:
    """aiosqlite's cursor as the synchronous engine's code expects a DBAPI cursor to behave."""

    def __init__(self, cursor: Any, connection: Any) -> None:
        self._cursor = cursor
        self.connection = connection  # the pysqlite3 connection

    def execute(self, *args: Any) -> Any:
        self._cursor.execute(*args)
        return self._cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class AsyncEmbeddedExecutionContext(EmbeddedExecutionContext):
    def pre_exec(self) -> None:
        # Vector-index upkeep and the statement's text announcements: in the executor, not on the loop.
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
        self.embedding_service.__class__ = _AsyncEmbeddingService
        self._driver_ids: dict[int, int] = {}
        self.embedding_service.driver_ids = self._driver_ids  # type: ignore[attr-defined]

    @classmethod
    def import_dbapi(cls) -> Any:
        try:
            import aiosqlite
        except ImportError:
            raise ImportError(
                "create_async_engine on the embedded engine needs aiosqlite: pip install 'tidb-embed-orm[embedded]'"
            ) from None
        return _AsyncEmbeddedDBAPI(aiosqlite, _load_dbapi())

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        return SQLiteDialect_aiosqlite.get_pool_class.__func__(cls, url)  # type: ignore[attr-defined,no-any-return]

    @property
    def vector_indexes(self) -> VectorIndexes:
        if self._vector_indexes is None:  # its reader connections are plain pysqlite3 ones
            self._vector_indexes = VectorIndexes(self.loaded_dbapi.sqlite,  # type: ignore[attr-defined]
                                                 self.vector_index_build == BACKGROUND_BUILD)
        return self._vector_indexes

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        import aiosqlite

        sqlite = self.loaded_dbapi.sqlite  # type: ignore[attr-defined]
        cparams["check_same_thread"] = False  # made in aiosqlite's thread, also used from the executor's
        setup = EmbeddedDialect.on_connect(self)  # what the synchronous engine does to each connection

        def create(*_: Any, **__: Any) -> Any:
            def connector() -> Any:
                raw = sqlite.connect(*cargs, **cparams)
                setup(raw)  # in the connection's own thread
                connection.tidb_embed_raw = raw  # type: ignore[attr-defined]
                return raw

            connection = aiosqlite.Connection(connector, 64)
            # Private (aiosqlite's): no public way to make its worker thread a daemon; SQLAlchemy's own
            # aiosqlite dialect sets it the same way, so an unclosed connection does not block exit.
            connection._thread.daemon = True
            return connection

        adapted = self.loaded_dbapi.connect(async_creator_fn=create)
        self._driver_ids[id(adapted)] = id(self._raw(adapted))
        return adapted

    def on_connect(self) -> Any:
        return None  # everything ran in the connector, on the pysqlite3 connection

    def _raw(self, dbapi_connection: Any) -> Any:
        """The pysqlite3 connection behind aiosqlite's proxy (itself, when given a pysqlite3 one)."""
        driver = getattr(dbapi_connection, "_connection", None)
        return getattr(driver, "tidb_embed_raw", dbapi_connection)

    def _forget(self, dbapi_connection: Any) -> None:
        self._driver_ids.pop(id(dbapi_connection), None)

    def do_close(self, dbapi_connection: Any) -> None:
        self._forget(dbapi_connection)
        super().do_close(dbapi_connection)

    def do_terminate(self, dbapi_connection: Any) -> None:
        self._forget(dbapi_connection)
        super().do_terminate(dbapi_connection)

    def plan_searches(self, dbapi_connection: Any, info: dict[str, Any], searches: list[Any],
                      schema_map: dict[Any, Any] | None = None, ef_search: int | None = None) -> Any:
        return super().plan_searches(self._raw(dbapi_connection), info, searches, schema_map, ef_search)

    def _reconcile_vector_indexes(self, dbapi_connection: Any) -> None:
        off_loop(self, super()._reconcile_vector_indexes, self._raw(dbapi_connection))

    def _view(self, cursor: Any) -> _CursorView:
        return _CursorView(cursor, self._raw(cursor._adapt_connection))

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        super().do_execute(self._view(cursor), statement, parameters, context)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        super().do_executemany(self._view(cursor), statement, parameters, context)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        super().do_execute_no_params(self._view(cursor), statement, context)


dialect = AsyncEmbeddedDialect
