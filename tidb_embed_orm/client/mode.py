"""Client-side embedding, for databases without EMBED_TEXT (self-managed TiDB, TiDB Cloud Dedicated).

``use_client_embedding(engine)`` keeps the models unchanged and moves the embedding into the client:

- DDL: auto-embedding columns become plain ``VECTOR(N)`` (no ``GENERATED ... EMBED_TEXT``);
- writes: every INSERT/UPDATE carrying source text (ORM flushes, Core ``insert()`` with one row or
  many) gets its vectors before it is sent, in one batched embedder call per statement; an
  embedding failure raises before anything is written;
- queries: ``.cosine_distance("text")`` compiles to ``VEC_COSINE_DISTANCE(col, %s)`` and the text
  is embedded once, as the statement's parameter is processed.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import Computed, bindparam, event, type_coerce, util
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import UserDefinedType

from ..embedders.base import Embedder
from ..embedders.cache import EmbeddingService, ProgressCallback
from ..embedders.local import check_backend
from ..embedders.registry import resolve_embedder
from ..embedding_mode import EmbeddingMode, mode_of
from ..exc import ClientEmbeddingError, ClientFilledColumnError
from ..ext.offload import off_loop
from ..providers import client_credentials
from ..sql.auto_embedding import AutoEmbeddingVector, auto_embedding_columns
from ..sql.elements import DISTANCES, VectorEmbedDistance
from ..sql.vector import wire_format
from . import marks as client_filled
from .guard import FILLED_BY_CLIENT, refuse_raw_writes
from .marks import client_filled_marker

EngineT = TypeVar("EngineT")


client_filled.install()  # engines without client mode refuse to write texts into client-filled tables


def is_client_mode(dialect: Dialect) -> bool:
    """True where ``use_client_embedding`` made the client fill the dialect's auto-embedding columns."""
    return mode_of(dialect).fills_columns


def use_client_embedding(
    engine: EngineT,
    *,
    embedders: Mapping[str, Embedder] | None = None,
    batch_size: int | None = None,
    cache_size: int | None = None,
    progress: ProgressCallback | None = None,
    local_model_backend: str | None = None,
) -> EngineT:
    """Make ``engine`` (or an ``AsyncEngine``) embed on the client; returns it. Keys set afterwards stay in the client.

    With an async engine the embedding runs in the event loop's executor, never on its thread.

    ``batch_size`` (default 64) is the number of texts per embedder call; ``cache_size`` (default
    10,000) bounds the cache of embedded texts. ``local_model_backend`` runs local models with
    ``"torch"`` (the default) or ``"openvino"`` (the ``openvino`` extra), unless a model was
    registered with its own (``register_local_model(..., backend=...)``).
    """
    # An AsyncEngine's events live on its sync_engine.
    target: Engine = getattr(engine, "sync_engine", cast(Engine, engine))
    dialect = target.dialect
    overrides = dict(embedders or {})
    service = getattr(dialect, "embedding_service", None)
    backend = check_backend(local_model_backend or "torch")
    if service is None or embedders or local_model_backend:
        service = dialect.embedding_service = EmbeddingService(  # type: ignore[attr-defined]
            lambda model: resolve_embedder(
                model, overrides, lambda provider: client_credentials(dialect, provider), local_backend=backend
            )
        )
    if batch_size is not None:
        service.batch_size = batch_size
    if cache_size is not None:
        service.cache_size = cache_size
    if progress is not None:
        service.progress = progress
    dialect.tidb_embed_mode = EmbeddingMode(  # type: ignore[attr-defined]
        keys_in_client=True, fills_columns=True, query_distance=client_distance
    )
    target.clear_compiled_cache()  # statements compiled before compile to VEC_EMBED_* / EMBED_TEXT DDL
    if not event.contains(target, "before_execute", _fill_embeddings):
        event.listen(target, "before_execute", _fill_embeddings, retval=True)
    if not event.contains(target, "before_cursor_execute", refuse_raw_writes):
        event.listen(target, "before_cursor_execute", refuse_raw_writes)
    return engine


class QueryVector(UserDefinedType[str]):  # type: ignore[type-arg]
    """A bound query text that reaches the database as its embedding (embedded once per statement)."""

    cache_ok = True

    def __init__(self, column_type: AutoEmbeddingVector) -> None:
        self.column_type, self.dim = column_type, column_type.dim or 0

    def get_col_spec(self, **kw: Any) -> str:
        return f"VECTOR({self.dim})"

    def bind_processor(self, dialect: Dialect) -> Any:
        service: EmbeddingService = dialect.embedding_service  # type: ignore[attr-defined]
        encode = wire_format(dialect).encode
        column_type, dim = self.column_type, self.dim

        def process(text: Any) -> Any:
            if text is None:
                return None
            return encode(off_loop(dialect, service.embed_query, column_type, str(text)), dim)

        return process


def client_distance(element: VectorEmbedDistance) -> ColumnElement[float]:
    """``VEC_EMBED_<METRIC>_DISTANCE(col, text)`` as ``VEC_<METRIC>_DISTANCE(col, <text's vector>)``."""
    column, text = list(element.clauses)
    column_type = cast(AutoEmbeddingVector, column.type)
    query = type_coerce(text, QueryVector(column_type))
    return DISTANCES[element.metric](column, query)


@compiles(Computed)
def _computed(element: Computed, compiler: DDLCompiler, **kw: Any) -> str:
    column = element.column
    if column is not None and isinstance(column.type, AutoEmbeddingVector) and is_client_mode(compiler.dialect):
        # the client fills the column: a plain VECTOR(N), marked so the table says how it is filled
        return client_filled_marker(column, compiler.dialect)
    return compiler.visit_computed_column(element, **kw)


def _texts_and_vectors(dialect: Dialect, service: EmbeddingService, column: Any, texts: list[Any]) -> list[Any]:
    """One vector per text (None for a non-string text), embedded in one batched call (off the event loop)."""
    strings = [t for t in texts if isinstance(t, str)]
    embedded = off_loop(dialect, service.embed_stored, column.type, strings)
    vectors = iter(embedded) if strings else iter(())
    return [next(vectors) if isinstance(t, str) else None for t in texts]


def _key(name: Any) -> str:
    return str(getattr(name, "key", name))


def _fill_embeddings(
    conn: Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
) -> tuple[Any, Any, Any]:
    """Before a statement runs: give every row that writes a source text its vector, or refuse the statement."""
    if not isinstance(clauseelement, (Insert, Update)) or not is_client_mode(conn.dialect):
        return clauseelement, multiparams, params
    targets = auto_embedding_columns(clauseelement.table)
    if not targets:
        return clauseelement, multiparams, params
    service: EmbeddingService = conn.dialect.embedding_service  # type: ignore[attr-defined]
    rows = [dict(row) for row in multiparams] if multiparams else [dict(params or {})]
    if getattr(clauseelement, "_multi_values", None):
        raise ClientEmbeddingError(
            "insert().values([...many rows...]) cannot get client-side embeddings: pass the rows as "
            "parameters instead, conn.execute(insert(table), rows), and they are embedded in one batch"
        )
    if isinstance(clauseelement, Insert) and clauseelement.select is not None:
        _check_from_select(clauseelement, targets)
        return clauseelement, multiparams, params
    values = {_key(k): v for k, v in (clauseelement._values or {}).items()}
    library = _written_by_library(conn, clauseelement, execution_options)
    for column, source in targets:
        if column.key in values or any(column.key in row for row in rows):
            if library:
                continue  # the library writes vectors it embedded itself
            raise ClientFilledColumnError(_assigned_message(clauseelement, column, source))
        value = values.get(source.key)
        if value is None:
            carrying = [row for row in rows if source.key in row]
            vectors = _texts_and_vectors(conn.dialect, service, column, [r[source.key] for r in carrying])
            for row, vector in zip(carrying, vectors, strict=True):
                row[column.key] = vector
        elif isinstance(value, BindParameter) and value.key in rows[0]:
            name = f"tidb_embed_{column.key}"
            vectors = _texts_and_vectors(conn.dialect, service, column, [r.get(value.key) for r in rows])
            for row, vector in zip(rows, vectors, strict=True):
                row[name] = vector
            clauseelement = _with_value(clauseelement, column, bindparam(name, type_=column.type))
        elif isinstance(value, BindParameter) and not value.required:
            [vector] = _texts_and_vectors(conn.dialect, service, column, [value.effective_value])
            clauseelement = _with_value(clauseelement, column, bindparam(None, vector, type_=column.type))
        else:
            raise ClientEmbeddingError(
                f"{_verb(clauseelement)} sets {source.key} to an SQL expression, whose text only the "
                f"database knows, so {column.key} cannot be embedded on the client: compute the new text in Python "
                f"and pass it as a value (e.g. .values({source.key}=new_text))"
            )
    clauseelement = _upsert_keeps_vectors(clauseelement, targets, library)
    if multiparams:
        return clauseelement, rows, params
    return clauseelement, multiparams, rows[0] if (params or rows[0]) else params


def _written_by_library(conn: Connection, statement: Any, execution_options: Any) -> bool:
    """Whether the library itself runs ``statement`` with vectors it embedded (``FILLED_BY_CLIENT``)."""
    return bool(
        conn.info.get(FILLED_BY_CLIENT)
        or (execution_options or {}).get(FILLED_BY_CLIENT)
        or statement.get_execution_options().get(FILLED_BY_CLIENT)
        or conn.get_execution_options().get(FILLED_BY_CLIENT)
    )


def _verb(statement: Any) -> str:
    """``INSERT`` / ``UPDATE`` (the ORM's annotated statement classes have other names)."""
    return "INSERT" if isinstance(statement, Insert) else "UPDATE"


def _assigned_message(statement: Any, column: Any, source: Any) -> str:
    return (
        f"{_verb(statement)} assigns a value to {column.table.name}.{column.name}, which client mode "
        f"fills from {source.name} on every write (as TiDB computes the generated column, and refuses a value "
        f"for it): set {source.name} and its vector follows; leave {column.name} out of the statement (the ORM "
        f"attribute too)"
    )


def _with_value(statement: Any, column: Any, value: Any) -> Any:
    """``statement`` also writing ``column`` (after ``ordered_values()`` too, which ``values()`` refuses)."""
    if not getattr(statement, "_maintain_values_ordering", False):
        return statement.values({column: value})
    statement = statement._generate()
    statement._values = util.immutabledict({**statement._values, column: value})
    return statement


def _check_from_select(statement: Any, targets: list[tuple[Any, Any]]) -> None:
    names = {_key(name) for name in statement._select_names or ()}
    for column, source in targets:
        if source.key in names and column.key not in names:
            raise ClientEmbeddingError(
                f"INSERT ... SELECT writes {source.key} but the vectors of its texts would have to be embedded on "
                f"the client: select the rows first and insert them as parameters, conn.execute(insert(table), "
                f"rows) (one batch), or select {column.key} too when copying rows that already have vectors"
            )


def _upsert_keeps_vectors(statement: Any, targets: list[tuple[Any, Any]], library: bool = False) -> Any:
    """ON CONFLICT / ON DUPLICATE KEY updates that change the text take the inserted row's vector too."""
    clause = getattr(statement, "_post_values_clause", None)
    assignments = getattr(clause, "update_values_to_set", None)
    if assignments is None:
        assignments = getattr(clause, "update", None)
    if not assignments:
        return statement
    assigned = {_key(k): v for k, v in dict(assignments).items()}
    extra = {}
    for column, source in targets:
        if column.key in assigned and not library and not _is_inserted(assigned[column.key], column.key):
            raise ClientFilledColumnError(
                f"the upsert sets {column.name}, which client mode fills from {source.name}: set {source.key} "
                f"from the inserted row (stmt.excluded.{source.key} / stmt.inserted.{source.key}) and its vector "
                f"follows; leave {column.key} out of the update"
            )
        if source.key not in assigned or column.key in assigned:
            continue
        value = assigned[source.key]
        if _is_inserted(value, source.key):
            extra[column.key] = value.table.c[column.key]  # the vector embedded for the inserted row
            continue
        raise ClientEmbeddingError(
            f"the upsert sets {source.key} to something other than the inserted row's text, so {column.key} cannot "
            f"be embedded on the client: set {source.key} from the inserted row (stmt.excluded.{source.key} / "
            f"stmt.inserted.{source.key}), or update the row with a separate UPDATE carrying the new text"
        )
    if not extra:
        return statement
    new_clause: Any = copy.copy(clause)
    if hasattr(new_clause, "update_values_to_set"):
        new_clause.update_values_to_set = {**dict(new_clause.update_values_to_set), **extra}
    else:
        new_clause.update = {**dict(new_clause.update), **extra}
    statement = statement._generate()
    statement._post_values_clause = new_clause
    return statement


def _is_inserted(value: Any, key: str) -> bool:
    """Whether ``value`` is the inserted row's ``key`` (``stmt.excluded.<key>`` / ``stmt.inserted.<key>``)."""
    alias = getattr(getattr(value, "table", None), "name", None)
    return getattr(value, "key", None) == key and alias in ("excluded", "inserted")
