"""The embedded engine's one statement hook: comments, case and WITH never hide what a statement is,
and DDL side effects (VECTOR write checks, vector-index change logs) follow the schema by table name,
whichever way the schema was made (raw SQL, create_all, an Alembic rebuild)."""

from __future__ import annotations

import re
import warnings

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import StatementError

from tidb_embed_orm import DimensionError, HashingTestEmbedder, VectorValueError, use_client_embedding
from tidb_embed_orm.sql.statement import read_statement

from .test_alembic_sqlite_rebuild import ADD_TITLE_VEC, ALTER_MODEL, BGE, MINILM, run_migration

#: The same statement, spelled as people (and tools) write it.
SPELLINGS = [
    "/* c */ {}",
    "-- c\n{}",
    "{lower}",
    "  /* a */ -- b\n /* c */ {mixed}",
]


def spell(template: str, statement: str) -> str:
    """``statement`` in ``template``'s spelling (case changes leave string constants alone)."""
    parts = re.split(r"""('[^']*'|"[^"]*")""", statement)
    lower = "".join(p if p[:1] in "'\"" and p else p.lower() for p in parts)
    mixed = "".join(p if p[:1] in "'\"" and p else "".join(c.upper() if i % 2 else c.lower()
                                                           for i, c in enumerate(p)) for p in parts)
    return template.format(statement, lower=lower, mixed=mixed)


def make_engine(path, **kwargs):
    embedders = {MINILM: HashingTestEmbedder(384), BGE: HashingTestEmbedder(1024)}
    return create_engine(f"sqlite+tidb_embed:///{path}", embedders=embedders, **kwargs)


def trigger_definitions(conn, table: str) -> list[str]:
    """The engine's VECTOR write-check triggers of ``table``, without their (random) names."""
    rows = conn.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND name LIKE 'tidb_embed_vector_%'",
        (table,),
    ).scalars()
    return sorted(sql[sql.index(" AFTER "):] for sql in rows)


def refused(conn, sql: str, *params) -> bool:
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(sql, *params)
    except (StatementError, VectorValueError, DimensionError):
        return True
    return False


@pytest.mark.parametrize("template", SPELLINGS)
def test_statement_keyword_is_read_after_comments_and_with(template):
    assert read_statement(spell(template, "WITH a AS (SELECT 1), b(x) AS (SELECT 2) INSERT INTO t VALUES (1)")
                          ).keyword == "INSERT"
    create = read_statement(spell(template, 'CREATE INDEX IF NOT EXISTS vi ON "Items" (VEC_COSINE_DISTANCE(v))'))
    assert (create.keyword, create.ddl_object, create.table.lower(), create.is_ddl) == ("CREATE", "INDEX", "items", True)
    key = read_statement(spell(template, "SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = 'x'"))
    assert key.keyword == "SET"


@pytest.mark.parametrize("template", SPELLINGS)
def test_a_vector_table_gets_its_write_checks_however_its_create_is_spelled(tmp_path, template):
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        conn.exec_driver_sql(spell(template, "CREATE TABLE t (id INTEGER PRIMARY KEY, v VECTOR(3))"))
        assert refused(conn, "INSERT INTO t (id, v) VALUES (1, '[1,2]')")
        assert refused(conn, "INSERT INTO t (id, v) VALUES (2, 'garbage')")
        assert refused(conn, "/* c */ WITH src AS (SELECT '[1,2]' AS v) insert INTO t (id, v) SELECT 4, v FROM src")
        conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (3, '[1,2,3]')")
        assert conn.exec_driver_sql("SELECT typeof(v), length(v) FROM t").all() == [("blob", 12)]
        assert refused(conn, "UPDATE t SET v = '[1]' WHERE id = 3")
        assert conn.exec_driver_sql("SELECT id FROM t").scalars().all() == [3]
    engine.dispose()


def test_comments_inside_a_statement_hide_nothing(tmp_path):
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v VECTOR(2))")
        conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (1, '[1,2]')")
        with pytest.raises(Exception, match="SUM"):
            conn.exec_driver_sql("SELECT SUM /* c */ (v) FROM t")
        conn.exec_driver_sql("CREATE INDEX vi ON t (/* c */ VEC_COSINE_DISTANCE( -- d\n v))")
        conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (2, '[2,1]')")
        assert conn.exec_driver_sql("SELECT count(*) FROM _tidb_embed_vector_log").scalar() >= 1
    engine.dispose()


@pytest.mark.parametrize("template", SPELLINGS)
def test_a_vector_column_added_by_alter_table_gets_its_write_checks(tmp_path, template):
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        with pytest.raises((VectorValueError, StatementError), match="16383"):
            conn.exec_driver_sql(spell(template, "ALTER TABLE t ADD COLUMN big VECTOR(16384)"))
        conn.exec_driver_sql(spell(template, "ALTER TABLE t ADD COLUMN v VECTOR(2)"))
        assert refused(conn, "INSERT INTO t (id, v) VALUES (1, '[1,2,3]')")
        conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (2, '[1,2]')")
        assert conn.exec_driver_sql("SELECT vec_as_text(v) FROM t").scalars().all() == ["[1,2]"]
    engine.dispose()


@pytest.mark.parametrize("template", SPELLINGS)
def test_vector_16384_is_refused_however_the_create_is_spelled(tmp_path, template):
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        with pytest.raises((VectorValueError, StatementError), match="16383"):
            conn.exec_driver_sql(spell(template, "CREATE TABLE big (id INTEGER PRIMARY KEY, v VECTOR(16384))"))
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'big'").scalar() == 0
    engine.dispose()


@pytest.mark.parametrize("template", SPELLINGS)
def test_a_vector_index_created_with_a_comment_keeps_its_change_log(tmp_path, template):
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v VECTOR(3))")
        conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (1, '[1,0,0]')")
        conn.exec_driver_sql(spell(template, "CREATE INDEX vi ON t (VEC_COSINE_DISTANCE(v))"))
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t (id, v) VALUES (2, '[0,1,0]')")
        logged = conn.exec_driver_sql("SELECT count(*) FROM _tidb_embed_vector_log").scalar()
        assert logged >= 1  # the index hears of the new row: it does not serve stale results
        triggers = conn.exec_driver_sql(
            "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name LIKE '_tidb_embed_vlog_vi_%'"
        ).scalar()
        assert triggers == 3
    engine.dispose()


PAGE_DDL = (
    "CREATE TABLE sample (id INT, content TEXT, embedding VECTOR(1024) GENERATED ALWAYS AS "
    '(EMBED_TEXT("huggingface/sentence-transformers/all-MiniLM-L6-v2", content)) STORED)'
)


@pytest.mark.parametrize("template", SPELLINGS)
def test_raw_ddl_whose_size_disagrees_with_the_model_is_refused(tmp_path, template):
    engine = make_engine(tmp_path / "t.db")
    with engine.begin() as conn:
        with pytest.raises(DimensionError) as caught:
            conn.exec_driver_sql(spell(template, PAGE_DDL))
        message = str(caught.value)
        assert "VECTOR(1024)" in message and "384" in message and "VECTOR(384)" in message
        assert conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'sample'").scalar() == 0
        # the right size, and a model the registry does not know, are let through
        conn.exec_driver_sql(spell(template, PAGE_DDL.replace("1024", "384")))
        conn.exec_driver_sql(spell(template, PAGE_DDL.replace("sample", "other").replace(
            "sentence-transformers/all-MiniLM-L6-v2", "acme/unknown-model")))
    engine.dispose()


def test_reflecting_a_table_whose_size_disagrees_with_its_model_warns_and_does_not_raise(tmp_path):
    from pysqlite3 import dbapi2

    path = tmp_path / "foreign.db"
    raw = dbapi2.connect(str(path))
    raw.create_function("EMBED_TEXT", -1, lambda *args: None, deterministic=True)
    raw.execute(PAGE_DDL)  # made by another tool: this engine never saw the CREATE
    raw.close()
    engine = make_engine(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        columns = {c["name"]: c for c in inspect(engine).get_columns("sample")}
    assert columns["embedding"]["type"].dim == 1024
    assert any("1024" in str(w.message) for w in caught)
    engine.dispose()


# --- Rebuilds: the write checks follow the new table --------------------------------------------

ITEMS = [
    f"""CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        body TEXT,
        title TEXT,
        v VECTOR(3),
        embedding VECTOR(384) GENERATED ALWAYS AS (EMBED_TEXT('{MINILM}', "body")) STORED
    )""",
]
DROP_EMBEDDING = 'op.drop_auto_embedding_column("items", "embedding")\n'
CHANGES = {
    "add": ADD_TITLE_VEC.replace('"posts"', '"items"'),
    "drop": DROP_EMBEDDING,
    "alter": ALTER_MODEL.replace('"posts"', '"items"'),
}


def check_writable(engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO items (id, body, v) VALUES (100, 'new', '[1,2,3]')")
        conn.exec_driver_sql("UPDATE items SET v = '[4,5,6]' WHERE id = 1")
        conn.execute(text("UPDATE items SET v = :v WHERE id = 2"), {"v": "[7,8,9]"})
        assert refused(conn, "INSERT INTO items (id, body, v) VALUES (101, 'bad', '[1,2]')")
        assert conn.exec_driver_sql("SELECT vec_as_text(v) FROM items WHERE id IN (1, 100) ORDER BY id").scalars(
        ).all() == ["[4,5,6]", "[1,2,3]"]


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_rebuilt_table_with_a_plain_vector_stays_writable(tmp_path, change):
    path = tmp_path / "items.db"
    engine = make_engine(path)
    with engine.begin() as conn:
        conn.exec_driver_sql(ITEMS[0])
        conn.exec_driver_sql("INSERT INTO items (id, body, title, v) VALUES (1, 'a', 't', '[1,1,1]'), "
                             "(2, 'b', NULL, NULL)")
    run_migration(tmp_path, engine, CHANGES[change])
    check_writable(engine)
    with engine.connect() as conn:
        rebuilt = trigger_definitions(conn, "items")
        assert "_tidb_embed_new_" not in " ".join(rebuilt)
        conn.exec_driver_sql("CREATE TABLE fresh (v VECTOR(3))")
        fresh = [d.replace('"fresh"', '"items"') for d in trigger_definitions(conn, "fresh")]
        assert rebuilt == fresh  # the same checks a freshly created table gets
    engine.dispose()
    later = make_engine(path)  # and in a later process
    with later.begin() as conn:
        conn.exec_driver_sql("INSERT INTO items (id, body, v) VALUES (200, 'later', '[0,0,1]')")
    later.dispose()


def test_client_mode_alter_to_a_model_of_another_size_checks_the_new_size(tmp_path):
    embedders = {MINILM: HashingTestEmbedder(384), BGE: HashingTestEmbedder(1024)}
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{tmp_path / 'client.db'}"),
                                  embedders=embedders)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT, body TEXT, "
                             "v VECTOR(3), embedding VECTOR(384))")
        from sqlalchemy import Column, Integer, MetaData, Table, Text, insert

        from tidb_embed_orm import AutoEmbeddingVector

        posts = Table("posts", MetaData(), Column("id", Integer, primary_key=True), Column("title", Text),
                      Column("body", Text), Column("embedding", AutoEmbeddingVector(MINILM, source="body")))
        conn.execute(insert(posts), [{"id": i, "title": f"t{i}", "body": f"b{i}"} for i in range(5)])
    run_migration(tmp_path, engine, ALTER_MODEL)
    with engine.begin() as conn:
        definitions = " ".join(trigger_definitions(conn, "posts"))
        assert "1536" not in definitions and "4096" in definitions  # 1024 floats = 4096 bytes
        from sqlalchemy import Column, Integer, MetaData, Table, Text, insert

        from tidb_embed_orm import AutoEmbeddingVector

        posts = Table("posts", MetaData(), Column("id", Integer, primary_key=True), Column("title", Text),
                      Column("body", Text), Column("embedding", AutoEmbeddingVector(BGE, source="body")))
        conn.execute(insert(posts), [{"id": 10, "title": "new", "body": "new body"}])
        conn.exec_driver_sql("UPDATE posts SET v = '[1,2,3]' WHERE id = 10")
        assert conn.exec_driver_sql("SELECT vec_dims(embedding) FROM posts WHERE id = 10").scalar() == 1024
    engine.dispose()


def test_create_all_raw_sql_and_a_script_end_with_the_same_checks(tmp_path):
    from sqlalchemy import Column, Integer, MetaData, Table

    from tidb_embed_orm import Vector

    engine = make_engine(tmp_path / "t.db")
    Table("orm_made", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(3))).metadata.create_all(
        engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("/* raw */ CREATE TABLE raw_made (id INTEGER PRIMARY KEY, v VECTOR(3))")
    raw = engine.raw_connection()
    raw.driver_connection.executescript("-- a script\nCREATE TABLE script_made (id INTEGER PRIMARY KEY, v VECTOR(3));")
    raw.close()
    with engine.connect() as conn:
        made = [[d.replace(f'"{t}"', '"T"') for d in trigger_definitions(conn, t)]
                for t in ("orm_made", "raw_made", "script_made")]
    assert made[0] == made[1] == made[2] and len(made[0]) == 2
    engine.dispose()


def test_a_without_rowid_table_with_a_vector_keeps_itself_and_every_rename_working(tmp_path):
    """Its write checks find the row by its primary key (it has no rowid), so inserts and every rename work."""
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'k.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE k (a TEXT, b INT, v VECTOR(2), PRIMARY KEY (b, a)) WITHOUT ROWID")
        conn.exec_driver_sql("CREATE TABLE other (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO k VALUES ('x', 1, '[1,2]')")
        conn.exec_driver_sql("/* c */ update k SET v = '[3,4]' WHERE a = 'x'")
        conn.exec_driver_sql("ALTER TABLE other RENAME TO other2")
        assert conn.exec_driver_sql("SELECT vec_as_text(v) FROM k").all() == [("[3,4]",)]
        with pytest.raises(Exception, match="does not fit VECTOR\\(2\\)"):
            conn.exec_driver_sql("INSERT INTO k VALUES ('y', 2, '[1,2,3]')")
    engine.dispose()


@pytest.mark.parametrize("drop", ["ALTER TABLE t DROP COLUMN v", "/* c */ alter table t drop v",
                                  "-- c\nALTER TABLE \"t\" DROP COLUMN \"v\""])
def test_a_vector_column_can_be_dropped_and_the_others_stay_checked(tmp_path, drop):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'd.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, v VECTOR(3), w VECTOR(2))")
        conn.exec_driver_sql(drop)
        conn.exec_driver_sql("INSERT INTO t (id, w) VALUES (1, '[1,2]')")
        with pytest.raises(Exception, match="does not fit VECTOR\\(2\\)"):
            conn.exec_driver_sql("INSERT INTO t (id, w) VALUES (2, '[1,2,3]')")
    with engine.begin() as conn:  # a failed ALTER leaves the checks in place
        with pytest.raises(Exception, match="nope"):
            conn.exec_driver_sql("ALTER TABLE t DROP COLUMN nope")
        with pytest.raises(Exception, match="does not fit VECTOR\\(2\\)"):
            conn.exec_driver_sql("INSERT INTO t (id, w) VALUES (3, '[1]')")
    engine.dispose()


@pytest.mark.parametrize("add", [
    "ALTER TABLE s ADD COLUMN embedding VECTOR(1024) GENERATED ALWAYS AS "
    "(EMBED_TEXT('huggingface/sentence-transformers/all-MiniLM-L6-v2', content)) VIRTUAL",
    "/* c */ alter table s add embedding vector(1024) generated always as "
    "(embed_text(\"huggingface/sentence-transformers/all-MiniLM-L6-v2\", content)) virtual",
])
def test_a_column_added_with_a_size_its_model_cannot_fill_is_refused(add):
    engine = create_engine("sqlite+tidb_embed://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE s (id INTEGER PRIMARY KEY, content TEXT)")
        with pytest.raises(DimensionError, match="VECTOR\\(1024\\).*384-dimensional"):
            conn.exec_driver_sql(add)
    engine.dispose()
