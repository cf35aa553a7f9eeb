"""The TiDB path sends few, lean statements: multi-row INSERTs, no read-back, no vectors nobody reads.

Checked against a real MySQL-protocol server (MariaDB on 127.0.0.1) with the exact SQL our ORM
sends to TiDB; counts and bytes, never timings.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session, undefer

from tidb_embed_orm.testing.counters import CountingCache, received_bytes
from tidb_embed_orm.testing.mariadb import create_sample_table
from tidb_embed_orm.testing.seed import sample_model

MODEL = "huggingface/BAAI/bge-m3"


Doc = sample_model(MODEL, deferred=True)  # as auto_embedding_column() declares it


@pytest.fixture
def engine(mariadb):
    engine = create_engine(mariadb["url"])
    with engine.begin() as conn:
        create_sample_table(conn)
    yield engine
    engine.dispose()


def statements_since(log_path, marker: str) -> list[str]:
    text = log_path.read_text(errors="replace")
    after = text[text.rindex(marker):]
    return [m[1] for m in re.finditer(r"\sQuery\t(.*)", after)][1:]


def mark(engine, marker: str) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT '{marker}'")


def test_orm_bulk_insert_is_multi_row_without_read_back(engine, mariadb):
    mark(engine, "orm-bulk-start")
    with Session(engine) as session:
        session.add_all([Doc(id=i, content=f"document {i}") for i in range(2000)])
        session.commit()
    sent = statements_since(mariadb["general_log"], "orm-bulk-start")
    inserts = [s for s in sent if s.startswith("INSERT")]
    assert len(inserts) <= 3  # PyMySQL's executemany rewrite: one multi-row INSERT per packet
    assert all(s.startswith("INSERT INTO sample (id, content) VALUES (") for s in inserts)
    assert sum(s.count("),(") + 1 for s in inserts) == 2000
    reads = [s for s in sent if s.startswith("SELECT") and "sample" in s]
    # Nothing read back; the one look at information_schema is the engine asking, once per table, whether
    # the table's vectors are filled by the client (client/marks.py): it is cached for the engine's life.
    assert [s for s in reads if "information_schema.COLUMNS" not in s] == []
    assert len(reads) <= 1


def test_core_executemany_is_multi_row(engine, mariadb):
    mark(engine, "core-bulk-start")
    with engine.begin() as conn:
        conn.execute(insert(Doc), [{"id": i, "content": f"row {i}"} for i in range(2000)])
    inserts = [s for s in statements_since(mariadb["general_log"], "core-bulk-start") if s.startswith("INSERT")]
    assert len(inserts) <= 3 and sum(s.count("),(") + 1 for s in inserts) == 2000


def test_a_top_10_search_does_not_fetch_vectors_unless_asked(engine):
    rng = np.random.default_rng(0)
    with engine.begin() as conn:
        conn.execute(Doc.__table__.insert(), [
            {"id": i, "content": f"doc {i}", "embedding": rng.standard_normal(1024)} for i in range(50)
        ])
    search = select(Doc).order_by(Doc.embedding.cosine_distance("a question")).limit(10)
    with received_bytes() as received, Session(engine) as session:
        lean = session.scalars(search).all()
        lean_bytes = received[0]
        assert "embedding" not in {k for d in lean for k in d.__dict__}
        received[0] = 0
        full = session.scalars(search.options(undefer(Doc.embedding)).execution_options(populate_existing=True)).all()
        full_bytes = received[0]
    assert [d.id for d in lean] == [d.id for d in full]
    assert all(d.embedding.shape == (1024,) for d in full)
    assert lean_bytes * 10 < full_bytes


def test_searches_differing_only_in_text_compile_once(engine):
    cache = CountingCache()
    with Session(engine.execution_options(compiled_cache=cache)) as session:
        for i in range(100):
            session.scalars(select(Doc.id).order_by(Doc.embedding.cosine_distance(f"question {i}")).limit(10)).all()
    assert cache.misses == 1 and cache.hits == 99
