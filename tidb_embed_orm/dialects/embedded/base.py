"""``sqlite+tidb_embed://``: SQLite + sqlite-vec + local embedding models, speaking TiDB's functions.

A user's TiDB models, queries and migrations run unchanged: auto-embedding columns are real
STORED generated columns calling ``EMBED_TEXT``, which this engine serves from a local model.
A write's source texts are embedded in batches before the write takes SQLite's lock, and SQLite's
EMBED_TEXT finds them held (``embedders/feed.py``), so the model never works while others wait.
"""

from __future__ import annotations

import importlib.util
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import reflection
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy  # as SQLAlchemy's mssql and oracle dialects
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.sql.elements import BindParameter

from ...embedders.base import Embedder
from ...embedders.cache import EmbeddingService, ProgressCallback
from ...embedders.local import check_backend
from ...embedders.registry import resolve_embedder
from ...embedding_mode import IN_PROCESS_DATABASE
from ...exc import EmbeddingFailedError, TidbEmbedError
from ...ext.offload import off_loop
from ...providers import client_credentials
from ...sql.auto_embedding import AutoEmbeddingVector, auto_embedding_columns
from ...sql.reflection import reflect_vector_indexes, sqlite_columns
from ...sql.statement import read_statement
from ...sql.vector_index import BACKGROUND_BUILD, EF_SEARCH_OPTION, check_ef_search, check_index_build
from .access import split_filename, user_filename
from .compiler import EmbeddedCompiler, EmbeddedDDLCompiler
from .flush import install as install_flush_hook
from .fts5 import FTS5_BACKEND
from .pysqlite import attach_dialect, connection_factory, set_journal_mode
from .shutdown import close_at_exit
from .udf import register_functions, udf_errors_of
from .vector_index.schema import INTERNAL_TABLES, check_create_index
from .vector_index.search import Plan, VectorIndexes
from .vector_index.store import reconcile_change_logs
from .vectors import BLOB_WIRE


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
    if importlib.util.find_spec("sqlite_vec") is None:
        raise ImportError("the embedded engine needs sqlite-vec: pip install 'tidb-embed-orm[embedded]'")
    return dbapi2


class EmbeddedExecutionContext(DefaultExecutionContext):
    def pre_exec(self) -> None:
        super().pre_exec()
        compiled: Any = self.compiled
        searches = getattr(compiled, "tidb_embed_knn", None)
        if searches:
            pooled = self.root_connection.connection
            dialect: EmbeddedDialect = self.dialect  # type: ignore[assignment]
            options = self.execution_options
            self.tidb_embed_plan = dialect.plan_searches(
                pooled.dbapi_connection, pooled.info, searches, options.get("schema_translate_map"),
                check_ef_search(options.get(EF_SEARCH_OPTION), f"execution option {EF_SEARCH_OPTION}"))
        service: EmbeddingService = self.dialect.embedding_service  # type: ignore[attr-defined]
        connection = id(self.root_connection.connection.dbapi_connection)
        if compiled is None or not (self.isinsert or self.isupdate):
            service.release(connection, "statement")
            return
        # Every parameter set's texts (an executemany, each page of an insertmanyvalues) are embedded now,
        # before the statement's first page takes the write lock (embedders/feed.py).
        texts: dict[AutoEmbeddingVector, list[str]] = {}
        sources = auto_embedding_columns(getattr(compiled.statement, "table", None))
        for column, source in sources:
            column_type = cast(AutoEmbeddingVector, column.type)
            announced = texts.setdefault(column_type, [])
            announced.extend(_source_texts(self.compiled_parameters, _bind_name(compiled.statement, source)))
        service.hold_stored(connection, "statement", texts)
        #: the cursor need not read this statement's texts by a dry run: they are held
        self.tidb_embed_announced = (bool(texts) and all(texts.values())
                                     and _upsert_writes_the_inserted_texts(compiled.statement, sources))

    def post_exec(self) -> None:
        super().post_exec()
        if getattr(self, "tidb_embed_announced", False):
            service: EmbeddingService = self.dialect.embedding_service  # type: ignore[attr-defined]
            service.release(id(self.root_connection.connection.dbapi_connection), "statement")


def _upsert_writes_the_inserted_texts(statement: Any, sources: Sequence[tuple[Any, Any]]) -> bool:
    """False for an upsert whose conflict branch may write texts other than the inserted ones.

    ``ON CONFLICT DO UPDATE SET content = excluded.content || ' z'`` (or a SET of another column: SQLite
    computes a stored generated column again from the row's current text) embeds texts no parameter
    holds: the cursor's dry run reads them, so that they too are embedded before the write lock.
    Only ``SET <source> = excluded.<source>`` writes exactly the inserted texts.
    """
    # Private: OnConflictDoUpdate has no public accessor; this is where Insert keeps its ON CONFLICT clause.
    clause = getattr(statement, "_post_values_clause", None)
    assigned = getattr(clause, "update_values_to_set", None)
    if not assigned:
        return True  # a plain insert, ON CONFLICT DO NOTHING, or no conflict clause at all
    source_keys = {source.key for _, source in sources}
    for key, value in dict(assigned).items():
        name = getattr(key, "key", key)
        excluded = getattr(getattr(value, "table", None), "name", None) == "excluded"
        if name not in source_keys or not (excluded and getattr(value, "key", None) == name):
            return False
    return True


def _bind_name(statement: Any, source: Any) -> str:
    """The parameter name carrying ``source``'s text: the column's key, or the name of the bindparam() a
    statement gave it (``insert().values(content=bindparam("c"))``, executed with many rows)."""
    # Private: Insert/Update have no public accessor for what .values() was given (column -> bindparam);
    # the compiled parameters name the binds but not the column each one fills.
    values = getattr(statement, "_values", None) or {}
    for key, value in values.items():
        if (key is source or getattr(key, "key", key) == source.key) and isinstance(value, BindParameter):
            return str(value.key)
    return str(source.key)


def _source_texts(parameters: Sequence[Mapping[str, Any]], key: str) -> list[str]:
    """A statement's source texts in row order: ``key`` per parameter set, and ``key_m<n>`` per row of
    a multi-VALUES insert (``insert().values([...])``)."""
    multi = re.compile(rf"{re.escape(key)}_m\d+")
    return [value for p in parameters for name, value in p.items()
            if isinstance(value, str) and (name == key or multi.fullmatch(name))]


class EmbeddedDialect(SQLiteDialect_pysqlite):
    """The embedded engine's SQLAlchemy dialect (``sqlite+tidb_embed://``)."""

    driver = "tidb_embed"
    supports_statement_cache = True
    execution_ctx_cls = EmbeddedExecutionContext  # type: ignore[assignment]
    statement_compiler = EmbeddedCompiler
    ddl_compiler = EmbeddedDDLCompiler
    #: Vectors travel as sqlite-vec's float32 blobs (``vector.wire_format``).
    tidb_embed_wire_format = BLOB_WIRE
    #: FulltextIndex is kept as an FTS5 table with triggers (``fulltext._backend``).
    tidb_embed_fulltext = FTS5_BACKEND
    #: EMBED_TEXT runs in this process: provider keys stay in the client (``use_client_embedding`` replaces it).
    tidb_embed_mode = IN_PROCESS_DATABASE

    def __init__(
        self,
        embedders: Mapping[str, Embedder] | None = None,
        embedding_batch_size: int = 64,
        embedding_cache_size: int = 10_000,
        embedding_progress: ProgressCallback | None = None,
        journal_mode: str | None = "wal",
        vector_ef_search: int | None = None,
        vector_index_build: str = "background",
        local_model_backend: str = "torch",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        overrides = dict(embedders or {})
        # create_engine(url, local_model_backend="openvino"): checked now, so a typo fails at create_engine.
        backend = check_backend(local_model_backend)
        self.embedding_service = EmbeddingService(
            lambda model: resolve_embedder(
                model, overrides, lambda provider: client_credentials(self, provider), local_backend=backend
            ),
            batch_size=embedding_batch_size,
            cache_size=embedding_cache_size,
            progress=embedding_progress,
        )
        self.journal_mode = journal_mode
        #: ``create_engine(..., vector_ef_search=n)``: the search width of every vector index that does
        #: not declare its own (None: a width that grows with the index, ``vector_index/ann.default_ef``)
        self.vector_ef_search = check_ef_search(vector_ef_search, "vector_ef_search")
        #: ``create_engine(..., vector_index_build="inline")``: a first search waits for a large graph
        #: instead of scanning while it is built in the background (``vector_index/background.py``)
        self.vector_index_build = check_index_build(vector_index_build)
        self._vector_indexes: VectorIndexes | None = None
        install_flush_hook()

    def embed_flush_texts(self, dbapi_connection: Any, texts: Mapping[AutoEmbeddingVector, Sequence[str]]) -> None:
        """Embed an ORM flush's source texts before its first statement (``flush.py``), off the event loop."""
        off_loop(self, self.embedding_service.hold_stored, id(dbapi_connection), "flush", texts)

    @property
    def vector_indexes(self) -> VectorIndexes:
        """The engine's vector-index graphs (built on first use, shared by its connections)."""
        if self._vector_indexes is None:
            self._vector_indexes = VectorIndexes(self.loaded_dbapi, self.vector_index_build == BACKGROUND_BUILD)
        return self._vector_indexes

    def wait_for_vector_indexes(self, timeout: float | None = None) -> bool:
        """``tidb_embed_orm.wait_for_vector_indexes``: the graphs being built in the background are ready."""
        return self._vector_indexes is None or self._vector_indexes.wait(timeout)

    def create_connect_args(self, url: Any) -> Any:
        args, kwargs = super().create_connect_args(url)
        # TiDB SQL by hand (tidb_sql/); the pysqlite3 module itself, also behind the asyncio adapter.
        kwargs.setdefault("factory", connection_factory(_load_dbapi()))
        if args and isinstance(args[0], str):
            # A WAL file in a read-only folder opens only as immutable; the engine's own connections to
            # the file honour what the URL says (mode=ro, immutable=1): access.py.
            filename, uri = user_filename(args[0], bool(kwargs.get("uri")))
            if uri:
                args, kwargs["uri"] = [filename, *args[1:]], True
            path, params = split_filename(filename, uri)
            if path and path != ":memory:":
                self.vector_indexes.remember_opened_as(path, params)
        return args, kwargs

    @classmethod
    def engine_created(cls, engine: Any) -> None:
        """``engine.dispose()`` also closes the connections the engine opened on its own (vector-index readers);
        interpreter exit disposes the engine (``shutdown.py``)."""
        from sqlalchemy import event

        def disposed(engine: Any) -> None:
            indexes = engine.dialect._vector_indexes
            if indexes is not None:
                indexes.close()

        def checked_in(_dbapi_connection: Any, record: Any) -> None:
            # The connection's statements are over: its searches let go of the graphs they were planned on
            # (``store.PlannedGraph``), or an idle connection would keep a replaced graph in memory.
            searches = record.info.get("tidb_embed_knn") if record is not None else None
            if searches is not None:
                searches.runs = {}

        def fetch_failed(context: Any) -> BaseException | None:
            # A SQL function SQLite calls while rows are fetched, after the statement's execute returned (the
            # second half of a UNION ALL, a streamed result): say its own error, as the statement's run does.
            connection = context.connection
            if (connection is None or connection.closed or connection.invalidated
                    or not isinstance(context.original_exception, engine.dialect.loaded_dbapi.Error)):
                return None  # (reading .connection of an invalidated Connection would connect again)
            error = udf_errors_of(engine.dialect._raw(connection.connection.dbapi_connection)).take()
            return error.with_traceback(None) if isinstance(error, TidbEmbedError) else None

        event.listen(engine, "engine_disposed", disposed)
        event.listen(engine, "checkin", checked_in)
        event.listen(engine, "handle_error", fetch_failed)
        close_at_exit(engine)

    def plan_searches(self, dbapi_connection: Any, info: dict[str, Any], searches: list[Any],
                      schema_map: dict[Any, Any] | None = None, ef_search: int | None = None) -> Plan:
        """Bring the indexes a statement searches up to date, as this connection sees them."""
        here = self.vector_indexes.connection_searches(dbapi_connection, info, udf_errors_of(dbapi_connection))
        return self.vector_indexes.prepare(dbapi_connection, here, self.identifier_preparer.quote, searches,
                                           schema_map, ef_search, self.vector_ef_search)

    @reflection.cache
    def get_table_names(self, connection: Any, schema: str | None = None, **kw: Any) -> Any:  # type: ignore[override]
        # Indexes' own tables (the vector indexes' change log, a full-text index's FTS5 tables) belong
        # to the index, not to the user's schema.
        from .fts5 import PREFIX

        names = super().get_table_names(connection, schema=schema, **kw)
        return [name for name in names if name not in INTERNAL_TABLES and not name.startswith(PREFIX)]

    def get_columns(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> Any:
        # EMBED_TEXT columns come back as AutoEmbeddingVector from Inspector.get_columns() too.
        columns = super().get_columns(connection, table_name, schema=schema, **kw)
        return sqlite_columns(self, connection, table_name, schema, columns, **kw)

    def get_indexes(self, connection: Any, table_name: str, schema: str | None = None, **kw: Any) -> Any:
        # Vector indexes are expression indexes SQLAlchemy cannot reflect (it warns); they are
        # reflected by tidb_embed_orm.sql.reflection.reflect_vector_indexes instead.
        names = [i.name for i in reflect_vector_indexes(connection, table_name, schema)]
        with warnings.catch_warnings():
            if names:
                pattern = "|".join(re.escape(n) for n in names)
                skipped = f"Skipped unsupported reflection of expression-based index ({pattern})$"
                warnings.filterwarnings("ignore", message=skipped)
            return super().get_indexes(connection, table_name, schema=schema, **kw)

    def has_index(
        self, connection: Any, table_name: str, index_name: str, schema: str | None = None, **kw: Any
    ) -> bool:
        from .fts5 import reflect_fts5_indexes

        return super().has_index(connection, table_name, index_name, schema=schema, **kw) or any(
            i.name == index_name for i in reflect_fts5_indexes(connection, table_name)
        )

    @classmethod
    def import_dbapi(cls) -> Any:
        return _load_dbapi()  # the key protection is installed by importing tidb_embed_orm (its __init__)

    @classmethod
    def get_async_dialect_cls(cls, url: Any) -> Any:
        """``create_async_engine`` on the same URL: aiosqlite in front of the same engine.

        Loaded through SQLAlchemy's dialect registry by name, so the async module imports this one
        and never the other way round (as ``sqlite/aiosqlite.py`` builds on ``sqlite/pysqlite.py``).
        """
        from sqlalchemy.dialects import registry

        registry.register(
            "sqlite.tidb_embed_async", "tidb_embed_orm.dialects.embedded.aiosqlite", "AsyncEmbeddedDialect"
        )
        return registry.load("sqlite.tidb_embed_async")

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
            set_journal_mode(dbapi_connection, self.journal_mode, self.loaded_dbapi.OperationalError)
            # REPLACE deletes the rows it replaces; only with recursive triggers do delete triggers
            # (the vector and full-text indexes' change logs) hear of it.
            dbapi_connection.execute("PRAGMA recursive_triggers = ON")
            attach_dialect(dbapi_connection, self)
            register_functions(dbapi_connection, self.embedding_service)

        return connect

    def _raw(self, dbapi_connection: Any) -> Any:
        """The pysqlite3 connection SQL functions run on (the async dialect's proxies wrap one)."""
        return dbapi_connection

    def _reraise_udf_error(self, connection: Any, exc: Exception) -> None:
        udf_error = udf_errors_of(connection).take()
        if udf_error is None:
            return
        if isinstance(udf_error, TidbEmbedError):
            raise udf_error.with_traceback(None) from exc
        raise EmbeddingFailedError(f"a SQL function failed: {type(udf_error).__name__}: {udf_error}") from udf_error

    @contextmanager
    def _statement(self, cursor: Any, statement: str, context: Any) -> Iterator[None]:
        """Around every statement: surface SQL-function errors; after DDL, keep vector indexes' logs in step.

        What the statement is comes from ``sql.scanner.read_statement`` (the object the cursor's hook
        reads too, read once): comments, case and ``WITH`` do not hide a CREATE INDEX.
        """
        udf_errors_of(cursor.connection).take()
        announced = context is not None and getattr(context, "tidb_embed_announced", False)
        if announced:
            cursor.connection.texts_announced = True
        read = read_statement(statement)
        if read.is_ddl and read.keyword == "CREATE" and read.ddl_object == "INDEX":
            # a vector index the engine cannot keep is refused before it exists
            check_create_index(cursor, self.identifier_preparer.quote, read)
        try:
            yield
        except self.loaded_dbapi.Error as exc:
            self._reraise_udf_error(cursor.connection, exc)
            raise
        finally:
            if announced:
                cursor.connection.texts_announced = False
        if read.is_ddl:
            self._reconcile_vector_indexes(cursor.connection)
        elif read.plain:
            return
        elif read.keyword in ("ATTACH", "DETACH") and context is not None:
            searches = context.root_connection.connection.info.get("tidb_embed_knn")
            if searches is not None:
                searches.files = None  # the schemas changed

    def _reconcile_vector_indexes(self, dbapi_connection: Any) -> None:
        reconcile_change_logs(dbapi_connection, self.identifier_preparer.quote)
        self.vector_indexes.plan_memory.clear()  # an index came or went: SQLite may plan filters differently

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        plan: Plan | None = getattr(context, "tidb_embed_plan", None)
        with self._statement(cursor, statement, context):
            if plan is None:
                cursor.execute(statement, parameters)
            else:
                answered = plan.execute(cursor, statement, parameters)
                if answered is not None:  # a plan comes from its statement's context
                    # The probe's rows are the answer (``Plan.probe_answers``): the result reads them, as
                    # SQLAlchemy's own dialects hand over rows fetched before the result exists (mssql's
                    # OUTPUT, oracle's RETURNING); the description is the probe's, the same statement's.
                    context.cursor_fetch_strategy = FullyBufferedCursorFetchStrategy(
                        cursor, cursor.description, answered)

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        plan: Plan | None = getattr(context, "tidb_embed_plan", None)
        with self._statement(cursor, statement, context):
            if plan is None:
                cursor.executemany(statement, parameters)
            else:  # searches inside (an UPDATE ... WHERE id IN (nearest ...)): each set's run as its plan says
                plan.executemany(cursor, statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any = None) -> None:
        with self._statement(cursor, statement, context):
            cursor.execute(statement)


dialect = EmbeddedDialect
