"""TiDB's compile rules and DDL listeners live in dialects/tidb/, registered once, reading sql/ only."""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text, create_mock_engine

from tidb_embed_orm import MULTILINGUAL, FulltextIndex, Vector, VectorIndex
from tidb_embed_orm.dialects import tidb

PACKAGE = Path(__file__).resolve().parents[1] / "tidb_embed_orm"


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (``tidb_embed_orm.x.y``)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = parts[:-1]  # a module's package; for __init__.py, the package itself
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_the_import_reader_resolves_relative_imports():
    assert "tidb_embed_orm.sql.fulltext.FulltextIndex" in imported_modules(PACKAGE / "dialects" / "tidb" / "ddl.py")
    assert "tidb_embed_orm.exc" in imported_modules(PACKAGE / "sql" / "fulltext" / "__init__.py")


def test_the_core_never_imports_a_dialect():
    for path in (PACKAGE / "sql").rglob("*.py"):
        upward = {m for m in imported_modules(path) if m.startswith("tidb_embed_orm.dialects")}
        assert not upward, f"{path.relative_to(PACKAGE)} imports {sorted(upward)}"


def test_the_tidb_rules_read_the_core_and_nothing_else_of_ours():
    for path in (PACKAGE / "dialects" / "tidb").rglob("*.py"):
        ours = {m for m in imported_modules(path) if m.startswith("tidb_embed_orm.")}
        assert all(m.startswith(("tidb_embed_orm.sql", "tidb_embed_orm.exc", "tidb_embed_orm.dialects.tidb"))
                   for m in ours), f"{path.relative_to(PACKAGE)} imports {sorted(ours)}"


def test_no_module_reads_the_compiler_extension_internals():
    for path in PACKAGE.rglob("*.py"):
        assert "_compiler_dispatcher" not in path.read_text(encoding="utf-8"), path


def test_setup_runs_once():
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(3)),
                  VectorIndex("vi", "v", "l2"))
    tidb.setup()  # already run by import tidb_embed_orm: nothing registered twice
    tidb.setup()
    statements = ddl("mysql+pymysql://", table.metadata)
    assert statements.count("ALTER TABLE t SET TIFLASH REPLICA 1") == 1
    assert "CREATE VECTOR INDEX vi ON t ((VEC_L2_DISTANCE(v))) USING HNSW" in statements


def ddl(url: str, metadata: MetaData) -> list[str]:
    statements: list[str] = []
    engine = create_mock_engine(url, lambda sql, *a, **k: statements.append(
        str(sql.compile(dialect=engine.dialect)).strip()))
    metadata.create_all(engine, checkfirst=False)
    statements.append("--")
    metadata.drop_all(engine, checkfirst=False)
    return statements


def schema() -> MetaData:
    metadata = MetaData()
    Table("docs", metadata, Column("id", Integer, primary_key=True), Column("content", Text),
          Column("v", Vector(3)), Column("w", Vector(3)),
          VectorIndex("vi", "v"), VectorIndex("vi_own", "w", "l2", tiflash_replica=None),
          FulltextIndex("ft", "content", parser=MULTILINGUAL))
    Table("plain", metadata, Column("id", Integer, primary_key=True), Column("x", Text), Index("ix_x", "x"))
    return metadata


def test_create_all_and_drop_all_on_tidb():
    statements = ddl("mysql+pymysql://", schema())
    split = statements.index("--")
    created, dropped = statements[:split], statements[split + 1:]
    docs = next(s for s in created if s.startswith("CREATE TABLE docs"))
    assert docs.endswith("PRIMARY KEY (id), \n\tFULLTEXT INDEX ft (content) WITH PARSER MULTILINGUAL\n)")
    assert not any("ADD FULLTEXT" in s for s in created)  # written inside CREATE TABLE, not again
    replica = created.index("ALTER TABLE docs SET TIFLASH REPLICA 1")
    assert created[replica + 1] == "CREATE VECTOR INDEX vi ON docs ((VEC_COSINE_DISTANCE(v))) USING HNSW"
    assert created.count("ALTER TABLE docs SET TIFLASH REPLICA 1") == 1  # not for tiflash_replica=None
    assert "CREATE VECTOR INDEX vi_own ON docs ((VEC_L2_DISTANCE(w))) USING HNSW" in created
    assert "CREATE INDEX ix_x ON plain (x)" in created
    assert dropped.index("ALTER TABLE docs DROP INDEX IF EXISTS ft") < dropped.index("DROP TABLE docs")
    assert not any("plain" in s for s in dropped if s.startswith("ALTER"))


def test_other_dialects_get_none_of_tidbs_ddl_listeners():
    statements = ddl("sqlite://", schema())
    assert not any("TIFLASH" in s or "FULLTEXT" in s or "IF EXISTS" in s for s in statements)
    docs = next(s for s in statements if s.startswith("CREATE TABLE docs"))
    assert "FULLTEXT" not in docs
