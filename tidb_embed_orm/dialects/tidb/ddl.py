"""TiDB's DDL for the library's schema objects.

- ``VectorIndex``: ``CREATE VECTOR INDEX vi ON t ((VEC_COSINE_DISTANCE(v))) USING HNSW``, after
  ``ALTER TABLE t SET TIFLASH REPLICA n`` (TiDB builds a vector index from a TiFlash replica);
- ``FulltextIndex``: ``FULLTEXT INDEX ... WITH PARSER p`` inside ``CREATE TABLE`` when
  ``create_all`` / ``table.create`` makes the table with it, else ``ALTER TABLE t ADD FULLTEXT INDEX
  ... ADD_COLUMNAR_REPLICA_ON_DEMAND`` (or ``CREATE FULLTEXT INDEX``); ``DROP INDEX ft ON t``;
- ``drop_all``: TiDB refuses DROP TABLE while a FULLTEXT index exists, so the indexes go first
  (``ALTER TABLE t DROP INDEX IF EXISTS ft``).

TiDB is SQLAlchemy's own ``mysql`` dialect: there is no TiDB dialect class to carry these rules, so
they are registered for the dialect name ``"mysql"`` and the listeners check
``connection.dialect.name == "mysql"``. Each acts only on the library's own objects; any other
index or table compiles exactly as without the library. Registered by ``setup()`` in this
package's ``__init__.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import CompileError
from sqlalchemy.sql.compiler import DDLCompiler
from sqlalchemy.sql.ddl import CreateIndex, CreateTable, DropIndex, SchemaGenerator

from ...exc import FulltextError
from ...sql.fulltext import DropFulltextIndexIfExists, FulltextIndex, fulltext_indexes
from ...sql.vector_index import SetTiFlashReplica, VectorIndex

# --- CREATE / DROP INDEX ----------------------------------------------------------------------


def compile_create_index(element: CreateIndex, compiler: DDLCompiler, **kw: Any) -> str:
    """``@compiles(CreateIndex, "mysql")``: the library's indexes in TiDB's spelling, others unchanged."""
    index = element.element
    if isinstance(index, VectorIndex):
        return _create_vector_index(element, index, compiler)
    if isinstance(index, FulltextIndex):
        return _create_fulltext_index(index, compiler)
    return compiler.visit_create_index(element, **kw)


def compile_drop_index(element: DropIndex, compiler: DDLCompiler, **kw: Any) -> str:
    """``@compiles(DropIndex, "mysql")``: ``DROP INDEX ft ON t`` for a FulltextIndex, others unchanged."""
    index = element.element
    if isinstance(index, FulltextIndex):
        table = compiler.preparer.format_table(index.table)  # type: ignore[arg-type]
        return f"DROP INDEX {compiler.preparer.quote(index.effective_name)} ON {table}"
    return compiler.visit_drop_index(element, **kw)


def _create_vector_index(element: CreateIndex, index: VectorIndex, compiler: DDLCompiler) -> str:
    if index.table is None:
        raise CompileError(f"vector index {index.name!r} is not attached to a table")
    preparer = compiler.preparer
    vector_column = preparer.quote(index.vector_column_name)
    return (
        f"CREATE VECTOR INDEX {'IF NOT EXISTS ' if element.if_not_exists else ''}"
        f"{compiler._prepared_index_name(index)} ON {preparer.format_table(index.table)} "
        f"(({index.distance.tidb_name}({vector_column}))) USING HNSW"
    )


def _create_fulltext_index(index: FulltextIndex, compiler: DDLCompiler) -> str:
    if index.table is None:
        raise CompileError(f"full-text index {index.name!r} is not attached to a table")
    table = compiler.preparer.format_table(index.table)
    if index.add_columnar_replica_on_demand or index.name is None:
        suffix = " ADD_COLUMNAR_REPLICA_ON_DEMAND" if index.add_columnar_replica_on_demand else ""
        return f"ALTER TABLE {table} ADD FULLTEXT INDEX {_fulltext_body(index, compiler)}{suffix}"
    columns = ", ".join(compiler.preparer.quote(name) for name in index.column_names)
    return (f"CREATE FULLTEXT INDEX {compiler.preparer.quote(str(index.name))} ON {table} ({columns}) "
            f"WITH PARSER {index.parser.sql()}")


def _fulltext_body(index: FulltextIndex, compiler: DDLCompiler) -> str:
    if index.name is None and index.parser.name == "NGRAM":
        raise FulltextError("TiDB needs a name for an NGRAM full-text index: FulltextIndex('ft_name', ...)")
    columns = ", ".join(compiler.preparer.quote(name) for name in index.column_names)
    name = f"{compiler.preparer.quote(str(index.name))} " if index.name is not None else ""
    return f"{name}({columns}) WITH PARSER {index.parser.sql()}"


def compile_drop_fulltext_if_exists(element: DropFulltextIndexIfExists, compiler: DDLCompiler, **kw: Any) -> str:
    index: FulltextIndex = element.element  # type: ignore[assignment]
    table = compiler.preparer.format_table(index.table)  # type: ignore[arg-type]
    return (f"ALTER TABLE {table} DROP INDEX IF EXISTS "
            f"{compiler.preparer.quote(index.effective_name)}")


def compile_set_tiflash_replica(element: SetTiFlashReplica, compiler: DDLCompiler, **kw: Any) -> str:
    """``ALTER TABLE t SET TIFLASH REPLICA n``: every dialect's spelling (TiDB's SQL is the default)."""
    table = element.table
    name = compiler.preparer.quote(table) if isinstance(table, str) else compiler.preparer.format_table(table)
    return f"ALTER TABLE {name} SET TIFLASH REPLICA {element.count}"


# --- FULLTEXT INDEX inside CREATE TABLE -------------------------------------------------------


def compile_create_table(element: CreateTable, compiler: DDLCompiler, **kw: Any) -> str:
    """``@compiles(CreateTable, "mysql")``: adds the full-text indexes ``mark_inline`` marked, else unchanged."""
    text: str = compiler.visit_create_table(element, **kw)
    inline = [i for i in fulltext_indexes(element.element) if getattr(i, "_tidb_inline", None) == "pending"]
    if not inline:
        return text
    head, close, tail = text.rpartition("\n)")
    clauses = "".join(f", \n\tFULLTEXT INDEX {_fulltext_body(index, compiler)}" for index in inline)
    for index in inline:
        index._tidb_inline = "done"  # type: ignore[attr-defined]  # FulltextIndex's ddl_if skips its CREATE INDEX
    return f"{head}{clauses}{close}{tail}"


# --- listeners (class-level, on Table and VectorIndex: see setup()) ---------------------------


def mark_inline(table: Table, connection: Connection, **kw: Any) -> None:
    """``create_all`` / ``table.create`` on TiDB: write the indexes inside CREATE TABLE, as TiDB's docs do."""
    if connection.dialect.name == "mysql" and isinstance(kw.get("_ddl_runner"), SchemaGenerator):
        for index in fulltext_indexes(table):
            index._tidb_inline = "pending"  # type: ignore[attr-defined]


def clear_inline(table: Table, connection: Connection, **kw: Any) -> None:
    for index in fulltext_indexes(table):  # after the table and its indexes, even if compiling failed
        index._tidb_inline = None  # type: ignore[attr-defined]


def drop_fulltext_indexes_first(table: Table, connection: Connection, **kw: Any) -> None:
    """TiDB refuses DROP TABLE while a FULLTEXT index exists: drop_all drops the indexes first."""
    if connection.dialect.name == "mysql":
        for index in fulltext_indexes(table):
            connection.execute(DropFulltextIndexIfExists(index))


def ensure_tiflash_replica(index: VectorIndex, connection: Connection, **kw: Any) -> None:
    """Before a VectorIndex's CREATE on TiDB: the TiFlash replica it is built from."""
    if connection.dialect.name == "mysql" and index.tiflash_replica is not None and index.table is not None:
        connection.execute(SetTiFlashReplica(index.table, index.tiflash_replica or 1))
