"""TiDB: SQLAlchemy's own ``mysql`` dialect, and the library's rules for it, set up in one place.

The library's SQL elements compile to TiDB's spelling on every dialect (``sql/``). What TiDB
needs beyond that hooks SQLAlchemy's own constructs, and is registered here, once, by ``setup()``
(called from ``tidb_embed_orm/__init__.py``, like GeoAlchemy2's ``setup_ddl_event_listeners()``):

- ``ddl.py``: CREATE / DROP INDEX for ``VectorIndex`` and ``FulltextIndex``, full-text indexes
  inside CREATE TABLE, ``DropFulltextIndexIfExists``, ``SetTiFlashReplica``, and the DDL listeners
  (TiFlash replica before a vector index, full-text indexes before DROP TABLE);
- ``compiler.py``: ``nearest()``'s candidates form of a SELECT.

The rules are keyed on the dialect name ``"mysql"`` because TiDB *is* that dialect (there is no
TiDB dialect class to carry them); each acts only on the library's own objects, so plain tables,
indexes and selects compile exactly as without the library (``tests/test_no_side_effects.py``).
The imports go one way: this package reads ``sql/``, never the reverse.
"""

from __future__ import annotations

from sqlalchemy import Table, event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.ddl import CreateIndex, CreateTable, DropIndex
from sqlalchemy.sql.selectable import Select

from ...sql.fulltext import DropFulltextIndexIfExists
from ...sql.vector_index import SetTiFlashReplica, VectorIndex
from . import compiler, ddl

_set_up = False


def setup() -> None:
    """Register TiDB's compile rules and DDL listeners; once per process (later calls do nothing)."""
    global _set_up
    if _set_up:
        return
    _set_up = True
    compiles(CreateIndex, "mysql")(ddl.compile_create_index)
    compiles(DropIndex, "mysql")(ddl.compile_drop_index)
    compiles(CreateTable, "mysql")(ddl.compile_create_table)
    compiles(DropFulltextIndexIfExists, "mysql")(ddl.compile_drop_fulltext_if_exists)
    compiles(SetTiFlashReplica)(ddl.compile_set_tiflash_replica)  # no other dialect spells it
    compiles(Select, "mysql")(compiler.compile_select)
    # Class-level listeners: each returns at once unless the connection is TiDB (mysql) and the
    # table has a FulltextIndex / the index is a VectorIndex.
    event.listen(Table, "before_create", ddl.mark_inline)
    event.listen(Table, "after_create", ddl.clear_inline)
    event.listen(Table, "before_drop", ddl.drop_fulltext_indexes_first)
    event.listen(VectorIndex, "before_create", ddl.ensure_tiflash_replica)


__all__ = ["setup"]
