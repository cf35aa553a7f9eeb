"""TiDB's vector SQL functions as SQLAlchemy constructs.

The default compilation is TiDB's own spelling (used by the ``mysql`` dialect). A backend of this
library spells them its own way in its compiler class, as SQLAlchemy's dialects do: the embedded
engine's ``EmbeddedCompiler`` has a ``visit_<tidb_visit_name>`` method for each (see
:func:`backend_visit`), so no rule is keyed on a dialect *name* and plain ``sqlite://`` is untouched.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Float, Integer, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import coercions, roles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from ..embedding_mode import mode_of

METRICS = ("cosine", "l2", "l1", "negative_inner_product")
INDEX_METRICS = ("cosine", "l2")


def backend_visit(compiler: Any, element: Any, **kw: Any) -> str | None:
    """``element`` compiled by the compiler's own ``visit_<element.tidb_visit_name>``, or None.

    The library's backends (the embedded engine) define those methods on their compiler classes;
    SQLAlchemy's own compilers (TiDB through ``mysql``) have none, and TiDB's spelling follows.
    """
    visit = getattr(compiler, "visit_" + element.tidb_visit_name, None)
    return None if visit is None else visit(element, **kw)  # type: ignore[no-any-return]


class VectorFunction(FunctionElement[Any]):
    """A TiDB function whose SQL name is ``tidb_name``."""

    tidb_name = ""
    tidb_visit_name = "tidb_vector_function"
    inherit_cache = True


class VectorDistance(VectorFunction):
    inherit_cache = True
    """``VEC_<METRIC>_DISTANCE(a, b)``; with one argument, the form a vector index is built on."""

    type = Float()
    metric = ""
    tidb_visit_name = "tidb_vector_distance"


class VectorEmbedDistance(VectorFunction):
    inherit_cache = True
    """``VEC_EMBED_<METRIC>_DISTANCE(auto_embedding_column, 'query text')``: TiDB embeds the text."""

    type = Float()
    metric = ""
    tidb_visit_name = "tidb_vector_embed_distance"


FunctionT = TypeVar("FunctionT", bound=VectorFunction)


def _tidb_function(base: type[FunctionT], tidb_name: str, **attributes: Any) -> type[FunctionT]:
    """The class of one TiDB function, ``VEC_COSINE_DISTANCE`` -> ``VecCosineDistance``.

    Each class says ``inherit_cache`` itself, as SQLAlchemy requires of every element class that
    takes part in statement caching.
    """
    name = "".join(part.capitalize() for part in tidb_name.lower().split("_"))
    namespace = {"inherit_cache": True, "tidb_name": tidb_name, "__module__": __name__, "__qualname__": name}
    return type(name, (base,), {**namespace, **attributes})


#: metric -> the TiDB function name after ``VEC_`` / ``VEC_EMBED_`` (pkg/expression/builtin_vec.go).
_METRIC_FUNCTIONS = {
    "cosine": "COSINE_DISTANCE",
    "l2": "L2_DISTANCE",
    "l1": "L1_DISTANCE",
    "negative_inner_product": "NEGATIVE_INNER_PRODUCT",
}
DISTANCES: dict[str, type[VectorDistance]] = {
    metric: _tidb_function(VectorDistance, f"VEC_{function}", metric=metric)
    for metric, function in _METRIC_FUNCTIONS.items()
}
EMBED_DISTANCES: dict[str, type[VectorEmbedDistance]] = {
    metric: _tidb_function(VectorEmbedDistance, f"VEC_EMBED_{function}", metric=metric)
    for metric, function in _METRIC_FUNCTIONS.items()
}
VecCosineDistance, VecL2Distance, VecL1Distance, VecNegativeInnerProduct = DISTANCES.values()
VecEmbedCosineDistance, VecEmbedL2Distance, VecEmbedL1Distance, VecEmbedNegativeInnerProduct = EMBED_DISTANCES.values()
VecDims = _tidb_function(VectorFunction, "VEC_DIMS", type=Integer())
VecL2Norm = _tidb_function(VectorFunction, "VEC_L2_NORM", type=Float())
VecAsText = _tidb_function(VectorFunction, "VEC_AS_TEXT", type=Text())


class SourceColumnRef(ColumnElement[str]):
    """The source column inside a generation expression: always a quoted bare identifier."""

    inherit_cache = True
    _traverse_internals = [("name", InternalTraversal.dp_string)]

    def __init__(self, name: str) -> None:
        self.name = name


class EmbedText(ColumnElement[bytes]):
    """``EMBED_TEXT('provider/model', text[, 'json options'])``: model and options are constants.

    ``text`` is a child clause: cloning, adaptation (aliases) and cache keys see it as they see
    the arguments of any built-in function.
    """

    inherit_cache = True
    _traverse_internals = [
        ("model", InternalTraversal.dp_string),
        ("text", InternalTraversal.dp_clauseelement),
        ("options_json", InternalTraversal.dp_string),
    ]

    def __init__(self, model: str, text: ColumnElement[Any], options_json: str | None = None) -> None:
        self.model = model
        self.text = coercions.expect(roles.ExpressionElementRole, text)
        self.options_json = options_json


def render_string_literal(compiler: SQLCompiler, value: str) -> str:
    """``value`` as a SQL string literal of ``compiler``'s dialect."""
    return compiler.render_literal_value(value, Text())


def client_query_distance(compiler: SQLCompiler, element: VectorEmbedDistance) -> ColumnElement[float] | None:
    """``element`` as the client embeds it, on an engine in client mode (``use_client_embedding``); else None.

    Client mode puts the rewrite in its dialect's ``EmbeddingMode``: the core asks the mode for it
    and never imports client mode.
    """
    rewrite = mode_of(compiler.dialect).query_distance
    return None if rewrite is None else rewrite(element)  # type: ignore[no-any-return]


@compiles(VectorFunction)
def _compile_tidb_function(element: VectorFunction, compiler: SQLCompiler, **kw: Any) -> str:
    own = backend_visit(compiler, element, **kw)
    if own is not None:
        return own
    if isinstance(element, VectorEmbedDistance):
        client = client_query_distance(compiler, element)
        if client is not None:
            return compiler.process(client, **kw)  # type: ignore[no-any-return]
    return f"{element.tidb_name}({compiler.process(element.clauses, **kw)})"


@compiles(SourceColumnRef)
def _compile_source_ref(element: SourceColumnRef, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.preparer.quote_identifier(element.name)


@compiles(EmbedText)
def _compile_embed_text(element: EmbedText, compiler: SQLCompiler, **kw: Any) -> str:
    args = [render_string_literal(compiler, element.model), compiler.process(element.text, **kw)]
    if element.options_json is not None:
        args.append(render_string_literal(compiler, element.options_json))
    return f"EMBED_TEXT({', '.join(args)})"
