"""Every patch of Alembic's internals, in one module, installed once by ``import tidb_embed_orm.alembic``.

Alembic offers public hooks for these (``include_object`` and ``render_item`` in ``env.py``), but
they belong to the user's ``env.py``: requiring every project to wire them would make the one
import line the README promises a recipe to get wrong. So the library wraps the methods behind
those hooks, each wrapper handling only the library's own objects and calling Alembic's original
for everything else:

- ``AutogenContext.run_object_filters``: the library's objects are compared by its own comparators
  (``compare.py``, ``fulltext.py``), so Alembic's generic comparison must not see them too:
  vector indexes, a removed auto-embedding column (dropped by ``DropAutoEmbeddingColumnOp``),
  FULLTEXT indexes, and the embedded engine's FTS5 tables (part of an index, not of the model);
- ``DefaultImpl._skip_functional_indexes``: a ``VectorIndex`` is an expression index SQLAlchemy
  cannot reflect; the generic index comparison would otherwise drop and re-create it every time;
- ``DefaultImpl.render_type``: ``Vector`` / ``AutoEmbeddingVector`` render as ``tidb_embed_orm.…``
  with their arguments; ``SearchableText`` renders as ``sa.Text()``;
- ``alembic.autogenerate.render._render_server_default``: an auto-embedding column's
  ``GENERATED ALWAYS AS (EMBED_TEXT(...))`` is part of its type, not a server default to render.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import render as alembic_render
from alembic.autogenerate.api import AutogenContext
from alembic.ddl.impl import DefaultImpl

from ..dialects.embedded.fts5 import PREFIX as FTS5_PREFIX
from ..sql.auto_embedding import AutoEmbeddingVector
from ..sql.fulltext import FulltextIndex, SearchableText
from ..sql.vector import Vector
from ..sql.vector_index import VectorIndex
from .render import python_source

_installed = False
#: Alembic's own object filters (the user's include_object / include_name), for the library's comparators.
alembic_run_object_filters = AutogenContext.run_object_filters


def _compared_by_the_library(object_: Any, name: Any, type_: str, reflected: bool, compare_to: Any) -> bool:
    if isinstance(object_, VectorIndex):
        return True
    if type_ == "column" and reflected and compare_to is None and isinstance(object_.type, AutoEmbeddingVector):
        return True  # a removed auto-embedding column: DropAutoEmbeddingColumnOp
    if type_ == "index" and (
        isinstance(object_, FulltextIndex) or str(object_.dialect_kwargs.get("mysql_prefix", "")).upper() == "FULLTEXT"
    ):
        return True  # fulltext._compare_fulltext_indexes
    return type_ == "table" and reflected and str(name).startswith(FTS5_PREFIX)


def install() -> None:
    """Wrap Alembic's methods (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    run_object_filters = alembic_run_object_filters
    skip_functional_indexes = DefaultImpl._skip_functional_indexes
    render_type = DefaultImpl.render_type
    render_server_default = alembic_render._render_server_default

    def _run_object_filters(self: AutogenContext, object_: Any, name: Any, type_: Any, reflected: bool,
                            compare_to: Any) -> bool:
        if _compared_by_the_library(object_, name, type_, reflected, compare_to):
            return False
        return run_object_filters(self, object_, name, type_, reflected, compare_to)

    def _skip_functional_indexes(self: DefaultImpl, metadata_indexes: Any, conn_indexes: Any) -> None:
        for index in [i for i in metadata_indexes if isinstance(i, VectorIndex)]:
            metadata_indexes.discard(index)
        skip_functional_indexes(self, metadata_indexes, conn_indexes)

    def _render_type(self: DefaultImpl, type_: Any, autogen_context: AutogenContext) -> Any:
        if isinstance(type_, SearchableText):
            return "sa.Text()"  # the column is TEXT; .fts_match() is a Python-side convenience
        if isinstance(type_, Vector):
            autogen_context.imports.add("import tidb_embed_orm")
            return python_source(type_)
        return render_type(self, type_, autogen_context)

    def _render_server_default(default: Any, autogen_context: AutogenContext, repr_: bool = True) -> Any:
        column = getattr(default, "column", None)
        if column is not None and isinstance(column.type, AutoEmbeddingVector):
            return None  # the type attaches its own GENERATED ALWAYS AS (EMBED_TEXT(...)) STORED
        return render_server_default(default, autogen_context, repr_)

    AutogenContext.run_object_filters = _run_object_filters  # type: ignore[method-assign]
    DefaultImpl._skip_functional_indexes = _skip_functional_indexes  # type: ignore[method-assign]
    DefaultImpl.render_type = _render_type  # type: ignore[method-assign, assignment]
    alembic_render._render_server_default = _render_server_default
