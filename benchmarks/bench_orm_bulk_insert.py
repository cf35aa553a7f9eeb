"""(a) ORM bulk insert of 2,000 short documents on the embedded engine, with the real model.

Prints rows/s of the ORM path beside the raw batched ``SentenceTransformer.encode`` throughput of
the same texts, measured in the same run; the goal is a ratio of at least 0.8.

    .venv/bin/python benchmarks/bench_orm_bulk_insert.py [--rows 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from tidb_embed_orm.demo.models import MODEL
from tidb_embed_orm.embedders.local import find_local_model, load_local_model
from tidb_embed_orm.testing.seed import sample_model

Sample = sample_model(MODEL)

TOPICS = ["Java", "Python", "coffee", "islands", "databases", "vectors", "Android", "espresso", "Jakarta", "Rust"]


def documents(n: int) -> list[str]:
    return [f"Note {i}: a short document about {TOPICS[i % 10]} and {TOPICS[(i * 7) % 10]}." for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
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

    raw_rate, orm_rate = args.rows / raw_seconds, args.rows / orm_seconds
    print(f"rows: {args.rows}, model: {MODEL}")
    print(f"raw SentenceTransformer.encode (batch 64): {raw_rate:8.1f} texts/s  ({raw_seconds:.2f}s)")
    print(f"ORM add_all + commit, embedded engine:     {orm_rate:8.1f} rows/s   ({orm_seconds:.2f}s)")
    print(f"ratio ORM / raw encode: {orm_rate / raw_rate:.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
