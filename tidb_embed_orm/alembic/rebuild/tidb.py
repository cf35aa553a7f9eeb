"""TiDB (and MySQL-protocol servers): rebuild on a copy, swap with one atomic ``RENAME TABLE``.

Before anything changes, what a rename cannot carry is refused with the manual procedure:
foreign keys pointing at the table (RENAME moves them to the backup), FULLTEXT indexes (TiDB
cannot rename or drop such a table) and triggers (TiDB has none; MySQL would move them to the
backup). Leftovers of a killed run are handled first: an unswapped copy is dropped (the table
was never touched), a backup is dropped only when it holds exactly what the table holds.

Rows are copied in primary-key ranges, one transaction each (TiDB's transaction size limit),
with a first log line saying how many rows will be embedded again. Concurrent writes are
detected, not locked out (TiDB ignores ``LOCK TABLES`` unless ``enable-table-lock`` is set, and
a lock would stall the application for the whole re-embedding): a fingerprint of every copied
value is compared between the table and its copy before the swap (any difference: the copy is
dropped, nothing changed), and the backup is compared with it again after the swap, so a write
that slipped in between keeps the backup and says so, instead of being dropped with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alembic.operations import Operations
from sqlalchemy import ForeignKeyConstraint, MetaData, Table, text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateIndex, CreateTable

from ...client.mode import is_client_mode
from ...sql.vector_index import SetTiFlashReplica
from .client_fill import fill_vectors
from .plan import (
    RebuildPlan,
    TableRebuildError,
    backup_name,
    chunk_rows,
    copy_columns,
    database_generated,
    impl_of,
    log,
    tmp_name,
)


def rebuild_tidb(operations: Operations, plan: RebuildPlan) -> None:
    impl = impl_of(operations)
    if impl.as_sql:
        _rebuild_offline(operations, plan)
        return
    conn = operations.get_bind()
    client = is_client_mode(conn.dialect)
    _refuse_what_cannot_move(conn, plan, client)
    columns = copy_columns(plan, database_generated(conn.dialect))
    _clear_leftovers(conn, plan)
    _anonymous_foreign_keys(plan)
    old, new, backup = (_qualified(conn, plan.schema, n)
                        for n in (plan.table_name, tmp_name(plan.table_name), backup_name(plan.table_name)))
    total = _count(conn, old)
    embedded = plan.refilled(client)
    if embedded:
        log.info("rebuilding %r: %d rows; each row is embedded again for %s%s", plan.table_name, total,
                 ", ".join(f"{c.name} ({getattr(c.type, 'model', '?')})" for c, _ in embedded),
                 "" if client else " by the database (with a hosted provider, one paid call per row and column)")
    next_id = conn.exec_driver_sql(
        _in_schema("SELECT AUTO_INCREMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                   "AND TABLE_NAME = %s"),
        (plan.schema, plan.table_name),
    ).scalar()
    impl._exec(CreateTable(plan.new))
    try:
        if next_id:  # ids of deleted rows are not handed out again
            conn.exec_driver_sql(f"ALTER TABLE {new} AUTO_INCREMENT = {int(next_id)}")
        if plan.tiflash_replica:
            impl._exec(SetTiFlashReplica(plan.new, plan.tiflash_replica))
        for index in plan.new.indexes:  # index names are per table in TiDB
            impl._exec(CreateIndex(index))
        _copy_in_chunks(conn, plan, columns, old, new, total)
        if client:
            keys = [c.name for c in plan.new.primary_key.columns]
            fill_vectors(conn, new, keys, embedded, total, after_chunk=lambda: _commit(conn))
        _commit(conn)  # read the table as it is now, not as this transaction first saw it
        checked = _fingerprint(conn, old, columns)
        if _fingerprint(conn, new, columns) != checked:
            raise TableRebuildError(
                f"rows of {plan.table_name!r} were written while they were copied, so the copy is not "
                f"complete; the copy was dropped and the original table {plan.table_name!r} is unchanged. "
                f"Run the migration again when nothing writes to the table (a maintenance window)"
            )
        conn.exec_driver_sql(f"RENAME TABLE {old} TO {backup}, {new} TO {old}")
        plan.swapped = True
    except Exception:
        if not plan.swapped:
            _drop_quietly(conn, new)
        raise
    if _fingerprint(conn, backup, columns) != checked:
        raise TableRebuildError(
            f"{plan.table_name!r} was rebuilt and swapped in, but a write reached the old table between the "
            f"last check and the swap: the old table was kept as {backup_name(plan.table_name)!r}. Compare it "
            f"with {plan.table_name!r}, copy the missing change over, then DROP TABLE {backup}"
        )
    conn.exec_driver_sql(f"DROP TABLE {backup}")


#: (the names of what would block the rebuild, why and what to do): checked before anything changes.
_BLOCKERS = (
    ("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
     "AND TABLE_NAME = %s AND INDEX_TYPE = 'FULLTEXT'",
     "it has FULLTEXT indexes ({found}), and TiDB cannot rename or drop a table with one. Nothing was changed. "
     "By hand: note their definitions (SHOW CREATE TABLE {name}), ALTER TABLE {name} DROP INDEX <each>, run this "
     "migration, then ALTER TABLE {name} ADD FULLTEXT INDEX <name> (<columns>) for each"),
    ("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() "
     "AND EVENT_OBJECT_TABLE = %s",
     "it has triggers ({found}), which RENAME TABLE would move to the old copy that the rebuild drops. Nothing "
     "was changed. By hand: SHOW CREATE TRIGGER <each>, DROP TRIGGER <each>, run this migration, then create "
     "them again"),
)


def _refuse_what_cannot_move(conn: Connection, plan: RebuildPlan, client: bool) -> None:
    name = plan.table_name
    referencing = conn.exec_driver_sql(
        _in_schema("SELECT DISTINCT TABLE_NAME, CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE "
                   "WHERE REFERENCED_TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = %s ORDER BY 1, 2"),
        (plan.schema, name),
    ).all()
    if referencing:
        found = ", ".join(f"{t}.{c}" for t, c in referencing)
        raise TableRebuildError(
            f"cannot rebuild {name!r}: foreign keys point at it ({found}), and RENAME TABLE would move them "
            f"to the old copy that the rebuild drops. Nothing was changed. By hand: note each constraint "
            f"(SHOW CREATE TABLE), ALTER TABLE <child> DROP FOREIGN KEY <name>, run this migration, then add "
            f"the constraints back with ALTER TABLE <child> ADD CONSTRAINT ... REFERENCES {name} (...)"
        )
    for query, problem in _BLOCKERS:
        blocking = _names(conn, query, plan.schema, name)
        if blocking:
            raise TableRebuildError(f"cannot rebuild {name!r}: " + problem.format(name=name, found=", ".join(blocking)))
    if client and not plan.new.primary_key.columns:
        raise TableRebuildError(
            f"cannot rebuild {name!r} in client mode: the client writes the new vectors row by row by primary "
            f"key, and the table has none. Nothing was changed. Add a primary key first"
        )


def _in_schema(sql: str) -> str:
    """Information-schema queries about the operation's schema (``schema=``), else the current one."""
    return sql.replace("DATABASE()", "COALESCE(%s, DATABASE())")


def _qualified(conn: Connection, schema: str | None, name: str) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return f"{quote(schema)}.{quote(name)}" if schema else quote(name)


def _names(conn: Connection, sql: str, schema: str | None, table: str) -> list[str]:
    return [str(r[0]) for r in conn.exec_driver_sql(_in_schema(sql), (schema, table)).all()]


def _table_exists(conn: Connection, schema: str | None, name: str) -> bool:
    return bool(_names(conn, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                             "AND TABLE_NAME = %s", schema, name))


def _clear_leftovers(conn: Connection, plan: RebuildPlan) -> None:
    """What a killed run left: the unswapped copy is always safe to drop; a backup only if it is redundant."""
    name, tmp = plan.table_name, tmp_name(plan.table_name)
    if _table_exists(conn, plan.schema, tmp):
        log.warning("found %r left by an interrupted rebuild of %r before its swap (%r was never changed): "
                    "dropping it", tmp, name, name)
        conn.exec_driver_sql(f"DROP TABLE {_qualified(conn, plan.schema, tmp)}")
    if _table_exists(conn, plan.schema, backup_name(name)):
        _drop_redundant_backup(conn, plan.schema, name, plan.changed)


def finish_interrupted_tidb(conn: Connection, table_name: str, schema: str | None, done: Callable[[Table], bool],
                            changed: set[str]) -> bool:
    """A run killed after its swap left ``table_name`` rebuilt and the old table as a backup.

    When the table already has the shape the operation gives (``done``), the run is finished
    instead of started again: the backup is dropped if it holds the same rows. True if so.
    """
    if not _table_exists(conn, schema, backup_name(table_name)) or not _table_exists(conn, schema, table_name):
        return False
    if not done(Table(table_name, MetaData(), schema=schema, autoload_with=conn)):
        return False
    _drop_redundant_backup(conn, schema, table_name, changed)
    log.warning("%r already has its new shape: an interrupted rebuild had swapped it in; its backup was "
                "dropped and the operation is complete", table_name)
    return True


def _drop_redundant_backup(conn: Connection, schema: str | None, name: str, changed: set[str]) -> None:
    """Drop the backup when every value it holds is in ``name`` too; otherwise stop and say what to do."""
    backup = backup_name(name)
    present = _stored_columns(conn, schema, name)
    columns = [c for c in _stored_columns(conn, schema, backup) if c in present and c not in changed]
    backup_sql, name_sql = _qualified(conn, schema, backup), _qualified(conn, schema, name)
    if _fingerprint(conn, backup_sql, columns) != _fingerprint(conn, name_sql, columns):
        raise TableRebuildError(
            f"found {backup!r}, the old {name!r} kept by an interrupted rebuild that had already swapped the "
            f"tables, and it differs from {name!r} now (rows written since, or lost in the swap). Nothing was "
            f"changed. Compare the two tables, carry over anything missing from {name!r}, then DROP TABLE "
            f"{backup_sql} and run the migration again"
        )
    log.warning("found %r left by an interrupted rebuild of %r after its swap; it holds exactly the rows of %r: "
                "dropping it", backup, name, name)
    conn.exec_driver_sql(f"DROP TABLE {backup_sql}")


def _stored_columns(conn: Connection, schema: str | None, table: str) -> list[str]:
    """The columns whose values are stored as written (not computed by the database)."""
    return _names(conn, "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                        "TABLE_NAME = %s AND EXTRA NOT LIKE '%%GENERATED%%' ORDER BY ORDINAL_POSITION", schema, table)


def _anonymous_foreign_keys(plan: RebuildPlan) -> None:
    """Constraint names are unique per database: the copy's foreign keys get server-made names."""
    for constraint in plan.new.constraints:
        if isinstance(constraint, ForeignKeyConstraint):
            constraint.name = None  # type: ignore[assignment]


def _count(conn: Connection, table: str) -> int:
    return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar() or 0)


def _commit(conn: Connection) -> None:
    conn.exec_driver_sql("COMMIT")


def _copy_in_chunks(conn: Connection, plan: RebuildPlan, columns: Sequence[str], old: str, new: str,
                    total: int) -> None:
    """``INSERT ... SELECT`` per primary-key range, each committed (what TiDB's ``BATCH ON`` does)."""
    quote = conn.dialect.identifier_preparer.quote
    listed = ", ".join(quote(c) for c in columns)
    insert = f"INSERT INTO {new} ({listed}) SELECT {listed} FROM {old}"
    keys = list(plan.old.primary_key.columns)
    if len(keys) != 1:
        log.info("rebuilding %r: no single-column primary key, copying in one statement", plan.table_name)
        conn.exec_driver_sql(insert)
        _commit(conn)
        return
    key = quote(keys[0].name)
    low: Any = None
    done = 0
    while True:
        after, parameters = ("", ()) if low is None else (f"WHERE {key} > %s ", (low,))
        high = conn.exec_driver_sql(
            f"SELECT MAX({key}) FROM (SELECT {key} FROM {old} {after}ORDER BY {key} LIMIT {chunk_rows()}) AS c",
            parameters,
        ).scalar()
        if high is None:
            return
        condition = f"{key} <= %s" if low is None else f"{key} > %s AND {key} <= %s"
        done += conn.exec_driver_sql(f"{insert} WHERE {condition}", (*parameters, high)).rowcount
        _commit(conn)
        log.info("rebuilding %r: copied %d/%d rows", plan.table_name, done, total)
        low = high


def _fingerprint(conn: Connection, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """Row count and an order-independent sum of per-row MD5s of every copied value."""
    quote = conn.dialect.identifier_preparer.quote
    values = ", ".join(f"IFNULL(HEX(CAST({quote(c)} AS CHAR)), 'N')" for c in columns)
    row = conn.exec_driver_sql(
        f"SELECT COUNT(*), COALESCE(SUM(CAST(CONV(SUBSTRING(MD5(CONCAT_WS(',', {values})), 1, 15), 16, 10) "
        f"AS UNSIGNED)), 0) FROM {table}"
    ).one()
    return int(row[0]), int(row[1])


def _drop_quietly(conn: Connection, table: str) -> None:
    try:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    except Exception:  # the original error is the one to report
        pass


def _rebuild_offline(operations: Operations, plan: RebuildPlan) -> None:
    """``--sql``: the statements to run, in order (no checks possible without a database)."""
    impl = impl_of(operations)
    preparer = impl.dialect.identifier_preparer
    old_name, tmp = preparer.format_table(plan.old), preparer.format_table(plan.new)
    backup = preparer.quote(backup_name(plan.table_name))
    columns = ", ".join(preparer.quote(c) for c in copy_columns(plan, database_generated(impl.dialect)))
    _anonymous_foreign_keys(plan)
    impl._exec(CreateTable(plan.new))
    if plan.tiflash_replica:
        impl._exec(SetTiFlashReplica(plan.new, plan.tiflash_replica))
    for index in plan.new.indexes:
        impl._exec(CreateIndex(index))
    impl._exec(text(f"INSERT INTO {tmp} ({columns}) SELECT {columns} FROM {old_name}"))
    impl._exec(text(f"RENAME TABLE {old_name} TO {backup}, {tmp} TO {old_name}"))
    impl._exec(text(f"DROP TABLE {backup}"))
