"""asyncio: ``create_async_engine`` on the embedded engine's URL and on TiDB's async drivers.

The embedded engine is tested with the real MiniLM model; MariaDB (aiomysql, asyncmy) stands in
for TiDB's wire protocol. Embedding must never run on the event loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tidb_embed_orm import (
    EmbeddingFailedError,
    HashingTestEmbedder,
    ProviderKeyError,
    Vector,
    VectorIndex,
    configure_provider,
    use_client_embedding,
)
from tidb_embed_orm.providers import client_key
from tidb_embed_orm.testing.mariadb import create_sample_table
from tidb_embed_orm.testing.seed import SEED_QUERY, SEED_ROWS, sample_model

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
TEST_MODEL = "huggingface/test/hashing-64"
KEY = "hf_async_test_key_0123456789"


class RecordingEmbedder:
    """A deterministic embedder that records each call's batch size and thread, optionally slow."""

    def __init__(self, dim: int = 64, delay: float = 0.0) -> None:
        self.inner = HashingTestEmbedder(dim)
        self.delay = delay
        self.batches: list[int] = []
        self.threads: set[int] = set()

    def embed(self, texts):
        self.batches.append(len(texts))
        self.threads.add(threading.get_ident())
        if self.delay:
            time.sleep(self.delay)
        return self.inner.embed(texts)


def run(coro):
    return asyncio.run(coro)


@pytest.mark.real_model
def test_the_page_through_async_session_on_the_embedded_engine(tmp_path):
    sample = sample_model(MINILM)
    url = f"sqlite+tidb_embed:///{tmp_path / 'async.db'}"

    async def page():
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(sample.metadata.create_all)
        async with AsyncSession(engine) as session:
            session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
            await session.commit()
            hits = (await session.scalars(
                select(sample.id).order_by(sample.embedding.cosine_distance(SEED_QUERY)).limit(2))).all()
            vector = (await session.scalars(select(sample.embedding).where(sample.id == 1))).one()
        await engine.dispose()
        return hits, vector

    hits, vector = run(page())
    assert hits == [1, 4]
    sync_engine = create_engine(url)  # the same file, read synchronously: the same vector
    with sync_engine.connect() as conn:
        stored = conn.execute(select(sample.embedding).where(sample.id == 1)).scalar_one()
    sync_engine.dispose()
    assert vector.dtype == np.float32 and vector.shape == (384,)
    np.testing.assert_array_equal(vector, stored)


def test_inserts_are_embedded_in_batches_off_the_event_loop(tmp_path):
    sample = sample_model(TEST_MODEL, dim=64)
    embedder = RecordingEmbedder()

    async def go():
        engine = create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 'b.db'}", embedders={TEST_MODEL: embedder},
                                     embedding_batch_size=64)
        loop_thread = threading.get_ident()
        async with engine.begin() as conn:
            await conn.run_sync(sample.metadata.create_all)
        async with AsyncSession(engine) as session:
            session.add_all([sample(id=i, content=f"document {i}") for i in range(130)])
            await session.commit()
            count = len((await session.scalars(select(sample.id).where(sample.embedding.is_not(None)))).all())
            await session.scalars(select(sample.id).order_by(sample.embedding.cosine_distance("a query")).limit(3))
        await engine.dispose()
        return loop_thread, count

    loop_thread, count = run(go())
    assert count == 130
    assert embedder.batches[:3] == [64, 64, 2]  # the statement's texts, batched, before SQLite asks per row
    assert embedder.batches[3:] == [1]  # the query text, once
    assert loop_thread not in embedder.threads


def test_a_slow_model_does_not_stall_other_coroutines(tmp_path):
    sample = sample_model(TEST_MODEL, dim=64)
    embedder = RecordingEmbedder(delay=0.3)

    async def go():
        engine = create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 's.db'}", embedders={TEST_MODEL: embedder},
                                     embedding_batch_size=10)
        async with engine.begin() as conn:
            await conn.run_sync(sample.metadata.create_all)
        ticks_during: list[int] = []
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        async def write():
            async with AsyncSession(engine) as session:
                session.add_all([sample(id=i, content=f"text {i}") for i in range(30)])
                before = ticks
                await session.commit()  # three slow batches
                ticks_during.append(ticks - before)
            done.set()

        await asyncio.gather(ticker(), write())
        await engine.dispose()
        return ticks_during[0]

    # Had the model run on the loop's thread, the ticker could not have run while it slept.
    assert run(go()) > len(embedder.batches)


def test_vector_index_search_and_plain_vectors(tmp_path):
    metadata = MetaData()
    docs = Table("docs", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(8)),
                 VectorIndex("idx_docs_v", "v"))
    rng = np.random.default_rng(3)
    rows = [{"id": i, "v": rng.standard_normal(8).astype(np.float32)} for i in range(200)]
    q = rng.standard_normal(8)

    async def go():
        engine = create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 'v.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(docs), rows)
        async with engine.connect() as conn:
            top = (await conn.execute(select(docs.c.id).order_by(docs.c.v.cosine_distance(q)).limit(5))).scalars().all()
            even = (await conn.execute(select(docs.c.id).where(docs.c.id % 2 == 0)
                                       .order_by(docs.c.v.cosine_distance(q)).limit(5))).scalars().all()
            first = (await conn.execute(select(docs.c.v).where(docs.c.id == 0))).scalar_one()
        await engine.dispose()
        return top, even, first

    top, even, first = run(go())
    matrix = np.stack([r["v"] for r in rows]).astype(np.float64)
    cosine = 1 - matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    assert top == [int(i) for i in np.argsort(cosine)[:5]]
    assert even == [int(i) for i in np.argsort(cosine) if i % 2 == 0][:5]
    np.testing.assert_array_equal(first, rows[0]["v"])


def test_embedding_failures_roll_back_and_say_so(tmp_path):
    sample = sample_model(TEST_MODEL, dim=64)

    class Broken:
        def embed(self, texts):
            raise ConnectionError("model server went away")

    async def go():
        engine = create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 'f.db'}", embedders={TEST_MODEL: Broken()})
        async with engine.begin() as conn:
            await conn.run_sync(sample.metadata.create_all)
        try:
            async with AsyncSession(engine) as session:
                session.add(sample(id=1, content="text"))
                with pytest.raises(EmbeddingFailedError, match="model server went away"):
                    await session.commit()
            async with engine.connect() as conn:
                return (await conn.execute(select(sample.id))).all()
        finally:
            await engine.dispose()

    assert run(go()) == []


def test_configure_provider_with_async_engine_and_connection_on_the_embedded_engine():
    async def go():
        engine = create_async_engine("sqlite+tidb_embed://")
        await configure_provider(engine, "huggingface", KEY)
        first = client_key(engine.sync_engine.dialect, "huggingface")
        async with engine.connect() as conn:
            await configure_provider(conn, "huggingface", KEY + "2")
        second = client_key(engine.sync_engine.dialect, "huggingface")
        await engine.dispose()
        return first, second

    first, second = run(go())
    assert first.reveal() == KEY and second.reveal() == KEY + "2"


def test_client_embedding_on_an_async_embedded_engine(tmp_path):
    sample = sample_model(TEST_MODEL, dim=64)
    embedder = RecordingEmbedder()

    async def go():
        engine = use_client_embedding(create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 'c.db'}"),
                                      embedders={TEST_MODEL: embedder})
        loop_thread = threading.get_ident()
        async with engine.begin() as conn:
            await conn.run_sync(sample.metadata.create_all)
        async with AsyncSession(engine) as session:
            session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
            await session.commit()
            hits = (await session.scalars(
                select(sample.id).order_by(sample.embedding.cosine_distance(SEED_ROWS[2][1])).limit(1))).all()
        await engine.dispose()
        return loop_thread, hits

    loop_thread, hits = run(go())
    assert hits == [3]  # the hashing embedder gives an identical text distance 0
    assert embedder.batches == [5]  # one batch; the query equals a row's text, so it comes from the cache
    assert loop_thread not in embedder.threads


# -- MariaDB through aiomysql / asyncmy: TiDB's wire protocol ------------------------------------------

DRIVERS = ["aiomysql", "asyncmy"]


def async_url(mariadb, driver: str) -> str:
    return mariadb["url"].replace("mysql+pymysql://", f"mysql+{driver}://")


def general_log(mariadb) -> str:
    return mariadb["general_log"].read_text(errors="replace")


@pytest.mark.parametrize("driver", DRIVERS)
def test_configure_provider_sends_set_global_through_an_async_driver(mariadb, driver):
    pytest.importorskip(driver)

    async def go():
        engine = create_async_engine(async_url(mariadb, driver))
        try:
            with pytest.raises(ProviderKeyError) as info:  # MariaDB has no TiDB variables: it refuses
                await configure_provider(engine, "huggingface", KEY)
            assert KEY not in str(info.value)
            async with engine.connect() as conn:
                with pytest.raises(ProviderKeyError):
                    await configure_provider(conn, "huggingface", KEY)
        finally:
            await engine.dispose()

    before = general_log(mariadb).count(f"SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '{KEY}'")
    run(go())
    assert general_log(mariadb).count(f"SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '{KEY}'") == before + 2


@pytest.mark.parametrize("driver", DRIVERS)
def test_tidb_mode_text_search_through_an_async_driver(mariadb, driver):
    pytest.importorskip(driver)
    table = f"sample_tidb_{driver}"
    sample = sample_model("huggingface/BAAI/bge-m3", table=table)

    async def go():
        engine = create_async_engine(async_url(mariadb, driver))
        async with engine.begin() as conn:
            await conn.run_sync(create_sample_table, table)
        async with AsyncSession(engine) as session:
            session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
            await session.commit()
            hits = (await session.scalars(
                select(sample.id).order_by(sample.embedding.cosine_distance(SEED_QUERY)).limit(2))).all()
        await engine.dispose()
        return hits

    assert len(run(go())) == 2  # MariaDB's stand-in distance is not semantic: the SQL is what counts
    log = general_log(mariadb)
    inserts = [line for line in log.splitlines() if f"INSERT INTO {table} " in line]
    assert len(inserts) == 1 and inserts[0].count("),(") == 4  # one multi-row INSERT for the five rows
    assert f"INSERT INTO {table} (id, content) VALUES (1, 'Java: Object-oriented" in log
    assert f"ORDER BY VEC_EMBED_COSINE_DISTANCE({table}.embedding, '{SEED_QUERY}')" in log


@pytest.mark.parametrize("driver", DRIVERS)
def test_client_embedding_through_an_async_driver(mariadb, driver):
    pytest.importorskip(driver)
    table = f"sample_client_{driver}"
    sample = sample_model(TEST_MODEL, table=table, dim=64)
    embedder = RecordingEmbedder()

    async def go():
        engine = use_client_embedding(create_async_engine(async_url(mariadb, driver)),
                                      embedders={TEST_MODEL: embedder})
        loop_thread = threading.get_ident()
        async with engine.begin() as conn:
            await conn.run_sync(create_sample_table, table)
        async with AsyncSession(engine) as session:
            session.add_all([sample(id=i, content=c) for i, c in SEED_ROWS])
            await session.commit()
            vector = (await session.scalars(select(sample.embedding).where(sample.id == 2))).one()
            hits = (await session.scalars(
                select(sample.id).order_by(sample.embedding.cosine_distance(SEED_QUERY)).limit(2))).all()
        await engine.dispose()
        return loop_thread, vector, hits

    loop_thread, vector, hits = run(go())
    assert len(hits) == 2
    np.testing.assert_array_equal(vector, HashingTestEmbedder(64).embed([SEED_ROWS[1][1]])[0])
    assert embedder.batches == [5, 1] and loop_thread not in embedder.threads
    log = general_log(mariadb)
    inserts = [line for line in log.splitlines() if f"INSERT INTO {table} " in line]
    assert len(inserts) == 1 and inserts[0].count("),(") == 4  # one multi-row INSERT, vectors included
    assert f"INSERT INTO {table} (id, content, embedding) VALUES (1, 'Java: Object-oriented" in log
    assert f"ORDER BY VEC_COSINE_DISTANCE({table}.embedding, '[" in log


def test_without_aiosqlite_the_error_names_the_install_command():
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import sys; sys.modules['aiosqlite'] = None\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n"
        "try:\n"
        "    create_async_engine('sqlite+tidb_embed://')\n"
        "except ImportError as e: print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, timeout=120)
    assert "needs aiosqlite: pip install 'tidb-embed-orm[embedded]'" in out.stdout, out.stderr


def test_concurrent_tasks_each_get_their_own_statements_error(tmp_path):
    """A SQL function's error is kept per connection: tasks failing at once on a wrong-dimension query vector
    and on a duplicate key each get their own error, never a bare OperationalError or one another's."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from tidb_embed_orm import VectorValueError

    async def go():
        engine = create_async_engine(f"sqlite+tidb_embed:///{tmp_path / 'errors.db'}")
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE docs (id INTEGER PRIMARY KEY, v VECTOR(4))"))
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
            await conn.execute(text("INSERT INTO docs VALUES (1, '[1,2,3,4]'), (2, '[4,3,2,1]')"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        seen: list[tuple[str, str]] = []

        async def attempts(label, connect, sql):
            for _ in range(15):
                try:
                    async with connect() as conn:
                        await conn.execute(text(sql))
                except Exception as exc:
                    seen.append((label, type(exc).__name__))

        wrong_dimension = ("wrong dimension", engine.connect,
                           "SELECT id FROM docs ORDER BY VEC_COSINE_DISTANCE(v, '[1,2,3]') LIMIT 1")
        duplicate_key = ("duplicate key", engine.begin, "INSERT INTO t VALUES (1)")

        try:
            await asyncio.gather(*[attempts(*wrong_dimension) for _ in range(3)],
                                 *[attempts(*duplicate_key) for _ in range(3)])
        finally:
            await engine.dispose()
        return seen

    seen = run(go())
    assert sorted(set(seen)) == [("duplicate key", IntegrityError.__name__),
                                 ("wrong dimension", VectorValueError.__name__)]
    assert len(seen) == 90
