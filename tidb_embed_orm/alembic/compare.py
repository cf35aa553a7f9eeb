"""What autogenerate sees: auto-embedding changes become rebuild operations, vector indexes are compared.

Alembic's own comparisons stay in charge of everything else. For our columns they would propose
what TiDB refuses (ALTER of a generated column, ADD COLUMN ... STORED), or compare expression
indexes SQLAlchemy cannot reflect, so those cases are taken over here.
"""

from __future__ import annotations

from typing import Any

from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.compare import comparators
from alembic.operations import ops
from alembic.util import DispatchPriority, PriorityDispatchResult
from sqlalchemy import Table

from ..client.marks import MARK
from ..sql.auto_embedding import AutoEmbeddingVector
from ..sql.reflection import reflect_vector_indexes
from ..sql.vector import Vector
from ..sql.vector_index import VectorIndex
from .operations import (
    AddAutoEmbeddingColumnOp,
    AlterAutoEmbeddingOp,
    CreateVectorIndexOp,
    DropAutoEmbeddingColumnOp,
    DropVectorIndexOp,
)
from .patches import alembic_run_object_filters
from .rebuild.plan import reshaped_table


def signature(type_: Any) -> tuple[Any, ...] | None:
    if isinstance(type_, AutoEmbeddingVector):
        return (type_.model, type_.source, type_.dim, type_.options_json)
    return None


@comparators.dispatch_for("column", subgroup="types", priority=DispatchPriority.FIRST)
def _compare_vector_types(
    autogen_context: AutogenContext, alter_column_op: ops.AlterColumnOp, schema: str | None, tname: str,
    cname: str, conn_col: Any, metadata_col: Any,
) -> PriorityDispatchResult:
    conn_type, metadata_type = conn_col.type, metadata_col.type
    if isinstance(conn_type, AutoEmbeddingVector) or isinstance(metadata_type, AutoEmbeddingVector):
        return PriorityDispatchResult.STOP  # handled by _compare_auto_embedding_table
    if isinstance(conn_type, Vector) and isinstance(metadata_type, Vector):
        if conn_type.dim != metadata_type.dim:
            alter_column_op.existing_type = conn_type
            alter_column_op.modify_type = metadata_type
        return PriorityDispatchResult.STOP
    return PriorityDispatchResult.CONTINUE


@comparators.dispatch_for("column", subgroup="server_default", priority=DispatchPriority.FIRST)
def _skip_generated_expression(
    autogen_context: AutogenContext, alter_column_op: ops.AlterColumnOp, schema: str | None, tname: str,
    cname: str, conn_col: Any, metadata_col: Any,
) -> PriorityDispatchResult:
    if isinstance(conn_col.type, AutoEmbeddingVector) or isinstance(metadata_col.type, AutoEmbeddingVector):
        return PriorityDispatchResult.STOP  # the expression is the type's: compared as the type
    return PriorityDispatchResult.CONTINUE


@comparators.dispatch_for("column", subgroup="comments", priority=DispatchPriority.FIRST)
def _skip_client_filled_mark(
    autogen_context: AutogenContext, alter_column_op: ops.AlterColumnOp, schema: str | None, tname: str,
    cname: str, conn_col: Any, metadata_col: Any,
) -> PriorityDispatchResult:
    if (isinstance(metadata_col.type, AutoEmbeddingVector) and not metadata_col.comment
            and str(conn_col.comment or "").startswith(MARK)):
        return PriorityDispatchResult.STOP  # client mode's mark (client_filled.py), not a user's comment
    return PriorityDispatchResult.CONTINUE


@comparators.dispatch_for("table", subgroup="tidb_embed", priority=DispatchPriority.LAST)
def _compare_auto_embedding_table(
    autogen_context: AutogenContext, modify_table_ops: ops.ModifyTableOps, schema: str | None, tname: str,
    conn_table: Table | None, metadata_table: Table | None,
) -> None:
    """Vector-index drops, then our rebuilds, then Alembic's own operations, then vector-index creates:
    a rebuild never meets an index about to be dropped, and new indexes are built once, on the final table."""
    before = len(modify_table_ops.ops)
    _compare_vector_indexes(autogen_context, modify_table_ops, schema, tname, conn_table, metadata_table)
    index_ops = modify_table_ops.ops[before:]
    del modify_table_ops.ops[before:]
    drops = [op for op in index_ops if isinstance(op, DropVectorIndexOp)]
    if conn_table is not None and metadata_table is not None:
        _compare_columns(autogen_context, modify_table_ops, schema, tname, conn_table, metadata_table,
                         {op.index_name for op in drops})
    creates = [op for op in index_ops if not isinstance(op, DropVectorIndexOp)]
    modify_table_ops.ops[:] = [*drops, *modify_table_ops.ops, *creates]


def _compare_columns(autogen_context: AutogenContext, modify_table_ops: ops.ModifyTableOps, schema: str | None,
                     tname: str, conn_table: Table, metadata_table: Table, dropped_indexes: set[str]) -> None:
    """Our rebuilds go first in the table's operations, each carrying the table's definition as it
    stands then (``copy_from``), so the script also runs offline (``--sql``) and its downgrade too."""
    rebuilds: list[AddAutoEmbeddingColumnOp | DropAutoEmbeddingColumnOp | AlterAutoEmbeddingOp] = []
    state = _current_table(autogen_context, conn_table, schema, dropped_indexes)

    def add(op: AddAutoEmbeddingColumnOp | DropAutoEmbeddingColumnOp | AlterAutoEmbeddingOp) -> None:
        nonlocal state
        rebuilds.append(op)
        state = reshaped_table(state, op.reshape([c._copy() for c in state.columns]))

    rest = []
    for op in modify_table_ops.ops:
        if isinstance(op, ops.AddColumnOp) and isinstance(op.column.type, AutoEmbeddingVector):
            add(AddAutoEmbeddingColumnOp(tname, op.column, schema=schema, copy_from=state))
        else:
            rest.append(op)
    for column in conn_table.columns:
        # Alembic adds its DropColumnOp after this comparator; _run_object_filters keeps it out.
        if (
            isinstance(column.type, AutoEmbeddingVector)
            and column.name not in metadata_table.c
            and alembic_run_object_filters(autogen_context, column, column.name, "column", True, None)
        ):
            add(DropAutoEmbeddingColumnOp(tname, column.name, schema=schema, existing_column=column._copy(),
                                          copy_from=state))
    for column in metadata_table.columns:
        if column.name not in conn_table.c:
            continue
        new, old = column.type, conn_table.c[column.name].type
        if isinstance(new, AutoEmbeddingVector) and signature(new) != signature(old):
            existing = old if isinstance(old, AutoEmbeddingVector) else None
            add(AlterAutoEmbeddingOp(tname, column.name, new, existing_type=existing, schema=schema,
                                     copy_from=state))
    modify_table_ops.ops[:] = [*rebuilds, *rest]


def _current_table(autogen_context: AutogenContext, conn_table: Table, schema: str | None,
                   dropped_indexes: set[str]) -> Table:
    """The reflected table with its vector indexes (which SQLAlchemy's reflection cannot see), less
    those dropped before the rebuilds run."""
    table = reshaped_table(conn_table, [c._copy() for c in conn_table.columns])
    if autogen_context.connection is not None:
        for found in reflect_vector_indexes(autogen_context.connection, conn_table.name, schema):
            if found.name not in {i.name for i in table.indexes} | dropped_indexes:
                VectorIndex(found.name, table.c[found.column], metric=found.metric, tiflash_replica=None)
    return table


def _compare_vector_indexes(
    autogen_context: AutogenContext, modify_table_ops: ops.ModifyTableOps, schema: str | None, tname: str,
    conn_table: Table | None, metadata_table: Table | None,
) -> None:
    wanted: dict[str, tuple[str, str]] = {
        str(i.name): (i.vector_column_name, i.metric)
        for i in (metadata_table.indexes if metadata_table is not None else ())
        if isinstance(i, VectorIndex)
    }
    present: dict[str, tuple[str, str]] = {}
    if conn_table is not None and autogen_context.connection is not None:
        present = {
            i.name: (i.column, i.metric) for i in reflect_vector_indexes(autogen_context.connection, tname, schema)
        }
    for name, (column, metric) in present.items():
        if wanted.get(name) != (column, metric):
            modify_table_ops.ops.append(DropVectorIndexOp(name, tname, schema=schema, column_name=column,
                                                          metric=metric))
    for name, (column, metric) in wanted.items():
        if present.get(name) != (column, metric):
            modify_table_ops.ops.append(CreateVectorIndexOp(name, tname, column, metric, schema=schema))
