"""Client mode owns the vectors it fills (issue 16, item 10).

- assigning a client-filled auto-embedding column (ORM, Core insert/update, upsert) is refused, as TiDB
  refuses a value for a generated column; the library's own writes of vectors it embedded still pass;
- the table says how it is filled: client-mode DDL marks the column, and an engine without client mode
  writing texts into such a table is refused instead of leaving NULL or stale vectors.
"""

from __future__ import annotations

import numpy as np
import pytest
from alembic.util import PriorityDispatchResult
from sqlalchemy import MetaData, Table, create_engine, event, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from tidb_embed_orm import use_client_embedding
from tidb_embed_orm.alembic.compare import _skip_client_filled_mark
from tidb_embed_orm.alembic.rebuild.client_fill import fill_vectors
from tidb_embed_orm.client.guard import FILLED_BY_CLIENT, vectors_filled_by_client
from tidb_embed_orm.client.marks import MARK, ClientFilledTableError, client_filled_marker
from tidb_embed_orm.client.mode import ClientEmbeddingError, ClientFilledColumnError
from tidb_embed_orm.embedders import HashingTestEmbedder
from tidb_embed_orm.testing.mariadb import create_sample_table
from tidb_embed_orm.testing.seed import sample_model

from .client_tables import vectors_current
from .conftest import MINILM

Doc = sample_model(MINILM, table="client_owned")
EMBEDDER = HashingTestEmbedder(384)
EMBEDDERS = {MINILM: EMBEDDER}


@pytest.fixture
def path(tmp_path):
    return tmp_path / "owned.db"


@pytest.fixture
def engine(path):
    engine = use_client_embedding(create_engine(f"sqlite+tidb_embed:///{path}"), embedders=EMBEDDERS)
    Doc.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": 1, "content": "one"}, {"id": 2, "content": "two"}])
    yield engine
    engine.dispose()


def rows(engine) -> dict[int, str]:
    """id -> text; every row's vector is the embedding of its current text."""
    return vectors_current(engine, Doc, EMBEDDER)


# --- assigning the vector is refused -----------------------------------------------------------------


def test_orm_assignment_of_the_vector_is_refused(engine):
    with Session(engine) as session:
        session.get(Doc, 1).embedding = np.zeros(384, dtype=np.float32)
        with pytest.raises(ClientFilledColumnError, match="^UPDATE assigns .* client mode fills from content"):
            session.commit()
    with Session(engine) as session:
        session.add(Doc(id=3, content="three", embedding=np.ones(384, dtype=np.float32)))
        with pytest.raises(ClientFilledColumnError, match="set content and its vector follows"):
            session.commit()
    with Session(engine) as session:
        doc = session.get(Doc, 2)
        doc.content, doc.embedding = "two, edited", EMBEDDER.embed(["something else"])[0]
        with pytest.raises(ClientFilledColumnError):
            session.commit()
    assert rows(engine) == {1: "one", 2: "two"}


def test_core_assignment_of_the_vector_is_refused(engine):
    vector = np.zeros(384, dtype=np.float32)
    statements = [
        (insert(Doc).values(id=3, content="three", embedding=vector), None),
        (insert(Doc), [{"id": 3, "content": "three", "embedding": vector}, {"id": 4, "content": "four"}]),
        (update(Doc).where(Doc.id == 1).values(embedding=vector), None),
        (update(Doc).where(Doc.id == 1).values(content="uno", embedding=None), None),
        (update(Doc), [{"id": 1, "content": "uno", "embedding": vector}]),
    ]
    for statement, params in statements:
        with engine.begin() as conn, pytest.raises(ClientFilledColumnError, match="assigns a value to"):
            conn.execute(statement, params)
    with Session(engine) as session, pytest.raises(ClientFilledColumnError, match="^UPDATE assigns a value"):
        session.execute(update(Doc), [{"id": 1, "content": "uno", "embedding": vector}])
    assert rows(engine) == {1: "one", 2: "two"}


def test_upsert_assigning_the_vector(engine):
    stmt = sqlite_insert(Doc).values(id=1, content="one, upserted")
    with engine.begin() as conn, pytest.raises(ClientFilledColumnError, match="the upsert sets embedding"):
        conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_={"embedding": np.zeros(384)}))
    assert rows(engine) == {1: "one", 2: "two"}
    # the inserted row's own vector is the one client mode fills: allowed
    with engine.begin() as conn:
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_={"content": stmt.excluded.content, "embedding": stmt.excluded.embedding}))
    assert rows(engine) == {1: "one, upserted", 2: "two"}


def test_copying_vectors_with_insert_from_select_still_passes(engine):
    Other = sample_model(MINILM, table="client_owned_copy")
    Other.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(Other).from_select(["id", "content", "embedding"], select(Doc.id, Doc.content, Doc.embedding)))
        got = dict(conn.execute(select(Other.id, Other.content)).all())
    assert got == {1: "one", 2: "two"}


def test_the_librarys_own_vector_writes_pass(engine):
    vector = EMBEDDER.embed(["uno"])[0]
    with engine.begin() as conn:  # an execution option set by the library
        conn.execution_options(**{FILLED_BY_CLIENT: True}).execute(
            update(Doc).where(Doc.id == 1).values(content="uno", embedding=vector))
    with engine.begin() as conn, vectors_filled_by_client(conn):  # the rebuilds' context
        conn.execute(update(Doc).where(Doc.id == 2).values(content="dos", embedding=EMBEDDER.embed(["dos"])[0]))
    assert rows(engine) == {1: "uno", 2: "dos"}


def test_the_alembic_client_fill_still_writes_vectors(engine):
    with engine.begin() as conn, vectors_filled_by_client(conn):
        conn.exec_driver_sql("INSERT INTO client_owned (id, content) VALUES (3, 'three'), (4, 'four')")
        table = Doc.__table__
        fill_vectors(conn, "client_owned", ["id"], [(table.c.embedding, table.c.content)], 4)
    assert rows(engine) == {1: "one", 2: "two", 3: "three", 4: "four"}


def test_text_writes_still_embedded(engine):
    with Session(engine) as session:
        session.get(Doc, 1).content = "uno"
        session.add(Doc(id=3, content="three"))
        session.commit()
    assert rows(engine) == {1: "uno", 2: "two", 3: "three"}


# --- the table says how it is filled ---------------------------------------------------------------


def test_client_mode_ddl_marks_the_column(engine):
    with engine.connect() as conn:
        sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'client_owned'").scalar()
    assert f"embedding VECTOR(384) /* tidb-embed-orm: client-filled from content by {MINILM} */" in sql
    server = create_engine("sqlite+tidb_embed://", embedders=EMBEDDERS)
    assert "tidb-embed-orm" not in str(CreateTable(Doc.__table__).compile(server))
    mysql = use_client_embedding(create_engine("mysql+pymysql://u@127.0.0.1/db"))
    ddl = " ".join(str(CreateTable(Doc.__table__).compile(mysql)).split())
    assert f"embedding VECTOR(384) COMMENT 'tidb-embed-orm: client-filled from content by {MINILM}'" in ddl
    assert "tidb-embed-orm" not in str(CreateTable(Doc.__table__).compile(create_engine("mysql+pymysql://u@h/db")))


def test_an_engine_without_client_mode_is_refused_on_a_client_filled_table(engine, path):
    plain = create_engine(f"sqlite+tidb_embed:///{path}", embedders=EMBEDDERS)
    statements: list[str] = []
    event.listen(plain, "before_cursor_execute", lambda *args: statements.append(args[2]))
    message = r"filled on the client.*call use_client_embedding\(engine\)"
    with Session(plain) as session:
        session.add(Doc(id=3, content="three"))
        with pytest.raises(ClientFilledTableError, match=message):
            session.commit()
    with Session(plain) as session:
        session.get(Doc, 1).content = "uno"
        with pytest.raises(ClientFilledTableError, match=message):
            session.commit()
    for statement, params in [
        (insert(Doc), [{"id": 3, "content": "three"}, {"id": 4, "content": "four"}]),
        (insert(Doc).values(id=3, content="three"), None),
        (update(Doc).where(Doc.id == 1).values(content="uno"), None),
    ]:
        with plain.begin() as conn, pytest.raises(ClientFilledTableError, match=message):
            conn.execute(statement, params)
    for raw in [  # raw SQL too, however spelled
        "INSERT INTO client_owned (id, content) VALUES (22, 'raw')",
        "/* c */ update client_owned SET content = 'rawchg' WHERE id = 1",
        "-- c\nWITH t AS (SELECT 'x' AS v) INSERT INTO \"client_owned\" (id, content) SELECT 23, v FROM t",
    ]:
        with plain.begin() as conn, pytest.raises(ClientFilledTableError, match=message):
            conn.exec_driver_sql(raw)
        with plain.begin() as conn, pytest.raises(ClientFilledTableError, match=message):
            conn.execute(text(raw))
    with plain.begin() as conn:  # writes that leave the texts alone are fine
        conn.exec_driver_sql("UPDATE client_owned SET id = id WHERE id = 2")
        conn.execute(update(Doc).where(Doc.id == 2).values(id=12))
        conn.execute(insert(Doc).values(id=5))
    assert sum("sqlite_master" in s for s in statements) == 1  # the mark is read once, then cached
    plain.dispose()
    with engine.connect() as conn:
        assert dict(conn.execute(select(Doc.id, Doc.content)).all()) == {1: "one", 5: None, 12: "two"}

    use_client_embedding(plain, embedders=EMBEDDERS)  # now it embeds: its writes pass
    with Session(plain) as session:
        session.add(Doc(id=3, content="three"))
        session.get(Doc, 1).content = "uno"
        session.commit()
    with plain.connect() as conn:
        got = conn.execute(select(Doc.id, Doc.content, Doc.embedding).where(Doc.id.in_([1, 3]))).all()
    for row in got:
        np.testing.assert_allclose(row.embedding, EMBEDDER.embed([row.content])[0], atol=1e-6)
    plain.dispose()


def test_tables_created_without_client_mode_are_not_refused(tmp_path):
    server = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'server.db'}", embedders=EMBEDDERS)
    Doc.metadata.create_all(server)
    with Session(server) as session:
        session.add(Doc(id=1, content="one"))
        session.commit()
        assert session.get(Doc, 1).embedding is not None
    server.dispose()


def test_a_refused_write_is_a_client_embedding_error(engine):
    with engine.begin() as conn, pytest.raises(ClientEmbeddingError):
        conn.execute(update(Doc).values(embedding=np.zeros(384)))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM client_owned WHERE embedding IS NULL")).scalar() == 0


def test_mysql_engine_without_client_mode_is_refused_on_a_marked_table(mariadb):
    client = use_client_embedding(create_engine(mariadb["url"]), embedders=EMBEDDERS)
    with client.begin() as conn:
        create_sample_table(conn, "client_owned")
        # the column as client-mode DDL declares it (MariaDB keeps TiDB's vector text in a LONGTEXT)
        mark = client_filled_marker(Doc.__table__.c.embedding, conn.dialect)
        conn.exec_driver_sql(f"ALTER TABLE client_owned MODIFY embedding LONGTEXT {mark}")
        conn.execute(insert(Doc), [{"id": 1, "content": "one"}])
    plain = create_engine(mariadb["url"])
    statements: list[str] = []
    event.listen(plain, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(2):
        with Session(plain) as session:
            session.add(Doc(id=3, content="three"))
            with pytest.raises(ClientFilledTableError, match=r"call use_client_embedding\(engine\)"):
                session.commit()
    with plain.begin() as conn:
        conn.execute(update(Doc).where(Doc.id == 1).values(id=11))
    assert sum("information_schema" in s for s in statements) == 1
    # autogenerate takes the mark for client mode's, not for a comment to drop
    reflected = Table("client_owned", MetaData(), autoload_with=plain)
    assert reflected.c.embedding.comment.startswith(MARK)
    column = Doc.__table__.c.embedding
    assert _skip_client_filled_mark(None, None, None, "client_owned", "embedding", reflected.c.embedding,
                                    column) is PriorityDispatchResult.STOP
    plain.dispose()
    client.dispose()


def test_a_table_recreated_in_client_mode_is_read_again(tmp_path):
    url = f"sqlite+tidb_embed:///{tmp_path / 'again.db'}"
    plain = create_engine(url, embedders=EMBEDDERS)
    Doc.metadata.create_all(plain)
    with Session(plain) as session:  # a table without the mark: the engine remembers it
        session.add(Doc(id=1, content="one"))
        session.commit()
    client = use_client_embedding(create_engine(url), embedders=EMBEDDERS)
    Doc.metadata.drop_all(client)
    Doc.metadata.create_all(client)
    with Session(plain) as session:
        session.add(Doc(id=2, content="two"))
        with pytest.raises(ClientFilledTableError):
            session.commit()
    plain.dispose()
    client.dispose()


def test_a_multi_row_insert_without_texts_passes_on_an_engine_without_client_mode(engine, path):
    plain = create_engine(f"sqlite+tidb_embed:///{path}", embedders=EMBEDDERS)
    with plain.begin() as conn:
        conn.execute(insert(Doc).values([{"id": 5}, {"id": 6}]))  # no text: nothing to embed
        with pytest.raises(ClientFilledTableError):
            conn.execute(insert(Doc).values([{"id": 7}, {"id": 8, "content": "eight"}]))
    plain.dispose()


def test_an_unrelated_engine_with_a_same_named_table_is_untouched(tmp_path):
    """A declared client-filled-capable table in another schema never makes another database's raw SQL fail."""
    from sqlalchemy import Column, Integer, Text

    from tidb_embed_orm import AutoEmbeddingVector

    Table("owned_elsewhere", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
          Column("e", AutoEmbeddingVector(MINILM, source="content")), schema="analytics")
    unrelated = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with unrelated.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE owned_elsewhere (id INTEGER, content TEXT)")
        conn.exec_driver_sql("INSERT INTO owned_elsewhere VALUES (1, 'x')")
        conn.execute(text("UPDATE owned_elsewhere SET content = 'y'"))
        assert conn.exec_driver_sql("SELECT content FROM owned_elsewhere").scalar() == "y"
    unrelated.dispose()


def test_switching_an_engine_to_client_mode_recompiles_its_cached_statements(path):
    engine = create_engine(f"sqlite+tidb_embed:///{path}", embedders=EMBEDDERS)
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    search = select(Doc.id).order_by(Doc.embedding.cosine_distance("one")).limit(1)
    Doc.metadata.create_all(engine)
    with engine.connect() as conn:
        conn.execute(search).all()
    assert "EMBED_TEXT" in sent[-1]
    use_client_embedding(engine, embedders=EMBEDDERS)
    with engine.connect() as conn:
        conn.execute(search).all()
    assert "EMBED_TEXT" not in sent[-1]  # the query's vector is a bound parameter now
    engine.dispose()
