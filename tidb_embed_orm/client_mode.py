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

from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Computed, event, type_coerce
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.dml import Insert, Update
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.types import UserDefinedType

from .auto_embedding import AutoEmbeddingVector, auto_embedding_columns
from .embedders.base import Embedder
from .embedders.cache import EmbeddingService, ProgressCallback
from .embedders.registry import resolve_embedder
from .errors import TidbEmbedError
from .functions import DISTANCES, VectorEmbedDistance
from .providers import client_credentials
from .vector import wire_format


class ClientEmbeddingError(TidbEmbedError, ValueError):
    """A statement whose embeddings cannot be computed on the client as written."""


def is_client_mode(dialect: Dialect) -> bool:
    return bool(getattr(dialect, "tidb_embed_client_mode", False))


def use_client_embedding(
    engine: Engine,
    *,
    embedders: Mapping[str, Embedder] | None = None,
    batch_size: int | None = None,
    cache_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> Engine:
    """Make ``engine`` embed on the client; returns the engine. Keys set afterwards stay in the client.

    ``batch_size`` (default 64) is the number of texts per embedder call; ``cache_size`` (default
    10,000) bounds the cache of embedded texts.
    """
    dialect = engine.dialect
    overrides = dict(embedders or {})
    service = getattr(dialect, "embedding_service", None)
    if service is None or embedders:
        service = dialect.embedding_service = EmbeddingService(  # type: ignore[attr-defined]
            lambda model: resolve_embedder(model, overrides, lambda provider: client_credentials(dialect, provider))
        )
    if batch_size is not None:
        service.batch_size = batch_size
    if cache_size is not None:
        service.cache_size = cache_size
    if progress is not None:
        service.progress = progress
    dialect.tidb_embed_client_mode = True  # type: ignore[attr-defined]
    dialect.tidb_embed_client_side = True  # type: ignore[attr-defined]
    if not event.contains(engine, "before_execute", _fill_embeddings):
        event.listen(engine, "before_execute", _fill_embeddings, retval=True)
    return engine


class QueryVector(UserDefinedType[str]):  # type: ignore[type-arg]
    """A bound query text that reaches the database as its embedding (embedded once per statement)."""

    cache_ok = True

    def __init__(self, model: str, options_json: str | None, dim: int) -> None:
        self.model, self.options_json, self.dim = model, options_json, dim

    def get_col_spec(self, **kw: Any) -> str:
        return f"VECTOR({self.dim})"

    def bind_processor(self, dialect: Dialect) -> Any:
        service: EmbeddingService = dialect.embedding_service  # type: ignore[attr-defined]
        encode = wire_format(dialect).encode
        model, options_json, dim = self.model, self.options_json, self.dim

        def process(text: Any) -> Any:
            return None if text is None else encode(service.embed_one(model, str(text), options_json), dim)

        return process


def client_distance(element: VectorEmbedDistance) -> ColumnElement[float]:
    """``VEC_EMBED_<METRIC>_DISTANCE(col, text)`` as ``VEC_<METRIC>_DISTANCE(col, <text's vector>)``."""
    column, text = list(element.clauses)
    column_type = cast(AutoEmbeddingVector, column.type)
    query = type_coerce(text, QueryVector(column_type.model, column_type.search_options_json, column_type.dim or 0))
    return DISTANCES[element.metric](column, query)


@compiles(Computed)
def _computed(element: Computed, compiler: DDLCompiler, **kw: Any) -> str:
    column = element.column
    if column is not None and isinstance(column.type, AutoEmbeddingVector) and is_client_mode(compiler.dialect):
        return ""  # the client fills the column: a plain VECTOR(N)
    return compiler.visit_computed_column(element, **kw)


def _embed_rows(service: EmbeddingService, rows: list[dict[str, Any]], targets: list[tuple[Any, Any]]) -> None:
    for column, source in targets:
        carrying = [row for row in rows if source.key in row and column.key not in row]
        texts = [row[source.key] for row in carrying if isinstance(row[source.key], str)]
        vectors = iter(service.embed(column.type.model, texts, column.type.stored_options_json)) if texts else iter(())
        for row in carrying:
            row[column.key] = next(vectors) if isinstance(row[source.key], str) else None


def _fill_embeddings(
    conn: Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
) -> tuple[Any, Any, Any]:
    if not isinstance(clauseelement, (Insert, Update)) or not is_client_mode(conn.dialect):
        return clauseelement, multiparams, params
    targets = auto_embedding_columns(clauseelement.table)
    if not targets:
        return clauseelement, multiparams, params
    service: EmbeddingService = conn.dialect.embedding_service  # type: ignore[attr-defined]
    if multiparams:
        rows = [dict(row) for row in multiparams]
        _embed_rows(service, rows, targets)
        return clauseelement, rows, params
    if params:
        rows = [dict(params)]
        _embed_rows(service, rows, targets)
        return clauseelement, multiparams, rows[0]
    if getattr(clauseelement, "_multi_values", None):
        raise ClientEmbeddingError(
            "insert().values([...many rows...]) cannot get client-side embeddings: pass the rows as "
            "parameters instead, conn.execute(insert(table), rows), and they are embedded in one batch"
        )
    values = getattr(clauseelement, "_values", None) or {}
    row = {}
    for key, value in values.items():
        name = getattr(key, "key", key)
        if isinstance(value, BindParameter):
            row[name] = value.value
    _embed_rows(service, [row], [(c, s) for c, s in targets if s.key in row])
    extra = {c.key: row[c.key] for c, s in targets if c.key in row and s.key in row}
    if extra:
        clauseelement = clauseelement.values(**extra)
    return clauseelement, multiparams, params
