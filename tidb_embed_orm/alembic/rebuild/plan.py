"""What a table rebuild needs to know, shared by the per-dialect strategies.

A rebuild changes one table's columns: adds an auto-embedding column, replaces one, or drops
one. ``RebuildPlan`` holds the table as it is (``old``), the table it becomes (``new``, named
``_tidb_embed_new_<t>`` while it is filled) and which columns change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from alembic.ddl.impl import DefaultImpl
from alembic.operations import Operations
from sqlalchemy import Column, Index, MetaData, Table, exc
from sqlalchemy.types import NullType

from ...client.mode import is_client_mode
from ...exc import TableRebuildError
from ...sql.auto_embedding import AutoEmbeddingVector, auto_embedding_columns
from ...sql.reflection import reflect_vector_indexes
from ...sql.vector_index import VectorIndex

log = logging.getLogger("tidb_embed_orm.alembic")

#: Rows copied (and, on the embedded engine and in client mode, embedded) per step; set it to tune.
COPY_CHUNK_ROWS = 1024


def chunk_rows() -> int:
    return max(1, int(COPY_CHUNK_ROWS))


@dataclass
class RebuildPlan:
    table_name: str
    schema: str | None
    old: Table
    new: Table
    #: columns whose definition is new: the added one, or the one whose model/source/options change
    changed: set[str]
    #: columns the new table no longer has
    dropped: set[str]
    tiflash_replica: int
    #: set once the new table carries the original name (a later failure must not say "unchanged")
    swapped: bool = field(default=False)

    def refilled(self, client_mode: bool) -> list[tuple[Column[Any], Column[Any]]]:
        """The (auto-embedding column, source) pairs the copy must embed again.

        The database recomputes every STORED generated column it copies; in client mode the
        columns are plain vectors, copied as they are, and only the changed ones need vectors.
        """
        pairs = auto_embedding_columns(self.new)
        return [(c, s) for c, s in pairs if c.name in self.changed] if client_mode else pairs


def impl_of(operations: Operations) -> DefaultImpl:
    """The migration's DDL implementation (never a batch one here)."""
    return cast(DefaultImpl, operations.impl)


def tmp_name(table_name: str) -> str:
    return f"_tidb_embed_new_{table_name}"[:64]


def backup_name(table_name: str) -> str:
    return f"_tidb_embed_old_{table_name}"[:64]


def load_table(operations: Operations, table_name: str, schema: str | None, copy_from: Table | None) -> Table:
    """The table as it is now: ``copy_from`` (required offline), else reflected, vector indexes included."""
    if copy_from is not None:
        return copy_from
    if impl_of(operations).as_sql:
        raise TableRebuildError(
            f"rebuilding {table_name!r} in offline (--sql) mode needs its current definition: "
            f"pass copy_from=sa.Table({table_name!r}, sa.MetaData(), ...) to the operation"
        )
    bind = operations.get_bind()
    table = Table(table_name, MetaData(), schema=schema, autoload_with=bind)
    for found in reflect_vector_indexes(bind, table_name, schema):
        VectorIndex(found.name, table.c[found.column], metric=found.metric)
    return table


def _tiflash_replica(operations: Operations, plan_table: Table) -> int:
    """The replica count to give the copy: TiDB's current one, and at least 1 if a vector index needs it."""
    needed = int(any(isinstance(i, VectorIndex) for i in plan_table.indexes))
    if impl_of(operations).as_sql or operations.get_bind().dialect.name != "mysql":
        return needed
    row = operations.get_bind().exec_driver_sql(
        "SELECT REPLICA_COUNT FROM information_schema.tiflash_replica WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = %s",
        (plan_table.name,),
    ).first()
    return max(int(row[0]) if row else 0, needed)


def type_signature(type_: Any) -> tuple[Any, ...]:
    if isinstance(type_, AutoEmbeddingVector):
        return (type_.model, type_.source, type_.dim, type_.options_json)
    return (type(type_).__name__, getattr(type_, "dim", None))


def plan_rebuild(
    operations: Operations,
    table_name: str,
    reshape: Callable[[list[Column[Any]]], list[Column[Any]]],
    *,
    schema: str | None = None,
    copy_from: Table | None = None,
) -> RebuildPlan:
    """Work out the new table from the old one and ``reshape`` (old columns -> new columns)."""
    old = load_table(operations, table_name, schema, copy_from)
    columns = reshape([c._copy() for c in old.columns])
    new = reshaped_table(old, columns, tmp_name(table_name))
    changed = {
        c.name for c in columns if c.name not in old.c or type_signature(c.type) != type_signature(old.c[c.name].type)
    }
    dropped = {c.name for c in old.columns} - {c.name for c in columns}
    return RebuildPlan(table_name, schema, old, new, changed, dropped, _tiflash_replica(operations, old))


def reshaped_table(old: Table, columns: list[Column[Any]], name: str | None = None) -> Table:
    """``old`` with ``columns`` (copies), keeping the constraints and indexes whose columns remain."""
    kept = {c.name for c in columns}
    for column in columns:  # the constraints and indexes are copied below, not made again from flags
        column.index = column.unique = None
    constraints, seen = [], set()
    for constraint in list(old.constraints):  # Alembic's reflected tables can list one constraint twice
        names = tuple(getattr(constraint, "columns", {}).keys())
        key = (type(constraint).__name__, constraint.name, names, str(getattr(constraint, "sqltext", "")))
        if constraint is not old.primary_key and key not in seen and all(n in kept for n in names):
            seen.add(key)
            constraints.append(constraint._copy())
    metadata = MetaData()
    _referred_tables(old, metadata)
    new = Table(name or old.name, metadata, *columns, *constraints, schema=old.schema, comment=old.comment,
                **old.dialect_kwargs)
    for index in {str(i.name): i for i in old.indexes}.values():
        if isinstance(index, VectorIndex):
            if index.vector_column_name in kept:
                VectorIndex(str(index.name), new.c[index.vector_column_name], metric=index.metric,
                            tiflash_replica=None)
        elif index.name and all(isinstance(e, Column) and e.name in kept for e in index.expressions):
            index_columns = [cast(Column[Any], e).name for e in index.expressions]
            Index(str(index.name), *[new.c[n] for n in index_columns], unique=bool(index.unique))
    return new


def _referred_tables(old: Table, metadata: MetaData) -> None:
    """Put the tables ``old``'s foreign keys refer to into ``metadata`` (names only if they are unknown)."""
    for constraint in old.foreign_key_constraints:
        try:
            referred = constraint.referred_table
        except exc.NoReferencedTableError:  # a definition given offline (copy_from) without the other table
            parts = constraint.elements[0].target_fullname.split(".")
            table_schema, table_name = (parts[0] if len(parts) > 2 else None), parts[-2]
            if table_name not in metadata.tables:
                Table(table_name, metadata, *[Column(e.target_fullname.split(".")[-1], NullType())
                                              for e in constraint.elements], schema=table_schema)
            continue
        if referred.key not in metadata.tables:
            referred.to_metadata(metadata)


def final_table(plan: RebuildPlan) -> Table:
    """The new table under the original name, with its indexes (to create them after the swap)."""
    return plan.new.to_metadata(MetaData(), name=plan.table_name)


def copy_columns(plan: RebuildPlan, generated: Callable[[Column[Any]], bool]) -> list[str]:
    """Columns whose values the copy carries over: in both tables and not computed by the database."""
    kept = [c for c in plan.old.columns if c.name in plan.new.c and c.name not in plan.changed]
    return [c.name for c in kept if not generated(c) and not generated(plan.new.c[c.name])]


def database_generated(dialect: Any) -> Callable[[Column[Any]], bool]:
    """Whether the database computes a column: in client mode auto-embedding columns are plain vectors."""
    client = is_client_mode(dialect)

    def generated(column: Column[Any]) -> bool:
        if column.computed is None:
            return False
        return not (client and isinstance(column.type, AutoEmbeddingVector))

    return generated
