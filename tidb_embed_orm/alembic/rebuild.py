"""Rebuild a table into a new shape with nothing lost: what TiDB needs for auto-embedding changes.

TiDB refuses ``ALTER TABLE ... ADD COLUMN ... STORED`` for generated columns (error 3106) and
refuses to modify a stored generated column; SQLite refuses both as well. So the change is made
on a copy:

1. ``CREATE TABLE <tmp>`` in the new shape (on TiDB with its indexes and TiFlash replica),
2. ``INSERT INTO <tmp> (...) SELECT ... FROM <table>``: the database fills generated columns,
3. swap the names (TiDB: one atomic ``RENAME TABLE t TO backup, tmp TO t``; SQLite: inside the
   copy's transaction, ``DROP`` then ``ALTER TABLE ... RENAME``), then drop the backup.

Any failure before the swap drops the copy and leaves the original table as it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from alembic.ddl.impl import DefaultImpl
from alembic.operations import Operations
from sqlalchemy import Column, Index, MetaData, Table, text
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from ..errors import TableRebuildError
from ..index import SetTiFlashReplica, VectorIndex
from ..reflection import reflect_vector_indexes

#: Rebuilds take as long as embedding every row: say so (INFO; the CLI shows it on stderr).
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSpec:
    """An index to recreate on the rebuilt table (vector indexes carry their metric)."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    vector_metric: str | None = None


@dataclass
class RebuildPlan:
    table_name: str
    schema: str | None
    old: Table
    new: Table
    copy_columns: list[str]
    indexes: list[IndexSpec]
    tiflash_replica: int


def impl_of(operations: Operations) -> DefaultImpl:
    """The migration's DDL implementation (never a batch one here)."""
    return cast(DefaultImpl, operations.impl)


def _tmp_name(table_name: str) -> str:
    return f"_tidb_embed_new_{table_name}"[:64]


def _backup_name(table_name: str) -> str:
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
    metadata = MetaData()
    columns = reshape([c._copy() for c in old.columns])
    kept = {c.name for c in columns}
    constraints = [
        c._copy()
        for c in list(old.constraints)
        if c is not old.primary_key and all(name in kept for name in getattr(c, "columns", {}).keys())
    ]
    new = Table(_tmp_name(table_name), metadata, *columns, *constraints, schema=schema)
    indexes: list[IndexSpec] = []
    for index in old.indexes:
        if isinstance(index, VectorIndex):
            if index.vector_column_name in kept:
                indexes.append(IndexSpec(str(index.name), (index.vector_column_name,), vector_metric=index.metric))
        elif index.name and all(isinstance(e, Column) and e.name in kept for e in index.expressions):
            index_columns = tuple(cast(Column[Any], e).name for e in index.expressions)
            indexes.append(IndexSpec(str(index.name), index_columns, bool(index.unique)))
    copy_columns = [
        c.name for c in old.columns if c.computed is None and c.name in kept and new.c[c.name].computed is None
    ]
    replica = _tiflash_replica(operations, old)
    return RebuildPlan(table_name, schema, old, new, copy_columns, indexes, replica)


def _final_table(plan: RebuildPlan) -> Table:
    metadata = MetaData()
    table = Table(plan.table_name, metadata, *[c._copy() for c in plan.new.columns], schema=plan.schema)
    return table


def _bind_indexes(plan: RebuildPlan, table: Table) -> list[Index]:
    bound: list[Index] = []
    for spec in plan.indexes:
        if spec.vector_metric is not None:
            bound.append(VectorIndex(spec.name, table.c[spec.columns[0]], metric=spec.vector_metric,
                                     tiflash_replica=None))
        else:
            bound.append(Index(spec.name, *[table.c[c] for c in spec.columns], unique=spec.unique))
    return bound


def run_rebuild(operations: Operations, plan: RebuildPlan) -> None:
    """Carry out ``plan`` the way the database allows; raise TableRebuildError with the original intact."""
    strategy = _STRATEGIES.get(impl_of(operations).dialect.name, _rebuild_in_savepoint)
    online, started = not impl_of(operations).as_sql, time.perf_counter()
    if online:
        logger.info("rebuilding table %s: copying its rows (the database embeds each one) ...", plan.table_name)
    try:
        strategy(operations, plan)
        if online:
            logger.info("rebuilt table %s in %.1fs", plan.table_name, time.perf_counter() - started)
    except TableRebuildError:
        raise
    except Exception as exc:
        raise TableRebuildError(
            f"rebuilding table {plan.table_name!r} failed ({type(exc).__name__}: {exc}); "
            f"the original table {plan.table_name!r} is unchanged"
        ) from exc


def _copy_statement(operations: Operations, plan: RebuildPlan) -> Any:
    preparer = impl_of(operations).dialect.identifier_preparer
    columns = ", ".join(preparer.quote(c) for c in plan.copy_columns)
    return text(
        f"INSERT INTO {preparer.format_table(plan.new)} ({columns}) "
        f"SELECT {columns} FROM {preparer.format_table(plan.old)}"
    )


def _rebuild_tidb(operations: Operations, plan: RebuildPlan) -> None:
    """TiDB: DDL commits at once, so the copy is dropped by hand if anything fails before the swap."""
    impl = impl_of(operations)
    preparer = impl.dialect.identifier_preparer
    old_name, tmp_name = preparer.format_table(plan.old), preparer.format_table(plan.new)
    backup = preparer.quote(_backup_name(plan.table_name))
    impl._exec(CreateTable(plan.new))
    try:
        if plan.tiflash_replica:
            impl._exec(SetTiFlashReplica(plan.new, plan.tiflash_replica))
        for index in _bind_indexes(plan, plan.new):  # index names are per table in TiDB
            impl._exec(CreateIndex(index))
        impl._exec(_copy_statement(operations, plan))
        impl._exec(text(f"RENAME TABLE {old_name} TO {backup}, {tmp_name} TO {old_name}"))
    except Exception:
        if not impl.as_sql:
            _drop_quietly(operations, plan.new)
        raise
    impl._exec(text(f"DROP TABLE {backup}"))


def _rebuild_in_savepoint(operations: Operations, plan: RebuildPlan) -> None:
    """SQLite (the embedded engine): every step inside one savepoint, undone together on failure."""
    impl = impl_of(operations)
    preparer = impl.dialect.identifier_preparer
    savepoint = "tidb_embed_rebuild"
    impl._exec(text(f"SAVEPOINT {savepoint}"))
    try:
        impl._exec(CreateTable(plan.new))
        impl._exec(_copy_statement(operations, plan))
        impl._exec(DropTable(plan.old))
        impl._exec(text(f"ALTER TABLE {preparer.format_table(plan.new)} RENAME TO {preparer.quote(plan.table_name)}"))
        for index in _bind_indexes(plan, _final_table(plan)):  # index names are global in SQLite
            impl._exec(CreateIndex(index))
    except Exception:
        if not impl.as_sql:
            impl._exec(text(f"ROLLBACK TO SAVEPOINT {savepoint}"))
            impl._exec(text(f"RELEASE SAVEPOINT {savepoint}"))
        raise
    impl._exec(text(f"RELEASE SAVEPOINT {savepoint}"))


_STRATEGIES: dict[str, Callable[[Operations, RebuildPlan], None]] = {"mysql": _rebuild_tidb}


def _drop_quietly(operations: Operations, table: Table) -> None:
    try:
        impl_of(operations)._exec(DropTable(table, if_exists=True))
    except Exception:  # the original error is the one to report
        pass
