"""TiDB: DDL commits at once, so the copy is dropped by hand if anything fails before the swap."""

from __future__ import annotations

from alembic.operations import Operations
from sqlalchemy import text
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from ..index import SetTiFlashReplica
from .plan import RebuildPlan, backup_name, copy_columns, database_generated, impl_of


def rebuild_tidb(operations: Operations, plan: RebuildPlan) -> None:
    impl = impl_of(operations)
    preparer = impl.dialect.identifier_preparer
    old_name, tmp_name = preparer.format_table(plan.old), preparer.format_table(plan.new)
    backup = preparer.quote(backup_name(plan.table_name))
    columns = ", ".join(preparer.quote(c) for c in copy_columns(plan, database_generated(impl.dialect)))
    impl._exec(CreateTable(plan.new))
    try:
        if plan.tiflash_replica:
            impl._exec(SetTiFlashReplica(plan.new, plan.tiflash_replica))
        for index in plan.new.indexes:  # index names are per table in TiDB
            impl._exec(CreateIndex(index))
        impl._exec(text(f"INSERT INTO {tmp_name} ({columns}) SELECT {columns} FROM {old_name}"))
        impl._exec(text(f"RENAME TABLE {old_name} TO {backup}, {tmp_name} TO {old_name}"))
        plan.swapped = True
    except Exception:
        if not impl.as_sql:
            _drop_quietly(operations, plan)
        raise
    impl._exec(text(f"DROP TABLE {backup}"))


def _drop_quietly(operations: Operations, plan: RebuildPlan) -> None:
    try:
        impl_of(operations)._exec(DropTable(plan.new, if_exists=True))
    except Exception:  # the original error is the one to report
        pass
