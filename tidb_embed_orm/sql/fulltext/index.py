"""``FulltextIndex``: a TiDB ``FULLTEXT INDEX ... WITH PARSER p`` on text columns.

``FulltextIndex(name, "content", parser=MULTILINGUAL)`` goes in ``__table_args__`` (or alone). On
TiDB it is written inside ``CREATE TABLE`` when ``create_all`` makes the table with it, else
``ALTER TABLE t ADD FULLTEXT INDEX ... ADD_COLUMNAR_REPLICA_ON_DEMAND`` (TiDB serves full-text
search from a TiFlash replica, like vector search): that spelling, and the listeners that choose
between the two, live in ``dialects/tidb/ddl.py``. The embedded engine keeps an FTS5 table
instead (``dialects/embedded/fts5.py``, reached through ``FulltextBackend`` below).
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Column, Index, Table, event
from sqlalchemy.engine import Connection
from sqlalchemy.sql.ddl import CreateIndex, DropIndex

from ...exc import FulltextError
from .parsers import STANDARD, FulltextParser, as_parser


class FulltextIndex(Index):
    """A TiDB ``FULLTEXT INDEX`` on text columns, with its parser.

    ``add_columnar_replica_on_demand=True`` (TiDB's default advice) lets TiDB create the TiFlash
    replica full-text search reads from, when the index is added to an existing table.
    """

    def __init__(
        self,
        name: str | None,
        *columns: Column[Any] | str,
        parser: FulltextParser | str = STANDARD,
        add_columnar_replica_on_demand: bool = True,
        **kw: Any,
    ) -> None:
        if not columns:
            raise FulltextError("a full-text index needs at least one text column")
        self.parser = as_parser(parser)
        self.add_columnar_replica_on_demand = add_columnar_replica_on_demand
        super().__init__(name, *columns, **kw)  # type: ignore[arg-type]
        self.ddl_if(callable_=_not_created_inline)  # type: ignore[arg-type]  # DDLIfCallable is a Protocol of keywords
        event.listen(self, "after_create", _backend_after_create)
        event.listen(self, "before_drop", _backend_before_drop)

    @property
    def column_names(self) -> tuple[str, ...]:
        """The indexed columns' names, in index order."""
        return tuple(str(getattr(c, "name", c)) for c in self.expressions)

    @property
    def effective_name(self) -> str:
        """The index's name, or the one TiDB gives an unnamed index (its first column's)."""
        return str(self.name) if self.name is not None else self.column_names[0]

    def _set_parent(self, table: Any, **kw: Any) -> None:  # type: ignore[override]
        super()._set_parent(table, **kw)
        if isinstance(table, Table) and not getattr(table, "_tidb_fulltext_events", False):
            table._tidb_fulltext_events = True  # type: ignore[attr-defined]
            event.listen(table, "after_drop", _backend_after_table_drop)


def fulltext_indexes(table: Any) -> list[FulltextIndex]:
    """The ``FulltextIndex`` objects of ``table`` (none for anything that is not a Table)."""
    return sorted((i for i in getattr(table, "indexes", ()) if isinstance(i, FulltextIndex)),
                  key=lambda i: i.effective_name)


class DropFulltextIndexIfExists(DropIndex):
    """``ALTER TABLE t DROP INDEX IF EXISTS ft``: what lets ``drop_all`` drop a TiDB table.

    Spelled in ``dialects/tidb/ddl.py``.
    """


def _not_created_inline(ddl: Any, target: Any, bind: Any, **kw: Any) -> bool:
    """No separate CREATE INDEX for an index a backend already wrote inside its CREATE TABLE.

    A backend that does so (TiDB: ``dialects/tidb/ddl.py``) marks the index ``_tidb_inline =
    "done"`` while compiling the CREATE TABLE; this reads and clears that mark.
    """
    if isinstance(ddl, CreateIndex) and getattr(target, "_tidb_inline", None) == "done":
        target._tidb_inline = None
        return False
    return True


# --- per-backend hooks (the embedded engine's FTS5 tables and triggers) -----------------------


class FulltextBackend(Protocol):
    """What a backend keeps beside a full-text index (the embedded engine: FTS5 table, triggers)."""

    def after_create(self, index: FulltextIndex, connection: Connection) -> None:
        """Make what the backend keeps beside a newly created index (the embedded engine: triggers and fill)."""

    def before_drop(self, index: FulltextIndex, connection: Connection) -> None:
        """Remove what the backend keeps beside an index about to be dropped."""

    def after_table_drop(self, table: Table, connection: Connection) -> None:
        """Remove what the backend kept for the indexes of a dropped table."""


def _backend(connection: Connection) -> FulltextBackend | None:
    """The structures a backend keeps beside the DDL (the embedded engine: FTS5 + triggers), named by its
    dialect class as ``tidb_embed_fulltext``; None for TiDB, which keeps its index itself."""
    return getattr(connection.dialect, "tidb_embed_fulltext", None)


def _backend_after_create(index: FulltextIndex, connection: Connection, **kw: Any) -> None:
    backend = _backend(connection)
    if backend is not None:
        backend.after_create(index, connection)


def _backend_before_drop(index: FulltextIndex, connection: Connection, **kw: Any) -> None:
    backend = _backend(connection)
    if backend is not None:
        backend.before_drop(index, connection)


def _backend_after_table_drop(table: Table, connection: Connection, **kw: Any) -> None:
    backend = _backend(connection)
    if backend is not None:
        backend.after_table_drop(table, connection)
