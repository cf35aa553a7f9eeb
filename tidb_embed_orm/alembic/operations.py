"""Alembic operations for auto-embedding columns and vector indexes.

``op.add_auto_embedding_column``, ``op.alter_auto_embedding`` and ``op.drop_auto_embedding_column``
rebuild the table (see ``rebuild.py``): TiDB and SQLite cannot add or change a STORED generated
column in place. ``op.create_vector_index`` / ``op.drop_vector_index`` are plain DDL.
"""

from __future__ import annotations

from typing import Any, cast

from alembic.operations import MigrateOperation, Operations
from sqlalchemy import Column, Index, MetaData, Table
from sqlalchemy.schema import CreateIndex, DropIndex

from ..sql.auto_embedding import AutoEmbeddingVector
from ..sql.vector import Vector
from ..sql.vector_index import SetTiFlashReplica, VectorIndex
from .rebuild import finish_interrupted, run_rebuild
from .rebuild.plan import TableRebuildError, impl_of, plan_rebuild, reshaped_table, type_signature


def _check_auto_embedding(column: Column[Any]) -> None:
    if not isinstance(column.type, AutoEmbeddingVector):
        raise TypeError(f"column {column.name!r} is not an AutoEmbeddingVector column; use op.add_column for it")


@Operations.register_operation("add_auto_embedding_column")
class AddAutoEmbeddingColumnOp(MigrateOperation):
    """Add an auto-embedding column to a table that may already hold rows (a safe rebuild)."""

    def __init__(self, table_name: str, column: Column[Any], *, schema: str | None = None,
                 copy_from: Table | None = None) -> None:
        _check_auto_embedding(column)
        self.table_name, self.column, self.schema, self.copy_from = table_name, column, schema, copy_from

    @classmethod
    def add_auto_embedding_column(cls, operations: Operations, table_name: str, column: Column[Any], *,
                                  schema: str | None = None, copy_from: Table | None = None) -> None:
        """Rebuild ``table_name`` with ``column`` added; the database embeds every existing row."""
        operations.invoke(cls(table_name, column, schema=schema, copy_from=copy_from))

    def reshape(self, columns: list[Column[Any]]) -> list[Column[Any]]:
        """The table's columns after this operation: the rebuild creates the copy with these."""
        if self.column.name in {c.name for c in columns}:
            raise TableRebuildError(f"table {self.table_name!r} already has a column {self.column.name!r}")
        source = cast(AutoEmbeddingVector, self.column.type).source
        if source not in {c.name for c in columns}:
            raise TableRebuildError(
                f"the source column {source!r} of {self.column.name!r} is not in table {self.table_name!r}"
            )
        return [*columns, self.column._copy()]

    def done(self, table: Table) -> bool:
        """Whether ``table`` already has the shape this operation gives it."""
        return self.column.name in table.c

    def reverse(self) -> DropAutoEmbeddingColumnOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        return DropAutoEmbeddingColumnOp(self.table_name, self.column.name, schema=self.schema,
                                         existing_column=self.column, copy_from=_after(self))


@Operations.register_operation("drop_auto_embedding_column")
class DropAutoEmbeddingColumnOp(MigrateOperation):
    """Remove an auto-embedding column (a rebuild, so it works wherever adding did)."""

    def __init__(self, table_name: str, column_name: str, *, schema: str | None = None,
                 existing_column: Column[Any] | None = None, copy_from: Table | None = None) -> None:
        self.table_name, self.column_name, self.schema = table_name, column_name, schema
        self.existing_column, self.copy_from = existing_column, copy_from

    @classmethod
    def drop_auto_embedding_column(cls, operations: Operations, table_name: str, column_name: str, *,
                                   schema: str | None = None, copy_from: Table | None = None) -> None:
        operations.invoke(cls(table_name, column_name, schema=schema, copy_from=copy_from))

    def reshape(self, columns: list[Column[Any]]) -> list[Column[Any]]:
        """The table's columns after this operation: the rebuild creates the copy with these."""
        if self.column_name not in {c.name for c in columns}:
            raise TableRebuildError(f"table {self.table_name!r} has no column {self.column_name!r}")
        return [c for c in columns if c.name != self.column_name]

    def done(self, table: Table) -> bool:
        """Whether ``table`` already has the shape this operation gives it (a rerun after a crash)."""
        return self.column_name not in table.c

    def reverse(self) -> AddAutoEmbeddingColumnOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        if self.existing_column is None:
            raise ValueError("cannot reverse drop_auto_embedding_column without the dropped column's definition")
        return AddAutoEmbeddingColumnOp(self.table_name, self.existing_column, schema=self.schema,
                                        copy_from=_after(self))


@Operations.register_operation("alter_auto_embedding")
class AlterAutoEmbeddingOp(MigrateOperation):
    """Change an auto-embedding column's model, source, options or dimension (a safe rebuild)."""

    def __init__(self, table_name: str, column_name: str, type_: AutoEmbeddingVector, *,
                 existing_type: AutoEmbeddingVector | None = None, schema: str | None = None,
                 copy_from: Table | None = None) -> None:
        if not isinstance(type_, AutoEmbeddingVector):
            raise TypeError("alter_auto_embedding takes an AutoEmbeddingVector(...) as the new type")
        self.table_name, self.column_name, self.type_ = table_name, column_name, type_
        self.existing_type, self.schema, self.copy_from = existing_type, schema, copy_from

    @classmethod
    def alter_auto_embedding(cls, operations: Operations, table_name: str, column_name: str,
                             type_: AutoEmbeddingVector, *, existing_type: AutoEmbeddingVector | None = None,
                             schema: str | None = None, copy_from: Table | None = None) -> None:
        """Rebuild ``table_name`` so ``column_name`` is generated by ``type_``; every row is re-embedded."""
        operations.invoke(cls(table_name, column_name, type_, existing_type=existing_type, schema=schema,
                              copy_from=copy_from))

    def reshape(self, columns: list[Column[Any]]) -> list[Column[Any]]:
        """The table's columns after this operation: the rebuild creates the copy with these."""
        current = next((c for c in columns if c.name == self.column_name), None)
        if current is None:
            raise TableRebuildError(f"table {self.table_name!r} has no column {self.column_name!r}")
        replacement: Column[Any] = Column(
            self.column_name, self.type_.copy(), nullable=current.nullable, comment=current.comment
        )
        return [replacement if c.name == self.column_name else c for c in columns]

    def done(self, table: Table) -> bool:
        """Whether ``table`` already has the shape this operation gives it (a rerun after a crash)."""
        current = table.c.get(self.column_name)
        return current is not None and type_signature(current.type) == type_signature(self.type_)

    def reverse(self) -> AlterAutoEmbeddingOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        if self.existing_type is None:
            raise ValueError("cannot reverse alter_auto_embedding without existing_type=")
        return AlterAutoEmbeddingOp(self.table_name, self.column_name, self.existing_type,
                                    existing_type=self.type_, schema=self.schema, copy_from=_after(self))


RebuildOp = AddAutoEmbeddingColumnOp | DropAutoEmbeddingColumnOp | AlterAutoEmbeddingOp


def _column_name(op: RebuildOp) -> str:
    return op.column.name if isinstance(op, AddAutoEmbeddingColumnOp) else op.column_name


def _after(op: RebuildOp) -> Table | None:
    """The table as ``op`` leaves it, when its definition before is known (what its reverse starts from)."""
    if op.copy_from is None:
        return None
    return reshaped_table(op.copy_from, op.reshape([c._copy() for c in op.copy_from.columns]))


@Operations.register_operation("create_vector_index")
class CreateVectorIndexOp(MigrateOperation):
    """``CREATE VECTOR INDEX name ON t ((VEC_<METRIC>_DISTANCE(col))) USING HNSW`` (TiFlash replica first)."""

    def __init__(self, index_name: str, table_name: str, column_name: str, metric: str = "cosine", *,
                 schema: str | None = None, tiflash_replica: int | None = 1) -> None:
        VectorIndex(index_name, column_name, metric=metric)  # validates the metric
        self.index_name, self.table_name, self.column_name, self.metric = index_name, table_name, column_name, metric
        self.schema, self.tiflash_replica = schema, tiflash_replica

    @classmethod
    def create_vector_index(cls, operations: Operations, index_name: str, table_name: str, column_name: str,
                            metric: str = "cosine", *, schema: str | None = None,
                            tiflash_replica: int | None = 1) -> None:
        operations.invoke(cls(index_name, table_name, column_name, metric, schema=schema,
                              tiflash_replica=tiflash_replica))

    def reverse(self) -> DropVectorIndexOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        return DropVectorIndexOp(self.index_name, self.table_name, schema=self.schema,
                                 column_name=self.column_name, metric=self.metric)

    def index(self) -> VectorIndex:
        """The index this operation creates, as a SQLAlchemy ``Index`` on a table of the right name."""
        table = Table(self.table_name, MetaData(), Column(self.column_name, Vector()), schema=self.schema)
        return VectorIndex(self.index_name, table.c[self.column_name], metric=self.metric, tiflash_replica=None)

    def to_diff_tuple(self) -> tuple[str, VectorIndex]:
        """``("add_index", index)``, as ``alembic.autogenerate.compare_metadata()`` reports a new index."""
        return ("add_index", self.index())


@Operations.register_operation("drop_vector_index")
class DropVectorIndexOp(MigrateOperation):
    """``DROP INDEX name ON t``."""

    def __init__(self, index_name: str, table_name: str, *, schema: str | None = None,
                 column_name: str | None = None, metric: str | None = None) -> None:
        self.index_name, self.table_name, self.schema = index_name, table_name, schema
        self.column_name, self.metric = column_name, metric

    @classmethod
    def drop_vector_index(cls, operations: Operations, index_name: str, table_name: str, *,
                          schema: str | None = None) -> None:
        operations.invoke(cls(index_name, table_name, schema=schema))

    def reverse(self) -> CreateVectorIndexOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        if self.column_name is None or self.metric is None:
            raise ValueError("cannot reverse drop_vector_index without the index's column and metric")
        return CreateVectorIndexOp(self.index_name, self.table_name, self.column_name, self.metric,
                                   schema=self.schema)

    def to_diff_tuple(self) -> tuple[str, Index]:
        """``("remove_index", index)``, as ``alembic.autogenerate.compare_metadata()`` reports a dropped index."""
        if self.column_name is not None and self.metric is not None:
            return ("remove_index", self.reverse().index())
        table = Table(self.table_name, MetaData(), schema=self.schema)
        return ("remove_index", Index(self.index_name, _table=table))


@Operations.implementation_for(AddAutoEmbeddingColumnOp)
@Operations.implementation_for(DropAutoEmbeddingColumnOp)
@Operations.implementation_for(AlterAutoEmbeddingOp)
def _rebuild_table(operations: Operations, op: RebuildOp) -> None:
    if finish_interrupted(operations, op.table_name, op.schema, op.done, {_column_name(op)}):
        return
    run_rebuild(operations, plan_rebuild(operations, op.table_name, op.reshape, schema=op.schema,
                                         copy_from=op.copy_from))


@Operations.implementation_for(CreateVectorIndexOp)
def _create_vector_index(operations: Operations, op: CreateVectorIndexOp) -> None:
    index = op.index()
    if impl_of(operations).dialect.name == "mysql" and op.tiflash_replica and index.table is not None:
        impl_of(operations)._exec(SetTiFlashReplica(index.table, op.tiflash_replica))
    impl_of(operations)._exec(CreateIndex(index))


@Operations.implementation_for(DropVectorIndexOp)
def _drop_vector_index(operations: Operations, op: DropVectorIndexOp) -> None:
    table = Table(op.table_name, MetaData(), Column("_", Vector()), schema=op.schema)
    impl_of(operations)._exec(DropIndex(Index(op.index_name, table.c["_"])))
