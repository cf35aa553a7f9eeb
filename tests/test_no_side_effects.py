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
    import tidb_embed_orm, tidb_embed_orm.alembic, tidb_embed_orm.embedded  # noqa: F401
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
