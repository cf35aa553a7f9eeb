"""Rebuild a table into a new shape with nothing lost: what auto-embedding changes need.

TiDB refuses ``ALTER TABLE ... ADD COLUMN ... STORED`` for generated columns (error 3106) and
refuses to modify a stored generated column; SQLite refuses both as well. So the change is made
on a copy, the way each database allows (one module per dialect):

- SQLite / the embedded engine (``rebuild_sqlite.py``): SQLite's documented table-change
  procedure inside one savepoint;
- TiDB (``rebuild_tidb.py``): checks up front, a copy filled in key-range chunks, a check that
  no row changed meanwhile, one atomic ``RENAME TABLE`` swap.
"""

from __future__ import annotations

from collections.abc import Callable

from alembic.operations import Operations
from sqlalchemy import Table

from ...client.guard import vectors_filled_by_client
from .plan import RebuildPlan, TableRebuildError, impl_of, plan_rebuild
from .sqlite import rebuild_sqlite
from .tidb import finish_interrupted_tidb, rebuild_tidb

__all__ = ["RebuildPlan", "TableRebuildError", "finish_interrupted", "impl_of", "plan_rebuild", "run_rebuild"]

_STRATEGIES: dict[str, Callable[[Operations, RebuildPlan], None]] = {"mysql": rebuild_tidb, "sqlite": rebuild_sqlite}
#: Where a killed run can leave a finished swap behind (SQLite rolls a killed rebuild back by itself).
_RESUMERS = {"mysql": finish_interrupted_tidb}


def finish_interrupted(operations: Operations, table_name: str, schema: str | None, done: Callable[[Table], bool],
                       changed: set[str]) -> bool:
    """True when a killed run of this operation had already swapped the table in, and it was finished."""
    impl = impl_of(operations)
    resume = _RESUMERS.get(impl.dialect.name)
    if resume is None or impl.as_sql:
        return False
    return resume(operations.get_bind(), table_name, schema, done, changed)


def run_rebuild(operations: Operations, plan: RebuildPlan) -> None:
    """Carry out ``plan`` the way the database allows; an error says what state the table is in."""
    dialect = impl_of(operations).dialect.name
    strategy = _STRATEGIES.get(dialect)
    if strategy is None:
        raise TableRebuildError(f"rebuilding tables is not supported on {dialect!r} (TiDB and SQLite are)")
    try:
        # In client mode the copy's raw INSERT ... SELECT leaves vectors for fill_vectors to write.
        with vectors_filled_by_client(operations.get_bind()):
            strategy(operations, plan)
    except TableRebuildError:
        raise
    except Exception as exc:
        if plan.swapped:
            state = (f"the swap had happened: {plan.table_name!r} is the rebuilt table, holding every row; "
                     f"see the log of logger 'tidb_embed_orm.alembic' for what was left to do")
        else:
            state = f"the original table {plan.table_name!r} is unchanged"
        raise TableRebuildError(
            f"rebuilding table {plan.table_name!r} failed ({type(exc).__name__}: {exc}); {state}"
        ) from exc
