"""The event loop under an async search on the embedded engine: how long does it stop answering?

A ticker task on the loop wakes every 1 ms and records the longest gap between two wake-ups while an
``AsyncSession`` runs vector searches over ``--rows`` random 384-d vectors with a vector index:
the first search after the rows were written (the graph is built), a search after 1,000 more rows
(the graph catches up), a search in a new engine (the saved graph is loaded), a warm search, and a
bulk insert of 1,000 auto-embedded texts (embedding). Nothing blocking may run on the loop's thread:
the longest gap should stay near the ticker's own period (a few ms), whatever the search costs.

    .venv/bin/python benchmarks/bench_async_stall.py [--rows 100000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tidb_embed_orm import Vector, VectorIndex
from tidb_embed_orm.embedders.deterministic import HashingTestEmbedder
from tidb_embed_orm.testing.lock_workload import Doc, documents

DIM = 384


class Ticker:
    """A task on the loop noting the longest time between two of its 1 ms sleeps."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    async def measure(self, work: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
        """(seconds the work took, longest loop gap during it)."""
        self.longest = 0.0
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0.01)
        self.longest = 0.0
        began = time.perf_counter()
        try:
            await work()
        finally:
            took = time.perf_counter() - began
            self._task.cancel()
        return took, self.longest


def items_table() -> Table:
    return Table("items", MetaData(), Column("id", Integer, primary_key=True), Column("v", Vector(DIM)),
                 VectorIndex("idx_items_v", "v", metric="cosine"))


def fill(url: str, table: Table, data: np.ndarray) -> None:
    engine = create_engine(url)
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        for start in range(0, len(data), 10_000):
            conn.execute(insert(table), [{"id": i, "v": data[i]} for i in range(start, min(len(data), start + 10_000))])
    engine.dispose()


async def scenario(url: str, table: Table, rows: int, rng: np.random.Generator) -> list[tuple[str, float, float]]:
    ticker = Ticker()
    results = []
    query = rng.standard_normal(DIM).astype(np.float32)
    statement = select(table.c.id).order_by(table.c.v.cosine_distance(query)).limit(10)

    async def search(engine: Any) -> None:
        async with AsyncSession(engine) as session:
            assert len((await session.scalars(statement)).all()) == 10

    engine = create_async_engine(url)
    took, gap = await ticker.measure(lambda: search(engine))
    results.append((f"first search: the graph of {rows:,} rows is built", took, gap))

    async def more_rows() -> None:
        extra = rng.standard_normal((1000, DIM)).astype(np.float32)
        async with AsyncSession(engine) as session:
            await session.execute(insert(table), [{"id": rows + i, "v": extra[i]} for i in range(1000)])
            await session.commit()

    await more_rows()
    took, gap = await ticker.measure(lambda: search(engine))
    results.append(("search after 1,000 new rows: the graph catches up", took, gap))
    took, gap = await ticker.measure(lambda: search(engine))
    results.append(("warm search", took, gap))
    await engine.dispose()

    reopened = create_async_engine(url)
    took, gap = await ticker.measure(lambda: search(reopened))
    results.append(("search in a new engine: the saved graph is loaded", took, gap))
    await reopened.dispose()

    embedding = create_async_engine(url, embedders={Doc.embedding.type.model: HashingTestEmbedder(DIM)})
    async with embedding.begin() as conn:
        await conn.run_sync(Doc.metadata.create_all)
        await conn.run_sync(Plain.metadata.create_all)

    def flush(objects: list[Any]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            async with AsyncSession(embedding) as session:
                session.add_all(objects)
                await session.commit()
        return run

    texts = documents(1000)
    took, gap = await ticker.measure(flush([Plain(id=i, content=t) for i, t in enumerate(texts)]))
    results.append(("ORM flush of 1,000 rows of a plain table (SQLAlchemy's own work, for comparison)", took, gap))
    took, gap = await ticker.measure(flush([Doc(id=i, content=t) for i, t in enumerate(texts)]))
    results.append(("ORM flush of 1,000 auto-embedded texts (test embedder)", took, gap))
    await embedding.dispose()
    return results


class _Base(DeclarativeBase):
    pass


class Plain(_Base):
    __tablename__ = "plain_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content: Mapped[str] = mapped_column(Text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 rows (a smoke run)")
    args = parser.parse_args()
    rows = 5_000 if args.quick else args.rows
    rng = np.random.default_rng(7)
    data = rng.standard_normal((rows, DIM)).astype(np.float32)
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+tidb_embed:///{Path(workdir) / 'async.db'}"
        table = items_table()
        fill(url, table, data)
        results = asyncio.run(scenario(url, table, rows, rng))
    print(f"async searches on {rows:,} random {DIM}-d vectors (vector index), a 1 ms ticker on the event loop")
    print()
    print("| work on an AsyncSession | took (ms) | longest event-loop stall (ms) |")
    print("|---|---|---|")
    for label, took, gap in results:
        print(f"| {label} | {took * 1000:,.1f} | {gap * 1000:,.1f} |")
    print()
    print(f"longest event-loop stall: {max(gap for _, _, gap in results) * 1000:,.1f} ms")


if __name__ == "__main__":
    main()
