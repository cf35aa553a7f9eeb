"""Adding an auto-embedding column to a table that holds rows, on the embedded engine, real model.

Prints the model calls and the time of ``op.add_auto_embedding_column`` over N existing rows:
the rebuild's copy embeds each chunk's texts in batches of 64 before SQLite asks for them one
row at a time (before: one model call per row, 1,000 rows took 185 s).

    .venv/bin/python benchmarks/bench_rebuild.py [--rows 1000]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Column, create_engine

import tidb_embed_orm.alembic  # noqa: F401
from tidb_embed_orm import AutoEmbeddingVector
from tidb_embed_orm.demo.models import MODEL


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    engine = create_engine(f"sqlite+tidb_embed:///{Path(tempfile.mkdtemp()) / 'rebuild.db'}")
    embedder: Any = engine.dialect.embedding_service.embedder(MODEL)  # type: ignore[attr-defined]
    calls = [0]
    embed = embedder.embed

    def counting(texts: list[str]) -> Any:
        calls[0] += 1
        return embed(texts)

    embedder.embed = counting
    embedder.embed(["warm up"])
    calls[0] = 0
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE posts (id INTEGER PRIMARY KEY, body TEXT)")
        texts = [(f"Post {i} is about topic {i % 37} and the weather on day {i}",) for i in range(args.rows)]
        conn.exec_driver_sql("INSERT INTO posts (body) VALUES (?)", texts)
    start = time.perf_counter()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        with context.begin_transaction():
            Operations(context).add_auto_embedding_column(
                "posts", Column("embedding", AutoEmbeddingVector(MODEL, source="body")))
        conn.commit()
        filled = conn.exec_driver_sql("SELECT count(*) FROM posts WHERE embedding IS NOT NULL").scalar()
    elapsed = time.perf_counter() - start
    print(f"rows: {args.rows}, embedded: {filled}, model calls: {calls[0]} "
          f"(one per row would be {args.rows}; batches of 64: {math.ceil(args.rows / 64)}), {elapsed:.1f} s")
    engine.dispose()


if __name__ == "__main__":
    main()
