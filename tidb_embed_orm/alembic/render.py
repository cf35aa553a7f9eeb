"""How autogenerate writes our types and operations into migration scripts.

Auto-embedding columns render as themselves (``tidb_embed_orm.AutoEmbeddingVector(...)``) with
``import tidb_embed_orm`` added; the generated-column expression is implied by the type, so the
``sa.Computed(...)`` Alembic would write next to it is left out.
"""

from __future__ import annotations

from typing import Any, cast

from alembic.autogenerate import render as alembic_render
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from sqlalchemy import Column, Index, Table

from ..catalog import _REGISTRY
from ..sql.auto_embedding import AutoEmbeddingVector
from ..sql.vector import Vector
from ..sql.vector_index import VectorIndex
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


def _op(autogen_context: AutogenContext) -> str:
    return alembic_render._alembic_autogenerate_prefix(autogen_context)


def _schema(schema: str | None) -> str:
    return f", schema={schema!r}" if schema else ""


def _copy_from(autogen_context: AutogenContext, table: Table | None) -> str:
    """``, copy_from=sa.Table(...)``: the table's definition, so the rebuild also runs under ``--sql``."""
    if table is None:
        return ""
    create = alembic_render._add_table(autogen_context, ops.CreateTableOp.from_table(table))
    head = f"{_op(autogen_context)}create_table({alembic_render._ident(table.name)!r},"
    if not create.startswith(head):  # pragma: no cover - a change in Alembic's rendering
        raise RuntimeError(f"unexpected rendering of table {table.name!r}: {create[:80]!r}")
    sa = alembic_render._sqlalchemy_autogenerate_prefix(autogen_context)
    indexes = [_render_index(autogen_context, index) for index in sorted(table.indexes, key=lambda i: str(i.name))]
    body = create[len(head) : -len("\n)")] + "".join(f",\n{i}" for i in indexes if i)
    return f",\ncopy_from={sa}Table({alembic_render._ident(table.name)!r}, {sa}MetaData(),{body})"


def _render_index(autogen_context: AutogenContext, index: Index) -> str | None:
    if isinstance(index, VectorIndex):
        autogen_context.imports.add("import tidb_embed_orm")
        return (f"tidb_embed_orm.VectorIndex({str(index.name)!r}, {index.vector_column_name!r}, "
                f"metric={index.metric!r})")
    if not index.name or not all(isinstance(e, Column) for e in index.expressions):
        return None  # expression indexes: reflection cannot give them, and the rebuild keeps them online
    columns = ", ".join(repr(cast(Column[Any], e).name) for e in index.expressions)
    sa = alembic_render._sqlalchemy_autogenerate_prefix(autogen_context)
    return f"{sa}Index({str(index.name)!r}, {columns}{', unique=True' if index.unique else ''})"


@renderers.dispatch_for(AddAutoEmbeddingColumnOp)
def _render_add(autogen_context: AutogenContext, op: AddAutoEmbeddingColumnOp) -> str:
    column = alembic_render._render_column(op.column, autogen_context)
    return (f"{_op(autogen_context)}add_auto_embedding_column({op.table_name!r}, {column}{_schema(op.schema)}"
            f"{_copy_from(autogen_context, op.copy_from)})")


@renderers.dispatch_for(DropAutoEmbeddingColumnOp)
def _render_drop(autogen_context: AutogenContext, op: DropAutoEmbeddingColumnOp) -> str:
    return (f"{_op(autogen_context)}drop_auto_embedding_column({op.table_name!r}, {op.column_name!r}"
            f"{_schema(op.schema)}{_copy_from(autogen_context, op.copy_from)})")


@renderers.dispatch_for(AlterAutoEmbeddingOp)
def _render_alter(autogen_context: AutogenContext, op: AlterAutoEmbeddingOp) -> str:
    autogen_context.imports.add("import tidb_embed_orm")
    existing = f", existing_type={python_source(op.existing_type)}" if op.existing_type is not None else ""
    return (f"{_op(autogen_context)}alter_auto_embedding({op.table_name!r}, {op.column_name!r}, "
            f"{python_source(op.type_)}{existing}{_schema(op.schema)}{_copy_from(autogen_context, op.copy_from)})")


@renderers.dispatch_for(CreateVectorIndexOp)
def _render_create_index(autogen_context: AutogenContext, op: CreateVectorIndexOp) -> str:
    return (f"{_op(autogen_context)}create_vector_index({op.index_name!r}, {op.table_name!r}, "
            f"{op.column_name!r}, metric={op.metric!r}{_schema(op.schema)})")


@renderers.dispatch_for(DropVectorIndexOp)
def _render_drop_index(autogen_context: AutogenContext, op: DropVectorIndexOp) -> str:
    return f"{_op(autogen_context)}drop_vector_index({op.index_name!r}, {op.table_name!r}{_schema(op.schema)})"
