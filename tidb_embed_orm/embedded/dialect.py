"""``sqlite+tidb_embed://``: SQLite + sqlite-vec + local embedding models, speaking TiDB's functions.

A user's TiDB models, queries and migrations run unchanged: auto-embedding columns are real
STORED generated columns calling ``EMBED_TEXT``, which this engine serves from a local model.
Before SQLite asks for vectors one row at a time, the execution context embeds the statement's
whole batch of source texts at once (``EmbeddingService.prefetch``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine.default import DefaultExecutionContext

from ..auto_embedding import AutoEmbeddingVector, auto_embedding_columns
from ..dialects import sqlite as _sqlite_rules  # noqa: F401  (compile rules + blob wire format)
from ..embedders.base import Embedder
from ..embedders.cache import EmbeddingService, ProgressCallback
from ..embedders.registry import resolve_embedder
from ..errors import EmbeddingFailedError, TidbEmbedError
from ..key_log_mask import install_log_mask
from ..providers import client_credentials
from ..reflection import reflect_vector_indexes
from . import knn as _knn_rules  # noqa: F401  (vector-index searches)
from .connection import attach_dialect, connection_factory
from .knn import MatrixCache
from .sql_functions import UdfErrors, register_functions


def _load_dbapi() -> Any:
    try:
        from pysqlite3 import dbapi2
    except ImportError:
        import sqlite3 as dbapi2

        if not hasattr(dbapi2.Connection, "enable_load_extension"):
            raise ImportError(
                "the embedded engine needs a SQLite that can load extensions: "
                "pip install 'tidb-embed-orm[embedded]' (installs pysqlite3-binary and sqlite-vec)"
            ) from None
    return dbapi2


class EmbeddedExecutionContext(DefaultExecutionContext):
    def pre_exec(self) -> None:
        super().pre_exec()
        compiled: Any = self.compiled
        searches = getattr(compiled, "tidb_embed_knn", None)
        if searches:
            pooled = self.root_connection.connection
            self.dialect.prepare_knn(pooled.dbapi_connection, pooled.info, searches)  # type: ignore[attr-defined]
        if compiled is None or not (self.isinsert or self.isupdate):
            return
        service: EmbeddingService = self.dialect.embedding_service  # type: ignore[attr-defined]
        for column, source in auto_embedding_columns(getattr(compiled.statement, "table", None)):
            texts = [p[source.key] for p in self.compiled_parameters if isinstance(p.get(source.key), str)]
            column_type = cast(AutoEmbeddingVector, column.type)
            service.prefetch(column_type.model, texts, column_type.stored_options_json)


class EmbeddedDialect(SQLiteDialect_pysqlite):
    """The embedded engine's SQLAlchemy dialect (``sqlite+tidb_embed://``)."""

    driver = "tidb_embed"
    supports_statement_cache = True
    execution_ctx_cls = EmbeddedExecutionContext  # type: ignore[assignment]
    #: Embedding happens in this process, not in the database: provider keys stay in the client.
    tidb_embed_client_side = True

    def __init__(
        self,
        embedders: Mapping[str, Embedder] | None = None,
        embedding_batch_size: int = 64,
        embedding_cache_size: int = 10_000,
        embedding_progress: ProgressCallback | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        overrides = dict(embedders or {})
        self.embedding_service = EmbeddingService(
            lambda model: resolve_embedder(model, overrides, lambda provider: client_credentials(self, provider)),
            batch_size=embedding_batch_size,
            cache_size=embedding_cache_size,
            progress=embedding_progress,
        )
        self._udf_errors = UdfErrors()
        self.knn = MatrixCache()
        self._database: str | None = None

    def create_connect_args(self, url: Any) -> Any:
        self._database = url.database if url.database not in (None, "", ":memory:") else None
        args, kwargs = super().create_connect_args(url)
        kwargs.setdefault("factory", connection_factory(self.loaded_dbapi))  # TiDB SQL by hand: tidb_sql.py
        return args, kwargs

    def _database_key(self, dbapi_connection: Any) -> Any:
        return self._database or ("memory", id(dbapi_connection))

    def prepare_knn(self, dbapi_connection: Any, info: dict[str, Any], searches: list[tuple[str, str, str]]) -> None:
        """Make the matrices a vector-index search reads current (other processes' commits too)."""
        version = dbapi_connection.execute("PRAGMA data_version").fetchone()[0]
        if info.get("tidb_embed_data_version", version) != version:
            self.knn.invalidate()
        info["tidb_embed_data_version"] = version
        for table, column, metric in searches:
            self.knn.ensure(self._database_key(dbapi_connection), dbapi_connection, table, column, metric)

    def get_indexes(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> Any:
        # Vector indexes are expression indexes SQLAlchemy cannot reflect (it warns); they are
        # reflected by tidb_embed_orm.reflection.reflect_vector_indexes instead.
        names = [i.name for i in reflect_vector_indexes(connection, table_name, schema)]
        with warnings.catch_warnings():
            if names:
                pattern = "|".join(re.escape(n) for n in names)
                skipped = f"Skipped unsupported reflection of expression-based index ({pattern})$"
                warnings.filterwarnings("ignore", message=skipped)
            return super().get_indexes(connection, table_name, schema=schema, **kw)

    @classmethod
    def import_dbapi(cls) -> Any:
        install_log_mask()
        return _load_dbapi()

    def on_connect(self) -> Any:
        parent = super().on_connect()

        def connect(dbapi_connection: Any) -> None:
            if parent is not None:
                parent(dbapi_connection)
            import sqlite_vec

            dbapi_connection.enable_load_extension(True)
            try:
                sqlite_vec.load(dbapi_connection)
            finally:
                dbapi_connection.enable_load_extension(False)
            attach_dialect(dbapi_connection, self)
            register_functions(
                dbapi_connection,
                self.embedding_service,
                self._udf_errors,
                self.knn,
                self._database_key(dbapi_connection),
            )

        return connect

    def _reraise_udf_error(self, exc: Exception) -> None:
        udf_error = self._udf_errors.take()
        if udf_error is None:
            return
        if isinstance(udf_error, TidbEmbedError):
            raise udf_error.with_traceback(None) from exc
        raise EmbeddingFailedError(f"a SQL function failed: {type(udf_error).__name__}: {udf_error}") from udf_error

    def _note_write(self, statement: str) -> None:
        if statement.lstrip()[:6].upper() != "SELECT":
            self.knn.invalidate()

    def do_rollback(self, dbapi_connection: Any) -> None:
        self.knn.invalidate()
        super().do_rollback(dbapi_connection)

    @contextmanager
    def _statement(self, statement: str) -> Iterator[None]:
        """Around every statement: note writes (for vector-index matrices), surface SQL-function errors."""
        self._note_write(statement)
        self._udf_errors.take()
        try:
            yield
        except self.loaded_dbapi.Error as exc:
            self._reraise_udf_error(exc)
            raise

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        with self._statement(statement):
            cursor.execute(statement, parameters)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        with self._statement(statement):
            cursor.executemany(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        with self._statement(statement):
            cursor.execute(statement)


dialect = EmbeddedDialect
