"""The embedded engine's compilers: how ``sqlite+tidb_embed://`` spells TiDB's SQL, as class methods.

As in SQLAlchemy's own dialects (``lib/sqlalchemy/dialects/sqlite/base.py``), the dialect names its
compiler classes (``EmbeddedDialect.statement_compiler`` / ``ddl_compiler``); nothing is registered
under the dialect *name* ``sqlite``, so plain ``sqlite://`` compiles exactly as SQLAlchemy does,
whatever this library has imported. The library's own elements find these methods through
``functions.backend_visit`` (``visit_<tidb_visit_name>``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.sqlite.base import SQLiteCompiler, SQLiteDDLCompiler
from sqlalchemy.sql.ddl import CreateIndex, DropIndex
from sqlalchemy.sql.selectable import Select

from ...sql.elements import VectorDistance, VectorEmbedDistance, VectorFunction
from ...sql.fulltext import FtsMatchWord, FulltextIndex, FulltextJoin
from . import fts5, knn
from . import vectors as vector_sql


class EmbeddedCompiler(SQLiteCompiler):
    """SQLite's statement compiler, plus TiDB's vector, full-text and vector-index searches."""

    def visit_select(self, select_stmt: Select[Any], **kw: Any) -> str:  # type: ignore[override]
        return super().visit_select(knn.served_by_index(select_stmt, self, **kw), **kw)  # type: ignore[no-any-return]

    def visit_tidb_vector_distance(self, element: VectorDistance, **kw: Any) -> str:
        return vector_sql.compile_distance(element, self, **kw)

    def visit_tidb_vector_embed_distance(self, element: VectorEmbedDistance, **kw: Any) -> str:
        return vector_sql.compile_embed_distance(element, self, **kw)

    def visit_tidb_vector_function(self, element: VectorFunction, **kw: Any) -> str:
        return vector_sql.compile_own_function(element, self, **kw)

    def visit_tidb_knn_filter(self, element: knn.KnnFilter, **kw: Any) -> str:
        return knn.compile_knn_filter(element, self, **kw)

    def visit_tidb_distance_bound(self, element: Any, **kw: Any) -> str:
        return knn.compile_distance_bound(element, self, **kw)

    def visit_tidb_fts_match_word(self, element: FtsMatchWord, **kw: Any) -> str:
        return fts5.compile_fts_match_word(element, self, **kw)

    def visit_tidb_fulltext_join(self, element: FulltextJoin, **kw: Any) -> str:
        return fts5.compile_fulltext_join(element, self, **kw)

    def visit_tidb_embedded_only(self, element: Any, **kw: Any) -> str:
        return self.process(element.condition, **kw)  # type: ignore[no-any-return]


class EmbeddedDDLCompiler(SQLiteDDLCompiler):
    """SQLite's DDL compiler; a FulltextIndex is an FTS5 table."""

    def visit_create_index(self, create: CreateIndex, **kw: Any) -> str:  # type: ignore[override]
        if isinstance(create.element, FulltextIndex):
            return fts5.compile_create_index(create, self, **kw)
        return super().visit_create_index(create, **kw)  # type: ignore[no-any-return]

    def visit_drop_index(self, drop: DropIndex, **kw: Any) -> str:  # type: ignore[override]
        if isinstance(drop.element, FulltextIndex):
            return fts5.compile_drop_index(drop, self, **kw)
        return super().visit_drop_index(drop, **kw)  # type: ignore[no-any-return]
