"""SQLite (the embedded engine): the table change procedure SQLite documents, made to fit Alembic.

https://www.sqlite.org/lang_altertable.html#otheralter: remember the table's indexes and
triggers, create the new table from the ORIGINAL ``CREATE TABLE`` text with only the changed
column edited (so AUTOINCREMENT, collations, CHECKs and foreign keys survive word for word),
copy the rows with ``INSERT ... SELECT`` (rowids and the AUTOINCREMENT sequence kept), drop the
old table, rename the new one, recreate the triggers and indexes from their saved SQL, run
``PRAGMA foreign_key_check``, all inside one savepoint that is rolled back on any failure.

Foreign keys. With ``PRAGMA foreign_keys=ON``, ``DROP TABLE`` first deletes every row, firing
``ON DELETE CASCADE`` in child tables; ``PRAGMA defer_foreign_keys`` defers the checks but not
those actions, and renaming the old table away moves the children's REFERENCES with it. The
only safe way is the documented one: foreign keys off during the change. ``PRAGMA foreign_keys``
is a no-op inside a transaction, so:

- outside a transaction (how Alembic runs SQLite migrations: each migration's transaction
  starts at its first write) they are turned off here, the rebuild's savepoint is the whole
  transaction, and they are turned back on after it;
- inside one, a table that other tables reference is refused before anything changes (a table
  nobody references is safe: its DROP deletes no other table's rows).

The engine's own VECTOR write-check triggers are not saved: the embedded engine's statement hook
reconciles them from the schema after every DDL statement (the copy's, then the renamed table's),
so they check the columns the new table has, whatever the old ones were.

Triggers are recreated before indexes: creating a vector index installs its change-log triggers
afresh (embedded/vector_index), replacing the saved ones, so the index is rebuilt from the new rows.

``PRAGMA legacy_alter_table=ON`` during the final rename: otherwise SQLite re-checks every view
and trigger of the schema while the table is missing and refuses the rename; views refer to the
table by name and need no change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alembic.operations import Operations
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable, DropTable

from ...client.mode import is_client_mode
from .client_fill import fill_vectors
from .create_table_text import CreateTableText, words
from .plan import (
    RebuildPlan,
    TableRebuildError,
    chunk_rows,
    copy_columns,
    database_generated,
    final_table,
    impl_of,
    log,
    tmp_name,
)

_SAVEPOINT = "tidb_embed_rebuild"
#: ``embedded.vector_sql.TRIGGER_PREFIX`` (not imported: that would load the embedded engine here).
VECTOR_TRIGGER_PREFIX = "tidb_embed_vector_"


def rebuild_sqlite(operations: Operations, plan: RebuildPlan) -> None:
    if impl_of(operations).as_sql:
        _rebuild_offline(operations, plan)
        return
    conn = operations.get_bind()
    name = plan.table_name
    foreign_keys = bool(conn.exec_driver_sql("PRAGMA foreign_keys").scalar())
    in_transaction = bool(conn.connection.dbapi_connection.in_transaction)  # type: ignore[union-attr]
    children = _referencing_tables(conn, name)  # the table itself too: its copy references it by name
    if foreign_keys and in_transaction and children:
        raise TableRebuildError(
            f"cannot rebuild {name!r} safely: foreign keys are on and {', '.join(map(repr, children))} "
            f"reference it, so dropping the old table would delete or orphan their rows, and SQLite "
            f"cannot turn foreign keys off inside a transaction, which is open here (a write earlier in "
            f"this migration, or an engine that emits BEGIN itself). Make this operation the first write "
            f"of its own migration, or run the migration with foreign keys off (PRAGMA foreign_keys=OFF "
            f"before the transaction begins); nothing was changed"
        )
    turn_off = foreign_keys and not in_transaction
    legacy = int(conn.exec_driver_sql("PRAGMA legacy_alter_table").scalar() or 0)
    if turn_off:
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        conn.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
        try:
            _steps(conn, plan, sorted({name, *children}) if foreign_keys else [])
        except BaseException:
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
            conn.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            raise
        conn.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")
    finally:
        conn.exec_driver_sql(f"PRAGMA legacy_alter_table={legacy}")
        if turn_off:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")


def _steps(conn: Connection, plan: RebuildPlan, check_tables: list[str]) -> None:
    quote = conn.dialect.identifier_preparer.quote
    name, tmp = plan.table_name, tmp_name(plan.table_name)
    create_sql = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)
    ).scalar()
    if create_sql is None:
        raise TableRebuildError(f"there is no table {name!r}")
    saved = conn.exec_driver_sql(
        "SELECT type, name, sql FROM sqlite_schema WHERE tbl_name = ? AND type IN ('index', 'trigger') "
        "AND sql IS NOT NULL AND substr(name, 1, ?) != ? "  # the VECTOR write checks follow the new columns
        "ORDER BY type DESC, rowid",  # triggers, then indexes (see the module notes)
        (name, len(VECTOR_TRIGGER_PREFIX), VECTOR_TRIGGER_PREFIX),
    ).all()
    _refuse_uses_of_dropped_columns(plan, saved)
    sequence = _sequence(conn, name)
    conn.exec_driver_sql(_new_create_sql(conn, plan, create_sql, quote(tmp)))
    rowid = _has_rowid(create_sql)
    total = _copy_rows(conn, plan, quote(name), quote(tmp), rowid)
    if is_client_mode(conn.dialect):
        keys = ["rowid"] if rowid else [c.name for c in plan.new.primary_key.columns]
        fill_vectors(conn, quote(tmp), keys, plan.refilled(client_mode=True), total)
    conn.exec_driver_sql(f"DROP TABLE {quote(name)}")
    conn.exec_driver_sql("PRAGMA legacy_alter_table=ON")
    conn.exec_driver_sql(f"ALTER TABLE {quote(tmp)} RENAME TO {quote(name)}")
    if sequence is not None:
        conn.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (name,))
        conn.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (name, sequence))
    for _, _, sql in saved:
        conn.exec_driver_sql(sql)
    _check_views(conn, name)
    for table in check_tables:
        problems = conn.exec_driver_sql(f"PRAGMA foreign_key_check({quote(table)})").all()
        if problems:
            raise TableRebuildError(
                f"rebuilding {name!r} would leave {len(problems)} broken foreign keys in {table!r} "
                f"(first: {tuple(problems[0])}); nothing was changed"
            )


def _check_views(conn: Connection, name: str) -> None:
    """Views name the table in their text and are left as they are; one that no longer works refuses the change."""
    quote = conn.dialect.identifier_preparer.quote
    views = conn.exec_driver_sql(
        "SELECT name FROM sqlite_schema WHERE type = 'view' AND instr(lower(sql), lower(?)) > 0", (name,)
    ).all()
    for (view,) in views:
        try:
            conn.exec_driver_sql(f"SELECT * FROM {quote(view)} LIMIT 0")
        except Exception as exc:
            raise TableRebuildError(
                f"the view {view!r} would no longer work after rebuilding {name!r} ({exc.__cause__ or exc}); "
                f"nothing was changed: drop or change the view first (and create it again after)"
            ) from exc


def _referencing_tables(conn: Connection, name: str) -> list[str]:
    rows = conn.exec_driver_sql(
        "SELECT DISTINCT m.name FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f "
        "WHERE m.type = 'table' AND lower(f.\"table\") = lower(?) ORDER BY m.name",
        (name,),
    ).all()
    return [r[0] for r in rows]


def _sequence(conn: Connection, name: str) -> int | None:
    has_sequence = conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'"
    ).first()
    if has_sequence is None:
        return None
    return conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = ?", (name,)).scalar()


def _has_rowid(create_sql: str) -> bool:
    tail = CreateTableText.parse(create_sql).tail
    return "ROWID" not in tail.upper()


def _new_create_sql(conn: Connection, plan: RebuildPlan, create_sql: str, quoted_tmp: str) -> str:
    """The original statement under the new name, with the dropped columns out and the changed ones in."""
    statement = CreateTableText.parse(create_sql)
    for column_name in plan.dropped:
        statement.drop_column(column_name)
    for column in plan.new.columns:
        if column.name in plan.changed:
            definition = str(CreateColumn(column).compile(dialect=conn.dialect)).strip()
            if statement.column_index(column.name) is None:
                statement.add_column(definition)
            else:
                statement.replace_column(column.name, definition)
    return statement.render(quoted_tmp)


def _copy_rows(conn: Connection, plan: RebuildPlan, old: str, new: str, rowid: bool) -> int:
    """``INSERT ... SELECT`` in rowid ranges; each range's texts are embedded in batches first."""
    quote = conn.dialect.identifier_preparer.quote
    columns = copy_columns(plan, database_generated(conn.dialect))
    alias = _integer_primary_key(conn, plan.table_name)
    if rowid and alias is None:
        columns = ["rowid", *columns]
    listed = ", ".join(quote(c) if c != "rowid" else c for c in columns)
    total = int(conn.exec_driver_sql(f"SELECT count(*) FROM {old}").scalar() or 0)
    embedded = [] if is_client_mode(conn.dialect) else plan.refilled(client_mode=False)
    service = getattr(conn.dialect, "embedding_service", None)
    if embedded:
        log.info("rebuilding %r: %d rows, each embedded again for %s", plan.table_name, total,
                 ", ".join(f"{c.name} ({getattr(c.type, 'model', '?')})" for c, _ in embedded))
    sources = ", ".join(quote(s.name) for _, s in embedded)
    insert = f"INSERT INTO {new} ({listed}) SELECT {listed} FROM {old}"
    if not rowid:  # WITHOUT ROWID: one statement, its texts embedded in batches before it
        if service is not None and embedded:
            _prefetch(service, embedded, conn.exec_driver_sql(f"SELECT {sources} FROM {old}").all(), 0)
        conn.exec_driver_sql(insert)
        return total
    size = chunk_rows()
    if service is not None and embedded and service.cache_size > 0:  # prefetched vectors must stay cached
        size = max(1, min(size, service.cache_size // len(embedded)))
    last, done = None, 0
    while True:
        after = "" if last is None else f"WHERE rowid > {int(last)} "
        rows = conn.exec_driver_sql(
            f"SELECT rowid{', ' + sources if sources else ''} FROM {old} {after}ORDER BY rowid LIMIT {size}"
        ).all()
        if not rows:
            return total
        if service is not None and embedded:
            _prefetch(service, embedded, rows, 1)
        high = rows[-1][0]
        low = "" if last is None else f"rowid > {int(last)} AND "
        conn.exec_driver_sql(f"{insert} WHERE {low}rowid <= {int(high)}")
        last, done = high, done + len(rows)
        if embedded:
            log.info("rebuilding %r: copied %d/%d rows", plan.table_name, done, total)


def _prefetch(service: Any, embedded: list[tuple[Any, Any]], rows: Sequence[Any], offset: int) -> None:
    for position, (column, _) in enumerate(embedded, start=offset):
        texts = [r[position] for r in rows if isinstance(r[position], str)]
        service.prefetch_stored(column.type, texts)


def _integer_primary_key(conn: Connection, name: str) -> str | None:
    """The column that is the rowid (``INTEGER PRIMARY KEY``), if any."""
    info = conn.exec_driver_sql("SELECT name, type, pk FROM pragma_table_info(?)", (name,)).all()
    keys = [r for r in info if r[2]]
    if len(keys) == 1 and str(keys[0][1]).upper() == "INTEGER":
        return str(keys[0][0])
    return None


def _refuse_uses_of_dropped_columns(plan: RebuildPlan, saved: Sequence[Any]) -> None:
    """An index or trigger that names a dropped column could not be recreated (a trigger would fail
    at its next firing), as SQLite's own DROP COLUMN refuses: say which, before anything changes."""
    if not plan.dropped:
        return
    dropped = {name.lower() for name in plan.dropped}
    users = [f"{type_} {name!r}" for type_, name, sql in saved if dropped & {w.lower() for w in words(sql)}]
    if users:
        raise TableRebuildError(
            f"cannot drop {', '.join(map(repr, sorted(plan.dropped)))} from {plan.table_name!r}: "
            f"{', '.join(users)} use{'s' if len(users) == 1 else ''} it. Nothing was changed. Drop "
            f"{'it' if len(users) == 1 else 'them'} first (a vector index: op.drop_vector_index, which "
            f"autogenerate puts before the column's drop)"
        )


def _rebuild_offline(operations: Operations, plan: RebuildPlan) -> None:
    """``--sql``: the definition comes from ``copy_from``, so the table is created from it."""
    impl = impl_of(operations)
    preparer = impl.dialect.identifier_preparer
    generated = database_generated(impl.dialect)
    columns = ", ".join(preparer.quote(c) for c in copy_columns(plan, generated))
    impl._exec(text(f"SAVEPOINT {_SAVEPOINT}"))
    impl._exec(CreateTable(plan.new))
    impl._exec(text(f"INSERT INTO {preparer.format_table(plan.new)} ({columns}) "
                    f"SELECT {columns} FROM {preparer.format_table(plan.old)}"))
    impl._exec(DropTable(plan.old))
    impl._exec(text(f"ALTER TABLE {preparer.format_table(plan.new)} RENAME TO {preparer.quote(plan.table_name)}"))
    for index in final_table(plan).indexes:  # index names are global in SQLite
        impl._exec(CreateIndex(index))
    impl._exec(text(f"RELEASE SAVEPOINT {_SAVEPOINT}"))
