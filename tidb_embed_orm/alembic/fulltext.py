"""Alembic for full-text indexes: ``op.create_fulltext_index`` / ``op.drop_fulltext_index``, and autogenerate.

TiDB: ``ALTER TABLE t ADD FULLTEXT INDEX ft (c) WITH PARSER p ADD_COLUMNAR_REPLICA_ON_DEMAND`` and
``DROP INDEX ft ON t`` (also in ``--sql`` mode). Embedded engine: the FTS5 table, its triggers and
its initial fill. Autogenerate compares ``FulltextIndex`` objects with the database's full-text
indexes (name, columns, parser) and keeps Alembic's own index comparison, which cannot see them
correctly, away from both; the embedded engine's FTS5 tables are never reported as tables.
"""

from __future__ import annotations

import re
from typing import Any

from alembic.autogenerate import render as alembic_render
from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.autogenerate.compare import comparators
from alembic.operations import MigrateOperation, Operations, ops
from alembic.util import DispatchPriority
from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.schema import CreateIndex, DropIndex

from ..dialects.embedded import fts5 as sqlite_fts5
from ..sql.fulltext import PARSERS, FulltextIndex, FulltextParser, as_parser
from .rebuild import impl_of


def _parser(parser: FulltextParser | str) -> FulltextParser:
    return as_parser(parser)


@Operations.register_operation("create_fulltext_index")
class CreateFulltextIndexOp(MigrateOperation):
    """Add a full-text index (TiDB: with its TiFlash replica on demand; embedded: FTS5 filled from the rows)."""

    def __init__(self, index_name: str, table_name: str, columns: list[str] | str, *,
                 parser: FulltextParser | str = "STANDARD", schema: str | None = None,
                 add_columnar_replica_on_demand: bool = True) -> None:
        self.index_name, self.table_name, self.schema = index_name, table_name, schema
        self.columns = [columns] if isinstance(columns, str) else list(columns)
        self.parser = _parser(parser)
        self.add_columnar_replica_on_demand = add_columnar_replica_on_demand

    @classmethod
    def create_fulltext_index(cls, operations: Operations, index_name: str, table_name: str,
                              columns: list[str] | str, *, parser: FulltextParser | str = "STANDARD",
                              schema: str | None = None, add_columnar_replica_on_demand: bool = True) -> None:
        operations.invoke(cls(index_name, table_name, columns, parser=parser, schema=schema,
                              add_columnar_replica_on_demand=add_columnar_replica_on_demand))

    def reverse(self) -> DropFulltextIndexOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        return DropFulltextIndexOp(self.index_name, self.table_name, schema=self.schema, columns=self.columns,
                                   parser=self.parser)

    def index(self) -> FulltextIndex:
        """The index this operation creates, as a SQLAlchemy ``Index`` on a table of the right name."""
        table = Table(self.table_name, MetaData(), *(Column(c, Text) for c in self.columns), schema=self.schema)
        return FulltextIndex(self.index_name, *table.c, parser=self.parser,
                             add_columnar_replica_on_demand=self.add_columnar_replica_on_demand)


@Operations.register_operation("drop_fulltext_index")
class DropFulltextIndexOp(MigrateOperation):
    """Remove a full-text index (TiDB: ``DROP INDEX ft ON t``; embedded: the FTS5 table and its triggers)."""

    def __init__(self, index_name: str, table_name: str, *, schema: str | None = None,
                 columns: list[str] | None = None, parser: FulltextParser | str | None = None) -> None:
        self.index_name, self.table_name, self.schema = index_name, table_name, schema
        self.columns = None if columns is None else list(columns)
        self.parser = None if parser is None else _parser(parser)

    @classmethod
    def drop_fulltext_index(cls, operations: Operations, index_name: str, table_name: str, *,
                            schema: str | None = None) -> None:
        operations.invoke(cls(index_name, table_name, schema=schema))

    def reverse(self) -> CreateFulltextIndexOp:
        """The operation that undoes this one (what autogenerate writes in ``downgrade()``)."""
        if self.columns is None or self.parser is None:
            raise ValueError("cannot reverse drop_fulltext_index without the index's columns and parser")
        return CreateFulltextIndexOp(self.index_name, self.table_name, self.columns, parser=self.parser,
                                     schema=self.schema)


@Operations.implementation_for(CreateFulltextIndexOp)
def _create_fulltext_index(operations: Operations, op: CreateFulltextIndexOp) -> None:
    impl = impl_of(operations)
    index = op.index()
    impl._exec(CreateIndex(index))
    if impl.dialect.name == "sqlite":
        for statement in sqlite_fts5.sync_statements(index):
            impl._exec(statement)


@Operations.implementation_for(DropFulltextIndexOp)
def _drop_fulltext_index(operations: Operations, op: DropFulltextIndexOp) -> None:
    impl = impl_of(operations)
    if impl.dialect.name == "sqlite":
        for statement in sqlite_fts5.drop_statements(op.table_name, op.index_name):
            impl._exec(statement)
        return
    table = Table(op.table_name, MetaData(), Column("_", Text), schema=op.schema)
    impl._exec(DropIndex(FulltextIndex(op.index_name, table.c["_"])))


# --- rendering -------------------------------------------------------------------------------


def _render_parser(parser: FulltextParser, autogen_context: AutogenContext) -> str:
    if parser.options:
        autogen_context.imports.add("import tidb_embed_orm")
        return f"tidb_embed_orm.{parser!r}"
    return repr(parser.name)


def _schema(schema: str | None) -> str:
    return f", schema={schema!r}" if schema else ""


@renderers.dispatch_for(CreateFulltextIndexOp)
def _render_create(autogen_context: AutogenContext, op: CreateFulltextIndexOp) -> str:
    prefix = alembic_render._alembic_autogenerate_prefix(autogen_context)
    return (f"{prefix}create_fulltext_index({op.index_name!r}, {op.table_name!r}, {op.columns!r}, "
            f"parser={_render_parser(op.parser, autogen_context)}{_schema(op.schema)})")


@renderers.dispatch_for(DropFulltextIndexOp)
def _render_drop(autogen_context: AutogenContext, op: DropFulltextIndexOp) -> str:
    prefix = alembic_render._alembic_autogenerate_prefix(autogen_context)
    return f"{prefix}drop_fulltext_index({op.index_name!r}, {op.table_name!r}{_schema(op.schema)})"


# --- what the database holds -------------------------------------------------------------------

_IDENT = r"(?:`(?:[^`]|``)+`|[A-Za-z_][\w$]*)"
_TIDB_FULLTEXT = re.compile(rf"FULLTEXT\s+(?:KEY|INDEX)\s+(?P<name>{_IDENT})\s*\(", re.IGNORECASE)
_WITH_PARSER = re.compile(r"^\s*WITH\s+PARSER\s+(?P<parser>\w+(?:\([^)]*\))?)", re.IGNORECASE)
_COLUMN_ATTRIBUTES = re.compile(rf"(?P<column>{_IDENT})\s+WITH\s*\((?P<attrs>[^()]*(?:\([^)]*\))?[^()]*)\)",
                                re.IGNORECASE)
_FIRST_ATTRIBUTE = re.compile(r"(\w+)\s*(?:\([^)]*\))?")
_OPTION = re.compile(r"(\w+)\s*=\s*('[^']*'|\w+)")


def _unquote(ident: str) -> str:
    return ident[1:-1].replace("``", "`") if ident.startswith("`") else ident


def parse_tidb_parser(text: str) -> FulltextParser:
    """``MULTILINGUAL``, ``standard``, ``NGRAM(min_gram=2, max_gram=3)`` as TiDB shows them."""
    name, _, args = text.strip().partition("(")
    parser = as_parser(name.strip())
    options: dict[str, Any] = {}
    for key, value in _OPTION.findall(args):
        if value.startswith("'"):
            options[key] = value[1:-1]
        elif value.lower() in ("true", "false"):
            options[key] = value.lower() == "true"
        else:
            options[key] = int(value)
    return parser(**options) if options else parser


def parse_tidb_fulltext_indexes(ddl: str) -> dict[str, tuple[tuple[str, ...], FulltextParser]]:
    """Full-text indexes in TiDB's ``SHOW CREATE TABLE``, in both of TiDB's syntaxes."""
    found: dict[str, tuple[tuple[str, ...], FulltextParser]] = {}
    for match in _TIDB_FULLTEXT.finditer(ddl):
        depth, end = 1, match.end()
        while end < len(ddl) and depth:
            depth += {"(": 1, ")": -1}.get(ddl[end], 0)
            end += 1
        body = ddl[match.end():end - 1]
        with_parser = _WITH_PARSER.match(ddl[end:])
        attributed = list(_COLUMN_ATTRIBUTES.finditer(body))
        if attributed:  # column-property mode: `content` WITH (multilingual), `path` WITH (exact), ...
            scored = [(m["column"], _FIRST_ATTRIBUTE.match(m["attrs"].strip())) for m in attributed]
            scored = [(c, a) for c, a in scored if a is not None and a[1].upper() in PARSERS]
            if not scored:
                continue
            columns = tuple(_unquote(c) for c, _ in scored)
            parser = parse_tidb_parser(scored[0][1][0])  # type: ignore[index]  # None filtered out above
        else:
            columns = tuple(_unquote(c.strip()) for c in body.split(","))
            parser = parse_tidb_parser(with_parser["parser"] if with_parser else "STANDARD")
        found[_unquote(match["name"])] = (columns, parser)
    return found


def reflect_fulltext_indexes(connection: Any, table: str, schema: str | None = None
                             ) -> dict[str, tuple[tuple[str, ...], FulltextParser]]:
    if connection.dialect.name == "sqlite":
        return {i.name: (i.columns, i.parser) for i in sqlite_fts5.reflect_fts5_indexes(connection, table)}
    if connection.dialect.name == "mysql":
        quote = connection.dialect.identifier_preparer.quote
        quoted = ".".join(quote(part) for part in ([schema] if schema else []) + [table])
        return parse_tidb_fulltext_indexes(connection.exec_driver_sql(f"SHOW CREATE TABLE {quoted}").one()[1])
    return {}


# --- autogenerate ----------------------------------------------------------------------------


@comparators.dispatch_for("table", subgroup="tidb_embed_fulltext", priority=DispatchPriority.LAST)
def _compare_fulltext_indexes(
    autogen_context: AutogenContext, modify_table_ops: ops.ModifyTableOps, schema: str | None, tname: str,
    conn_table: Table | None, metadata_table: Table | None,
) -> None:
    wanted = {
        i.effective_name: (i.column_names, i.parser)
        for i in (metadata_table.indexes if metadata_table is not None else ())
        if isinstance(i, FulltextIndex)
    }
    present: dict[str, tuple[tuple[str, ...], FulltextParser]] = {}
    if conn_table is not None and autogen_context.connection is not None:
        present = reflect_fulltext_indexes(autogen_context.connection, tname, schema)

    def same(a: tuple[tuple[str, ...], FulltextParser] | None, b: tuple[tuple[str, ...], FulltextParser]) -> bool:
        return a is not None and a[0] == b[0] and a[1].normalized() == b[1].normalized()

    for name, (columns, parser) in present.items():
        if not same(wanted.get(name), (columns, parser)):
            modify_table_ops.ops.append(DropFulltextIndexOp(name, tname, schema=schema, columns=list(columns),
                                                            parser=parser))
    for name, (columns, parser) in wanted.items():
        if not same(present.get(name), (columns, parser)):
            modify_table_ops.ops.append(CreateFulltextIndexOp(name, tname, list(columns), parser=parser,
                                                              schema=schema))
