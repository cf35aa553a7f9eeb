"""(a) ORM and Core bulk insert of 5,000 documents of varied length on the embedded engine, real model.

Prints rows/s of the ORM path (``add_all`` + commit) and of a Core ``insert()`` with the rows as
parameters beside the raw batched ``SentenceTransformer.encode`` throughput of the same texts with
the same thread count, measured in the same run; the goal is a ratio of at least 1.0.

    .venv/bin/python benchmarks/bench_orm_bulk_insert.py [--rows 5000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session

from tidb_embed_orm.demo.models import MODEL
from tidb_embed_orm.embedders.local import find_local_model, load_local_model
from tidb_embed_orm.testing.seed import sample_model

Sample = sample_model(MODEL)

TOPICS = ["Java", "Python", "coffee", "islands", "databases", "vectors", "Android", "espresso", "Jakarta", "Rust"]


def documents(n: int) -> list[str]:
    """Short and long notes mixed in statement order, as real documents come (padding is what costs)."""
    texts = []
    for i in range(n):
        sentence = f"A note about {TOPICS[i % 10]} and {TOPICS[(i * 7) % 10]}, number {i}."
        texts.append(" ".join([sentence] * (1 + (i * 37) % 12)))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    texts = documents(args.rows)

    local = load_local_model(find_local_model(MODEL.split("/", 1)[1], {}))
    local.model.encode(texts[:64], batch_size=64)  # warm up both paths the same way

    started = time.perf_counter()
    local.model.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False)
    raw_seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as workdir:
        engine = create_engine(f"sqlite+tidb_embed:///{Path(workdir) / 'bench.db'}")
        Sample.metadata.create_all(engine)
        with Session(engine) as session:
            started = time.perf_counter()
            session.add_all([Sample(id=i, content=text) for i, text in enumerate(texts)])
            session.commit()
            orm_seconds = time.perf_counter() - started
            stored = session.scalar(select(func.count()).where(Sample.embedding.is_not(None)))
        engine.dispose()
        assert stored == args.rows, f"only {stored} of {args.rows} rows were embedded"
        engine = create_engine(f"sqlite+tidb_embed:///{Path(workdir) / 'core.db'}")
        Sample.metadata.create_all(engine)
        with engine.begin() as conn:
            started = time.perf_counter()
            conn.execute(insert(Sample), [{"id": i, "content": text} for i, text in enumerate(texts)])
            core_seconds = time.perf_counter() - started
        engine.dispose()

    raw_rate, orm_rate, core_rate = (args.rows / s for s in (raw_seconds, orm_seconds, core_seconds))
    print(f"rows: {args.rows} (varied length), model: {MODEL}, torch threads: {torch.get_num_threads()}")
    print(f"raw SentenceTransformer.encode (batch 64): {raw_rate:8.1f} texts/s  ({raw_seconds:.2f}s)")
    print(f"ORM add_all + commit, embedded engine:     {orm_rate:8.1f} rows/s   ({orm_seconds:.2f}s)")
    print(f"Core insert(), rows as parameters:         {core_rate:8.1f} rows/s   ({core_seconds:.2f}s)")
    print(f"ratio ORM / raw encode: {orm_rate / raw_rate:.2f}, Core / raw encode: {core_rate / raw_rate:.2f} "
          "(goal >= 1.0)")


if __name__ == "__main__":
    main()
