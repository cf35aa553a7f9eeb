"""How autogenerate writes our types and operations into migration scripts.

Auto-embedding columns render as themselves (``tidb_embed_orm.AutoEmbeddingVector(...)``) with
``import tidb_embed_orm`` added; the generated-column expression is implied by the type, so the
``sa.Computed(...)`` Alembic would write next to it is left out.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import render as alembic_render
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.ddl.impl import DefaultImpl

from ..auto_embedding import AutoEmbeddingVector
from ..models import _REGISTRY
from ..vector import Vector
from .operations import (
    AddAutoEmbeddingColumnOp,
    AlterAutoEmbeddingOp,
    CreateVectorIndexOp,
    DropAutoEmbeddingColumnOp,
    DropVectorIndexOp,
)


def python_source(type_: Vector) -> str:
    """The constructor call that recreates ``type_``, as a migration script should show it."""
    if not isinstance(type_, AutoEmbeddingVector):
        return "tidb_embed_orm.Vector()" if type_.dim is None else f"tidb_embed_orm.Vector({type_.dim})"
    args = [_py_str(type_.model), f"source={_py_str(type_.source)}"]
    options = dict(type_.options or {})
    entry = _REGISTRY.get(type_.model)
    if entry is None or type_.dim != entry.dim:
        args.append(f"dim={type_.dim}")
        if entry is not None and entry.dim_option and options.get(entry.dim_option) == type_.dim:
            del options[entry.dim_option]
    if options:
        args.append(f"options={options!r}")
    return f"tidb_embed_orm.AutoEmbeddingVector({', '.join(args)})"


def _py_str(value: str) -> str:
    body = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{body}"'


_original_render_type = DefaultImpl.render_type


def _render_type(self: DefaultImpl, type_: Any, autogen_context: AutogenContext) -> Any:
    if isinstance(type_, Vector):
        autogen_context.imports.add("import tidb_embed_orm")
        return python_source(type_)
    return _original_render_type(self, type_, autogen_context)


_original_render_server_default = alembic_render._render_server_default


def _render_server_default(default: Any, autogen_context: AutogenContext, repr_: bool = True) -> Any:
    column = getattr(default, "column", None)
    if column is not None and isinstance(column.type, AutoEmbeddingVector):
        return None  # the type attaches its own GENERATED ALWAYS AS (EMBED_TEXT(...)) STORED
    return _original_render_server_default(default, autogen_context, repr_)


DefaultImpl.render_type = _render_type  # type: ignore[method-assign, assignment]
alembic_render._render_server_default = _render_server_default


def _op(autogen_context: AutogenContext) -> str:
    return alembic_render._alembic_autogenerate_prefix(autogen_context)


def _schema(schema: str | None) -> str:
    return f", schema={schema!r}" if schema else ""


@renderers.dispatch_for(AddAutoEmbeddingColumnOp)
def _render_add(autogen_context: AutogenContext, op: AddAutoEmbeddingColumnOp) -> str:
    column = alembic_render._render_column(op.column, autogen_context)
    return f"{_op(autogen_context)}add_auto_embedding_column({op.table_name!r}, {column}{_schema(op.schema)})"


@renderers.dispatch_for(DropAutoEmbeddingColumnOp)
def _render_drop(autogen_context: AutogenContext, op: DropAutoEmbeddingColumnOp) -> str:
    return (f"{_op(autogen_context)}drop_auto_embedding_column({op.table_name!r}, {op.column_name!r}"
            f"{_schema(op.schema)})")


@renderers.dispatch_for(AlterAutoEmbeddingOp)
def _render_alter(autogen_context: AutogenContext, op: AlterAutoEmbeddingOp) -> str:
    autogen_context.imports.add("import tidb_embed_orm")
    existing = f", existing_type={python_source(op.existing_type)}" if op.existing_type is not None else ""
    return (f"{_op(autogen_context)}alter_auto_embedding({op.table_name!r}, {op.column_name!r}, "
            f"{python_source(op.type_)}{existing}{_schema(op.schema)})")


@renderers.dispatch_for(CreateVectorIndexOp)
def _render_create_index(autogen_context: AutogenContext, op: CreateVectorIndexOp) -> str:
    return (f"{_op(autogen_context)}create_vector_index({op.index_name!r}, {op.table_name!r}, "
            f"{op.column_name!r}, metric={op.metric!r}{_schema(op.schema)})")


@renderers.dispatch_for(DropVectorIndexOp)
def _render_drop_index(autogen_context: AutogenContext, op: DropVectorIndexOp) -> str:
    return f"{_op(autogen_context)}drop_vector_index({op.index_name!r}, {op.table_name!r}{_schema(op.schema)})"
