"""Importing tidb_embed_orm changes no SQL for tables that do not use it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r'''
import sys
from sqlalchemy import Column, Computed, Index, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
if sys.argv[1] == "with":
    import tidb_embed_orm, tidb_embed_orm.alembic, tidb_embed_orm.dialects.embedded  # noqa: F401
t = Table("plain", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(20)),
          Column("upper_name", String(20), Computed("upper(name)", persisted=True)),
          Index("ix_lower", func.lower(Column("name"))))
for dialect in (mysql.dialect(), sqlite.dialect()):
    print(CreateTable(t).compile(dialect=dialect))
    for index in t.indexes:
        print(CreateIndex(index).compile(dialect=dialect))
    print(select(t).where(t.c.id > 3).order_by(func.length(t.c.name)).limit(5).compile(dialect=dialect))
'''


def compiled(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], check=True, capture_output=True, text=True).stdout


def test_plain_tables_compile_the_same_with_and_without_the_library():
    without = compiled("without")
    assert "GENERATED ALWAYS AS (upper(name)) STORED" in without
    assert compiled("with") == without


EVERY_MODULE = r'''
import importlib, pkgutil, sys
import tidb_embed_orm
if sys.argv[1] == "all":
    for module in pkgutil.walk_packages(tidb_embed_orm.__path__, "tidb_embed_orm."):
        if ".demo.migrations" not in module.name:
            importlib.import_module(module.name)
    from sqlalchemy import create_engine
    create_engine("sqlite+tidb_embed://").dispose()  # the embedded dialect loaded and used
from sqlalchemy import Column, Integer, MetaData, Table, Text, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable
from tidb_embed_orm import AutoEmbeddingVector, FulltextIndex, Vector, VectorIndex, fts_match, nearest
t = Table("docs", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
          Column("v", Vector(3)),
          Column("embedding", AutoEmbeddingVector("huggingface/sentence-transformers/all-MiniLM-L6-v2",
                                                  source="content")),
          VectorIndex("vi", "embedding"), FulltextIndex("ft", "content"))
for dialect in (mysql.dialect(), sqlite.dialect()):
    print(CreateTable(t).compile(dialect=dialect))
    for index in sorted(t.indexes, key=lambda i: i.name):
        print(CreateIndex(index).compile(dialect=dialect))
    print(select(t.c.id).order_by(t.c.embedding.cosine_distance("q")).limit(3).compile(dialect=dialect))
    print(select(t.c.id).order_by(t.c.v.l2_distance([1, 2, 3])).limit(3).compile(dialect=dialect))
    print(select(t.c.id).where(fts_match(t.c.content, "q")).compile(dialect=dialect))
    print(nearest(t, t.c.embedding.cosine_distance("q"), k=2, where=t.c.id > 1).compile(dialect=dialect))
'''


def test_what_the_library_compiles_for_plain_dialects_does_not_depend_on_what_was_imported():
    """Backend rules live in the embedded dialect's compiler classes, not under the dialect name 'sqlite'."""
    def run(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", EVERY_MODULE, mode], check=True, capture_output=True,
                              text=True).stdout

    core = run("core")
    assert "VEC_EMBED_COSINE_DISTANCE(docs.embedding" in core  # plain sqlite gets TiDB's spelling
    assert "vec_distance" not in core and "tidb_embed_knn" not in core
    assert run("all") == core
