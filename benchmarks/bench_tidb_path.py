"""The TiDB path, measured against a real MySQL-protocol server (MariaDB on 127.0.0.1, started here).

MariaDB runs the exact SQL our ORM sends to TiDB; TiDB's distance functions are replaced by
non-semantic stand-ins (tidb_embed_orm.testing.mariadb), so these figures are about the client:
statements, bytes and Python time. Compared in one run with pytidb and raw PyMySQL.

1. Bulk writes: 10,000 rows through our ORM, our Core executemany and pytidb's bulk_insert.
2. Result loading: a top-10 search with and without the 1024-dim vectors (bytes and time).
3. Compiled-statement reuse: 10,000 searches differing only in their text.

    .venv/bin/python benchmarks/bench_tidb_path.py [--rows 10000] [--searches 10000] [--search-rows 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pymysql
from pytidb import TiDBClient
from pytidb.schema import Field, TableModel
from pytidb.table import Table as PytidbTable
from sqlalchemy import create_engine, insert, select
from sqlalchemy.orm import Session, undefer

from tidb_embed_orm.testing.counters import CountingCache, received_bytes
from tidb_embed_orm.testing.mariadb import create_sample_table, running_mariadb
from tidb_embed_orm.testing.seed import sample_model

MODEL = "huggingface/BAAI/bge-m3"


Doc = sample_model(MODEL, deferred=True)  # as auto_embedding_column() declares it


class PytidbDoc(TableModel, table=True):
    __tablename__ = "pytidb_sample"
    id: int = Field(primary_key=True)
    content: str = Field()


def status(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_insert', 'Com_select')").all()
    return {name: int(value) for name, value in rows}


def measured(engine, work) -> tuple[float, int, int]:
    before = status(engine)
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    after = status(engine)
    return seconds, after["Com_insert"] - before["Com_insert"], after["Com_select"] - before["Com_select"]


def bulk_writes(engine, rows: int) -> None:
    print(f"\n1. bulk writes of {rows} rows (statements counted by the server)")
    data = [{"id": i, "content": f"document {i} about vectors"} for i in range(rows)]

    def orm() -> None:
        with Session(engine) as session:
            session.add_all([Doc(**row) for row in data])
            session.commit()

    def core() -> None:
        with engine.begin() as conn:
            conn.execute(insert(Doc), data)

    client = TiDBClient(engine, reconnect_params={})
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS pytidb_sample")
        conn.exec_driver_sql("CREATE TABLE pytidb_sample (id INT PRIMARY KEY, content TEXT)")
    pytidb_table = PytidbTable(client=client, schema=PytidbDoc)

    def reset() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sample")

    print(f"   {'path':<34} {'INSERTs':>8} {'SELECTs':>8} {'us/row':>8}")
    for name, work in [("tidb-embed-orm ORM add_all+commit", orm), ("tidb-embed-orm Core executemany", core),
                       ("pytidb Table.bulk_insert", lambda: pytidb_table.bulk_insert(data))]:
        reset()
        seconds, inserts, selects = measured(engine, work)
        print(f"   {name:<34} {inserts:>8} {selects:>8} {seconds / rows * 1e6:>8.1f}")


def result_loading(engine, rows: int) -> None:
    print(f"\n2. top-10 search, {rows} rows of 1024-dim vectors: with and without the vectors")
    rng = np.random.default_rng(0)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM sample")
        for start in range(0, rows, 1000):
            conn.execute(Doc.__table__.insert(), [
                {"id": i, "content": f"doc {i}", "embedding": rng.standard_normal(1024)}
                for i in range(start, min(start + 1000, rows))
            ])
    search = select(Doc).order_by(Doc.embedding.cosine_distance("a question")).limit(10)
    for name, statement in [("deferred (default)", search), ("undefer(Doc.embedding)",
                                                             search.options(undefer(Doc.embedding)))]:
        times, received = [], 0
        for _ in range(30):
            with Session(engine) as session, received_bytes() as counter:
                started = time.perf_counter()
                session.scalars(statement).all()
                times.append(time.perf_counter() - started)
                received = counter[0]
        print(f"   {name:<24} {received:>8} bytes received  {statistics.median(times) * 1000:>7.2f} ms")


def statement_reuse(engine, searches: int) -> None:
    print(f"\n3. {searches} searches differing only in the query text (100-row table)")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM sample")
        conn.execute(Doc.__table__.insert(), [{"id": i, "content": f"doc {i}", "embedding": np.ones(1024)}
                                              for i in range(100)])
    cache = CountingCache()
    cached_engine = engine.execution_options(compiled_cache=cache)
    sql = str(select(Doc.id, Doc.content).order_by(Doc.embedding.cosine_distance("x")).limit(10).compile(engine))
    url = engine.url
    raw = pymysql.connect(host=url.host, port=url.port, user=url.username, database=url.database)
    cursor = raw.cursor()
    orm_times, core_times, raw_times = [], [], []
    with Session(cached_engine) as session, cached_engine.connect() as conn:
        def search(text: str):
            return select(Doc.id, Doc.content).order_by(Doc.embedding.cosine_distance(text)).limit(10)

        for i in range(searches):  # interleaved, so server-side drift hits all three alike
            started = time.perf_counter()
            session.execute(search(f"q {i}")).all()
            orm_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            conn.execute(search(f"q {i}")).all()
            core_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            cursor.execute(sql, {"param_1": f"q {i}", "param_2": 10})
            cursor.fetchall()
            raw_times.append(time.perf_counter() - started)
    raw.close()
    orm_us, core_us, raw_us = (statistics.median(t) * 1e6 for t in (orm_times, core_times, raw_times))
    ratio = cache.hits / (2 * searches)
    print(f"   compiled cache: {cache.misses} compile(s), {cache.hits} hits, hit ratio {ratio:.4f}")
    print(f"   median per search: raw PyMySQL cursor.execute {raw_us:.0f} us, Core {core_us:.0f} us, "
          f"ORM {orm_us:.0f} us")
    print(f"   client overhead over raw PyMySQL: Core {core_us - raw_us:.0f} us, ORM {orm_us - raw_us:.0f} us "
          "per search (statement building included)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=10_000)
    parser.add_argument("--search-rows", type=int, default=10_000)
    args = parser.parse_args()
    with running_mariadb(general_log=False) as server:
        engine = create_engine(server.url)
        with engine.begin() as conn:
            create_sample_table(conn)
        bulk_writes(engine, args.rows)
        result_loading(engine, args.search_rows)
        statement_reuse(engine, args.searches)
        engine.dispose()


if __name__ == "__main__":
    main()
