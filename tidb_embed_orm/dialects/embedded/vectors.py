"""How the embedded engine (SQLite + sqlite-vec) spells TiDB's vector functions.

Vectors travel and rest as little-endian float32 blobs (sqlite-vec's format). Distances compile
to sqlite-vec's C functions, guarded so that a NULL vector gives NULL as on TiDB; a text query
becomes ``EMBED_TEXT('model', ?, 'search options')`` from the column's own type, which SQLite evaluates once.

These are the bodies of ``EmbeddedCompiler``'s visit methods (``embedded/compiler.py``): nothing
here is registered globally, so plain ``sqlite://`` compiles as SQLAlchemy does.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.sql.compiler import SQLCompiler

from ... import codec
from ...sql.auto_embedding import AutoEmbeddingVector
from ...sql.elements import (
    VecCosineDistance,
    VecL1Distance,
    VecL2Distance,
    VecNegativeInnerProduct,
    VectorDistance,
    VectorEmbedDistance,
    VectorFunction,
    client_query_distance,
)
from ...sql.vector import WireFormat

#: How the embedded engine's driver carries vectors (the dialect's ``tidb_embed_wire_format``); vectors rest
#: as float32 blobs, and a text written by hand before the engine checked writes still reads.
BLOB_WIRE = WireFormat(encode=codec.encode_bytes, decode=codec.decode_stored)

SQLITE_VEC_DISTANCES = {
    VecCosineDistance.metric: "vec_distance_cosine",
    VecL2Distance.metric: "vec_distance_l2",
    VecL1Distance.metric: "vec_distance_l1",
    VecNegativeInnerProduct.metric: VecNegativeInnerProduct.tidb_name,  # our own SQL function
}


def _null_safe_distance(metric: str, left: str, right: str) -> str:
    function = SQLITE_VEC_DISTANCES[metric]
    return f"(CASE WHEN {left} IS NULL THEN NULL ELSE {function}({left}, {right}) END)"


def compile_distance(element: VectorDistance, compiler: SQLCompiler, **kw: Any) -> str:
    args = list(element.clauses)
    if len(args) == 1:  # the form inside a vector index definition
        return f"{element.tidb_name}({compiler.process(args[0], **kw)})"
    left, right = (compiler.process(arg, **kw) for arg in args)
    return _null_safe_distance(element.metric, left, right)


def compile_embed_distance(element: VectorEmbedDistance, compiler: SQLCompiler, **kw: Any) -> str:
    client = client_query_distance(compiler, element)
    if client is not None:
        return compiler.process(client, **kw)  # type: ignore[no-any-return]
    column, text = list(element.clauses)
    query_vector = cast(AutoEmbeddingVector, column.type).embed_query_expression(text)
    return _null_safe_distance(element.metric, compiler.process(column, **kw), compiler.process(query_vector, **kw))


def compile_own_function(element: VectorFunction, compiler: SQLCompiler, **kw: Any) -> str:
    """VEC_DIMS, VEC_L2_NORM, VEC_AS_TEXT: SQL functions the engine registers under TiDB's names."""
    return f"{element.tidb_name}({compiler.process(element.clauses, **kw)})"
