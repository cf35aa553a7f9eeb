"""(b) Top-10 cosine search over 100,000 x 384 vectors in a Vector(384) column on the embedded engine.

Prints the latency of the ORM/Core query, with the column's VectorIndex (served from an
in-memory matrix) and without it (a full SQLite scan with sqlite-vec), beside a numpy brute-force
search of the same data in the same run; the goal is at most 1.5x numpy for the indexed search.

    .venv/bin/python benchmarks/bench_vector_search.py [--rows 100000] [--queries 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, select

from tidb_embed_orm import Vector, VectorIndex


def timed(function, queries) -> tuple[float, list]:
    results, times = [], []
    for q in queries:
        started = time.perf_counter()
        results.append(function(q))
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    data = rng.standard_normal((args.rows, args.dim)).astype(np.float32)
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)

    norms = np.linalg.norm(data, axis=1)

    def numpy_top10(q: np.ndarray) -> list[int]:
        distances = 1.0 - (data @ q) / (norms * np.linalg.norm(q))
        best = np.argpartition(distances, 10)[:10]
        return [int(i) + 1 for i in best[np.argsort(distances[best])]]

    with tempfile.TemporaryDirectory() as workdir:
        engine = create_engine(f"sqlite+tidb_embed:///{Path(workdir) / 'search.db'}")
        metadata = MetaData()
        indexed = Table("indexed", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(args.dim)),
                        VectorIndex("idx_indexed_v", "v", metric="cosine"))
        scanned = Table("scanned", metadata, Column("id", Integer, primary_key=True), Column("v", Vector(args.dim)))
        metadata.create_all(engine)
        rows = [{"id": i + 1, "v": data[i]} for i in range(args.rows)]
        with engine.begin() as conn:
            conn.execute(indexed.insert(), rows)
            conn.execute(scanned.insert(), rows)

        with engine.connect() as conn:
            def search(table: Table):
                def run(q: np.ndarray) -> list[int]:
                    stmt = select(table.c.id).order_by(table.c.v.cosine_distance(q)).limit(10)
                    return list(conn.execute(stmt).scalars())

                return run

            started = time.perf_counter()
            search(indexed)(queries[0])
            first = (time.perf_counter() - started) * 1000
            numpy_ms, expected = timed(numpy_top10, queries)
            indexed_ms, got_indexed = timed(search(indexed), queries)
            scan_ms, got_scan = timed(search(scanned), queries[:10])
        engine.dispose()

    assert got_indexed == expected, "indexed search disagrees with numpy"
    assert got_scan == expected[:10], "scan disagrees with numpy"
    print(f"{args.rows} x {args.dim} float32, top-10 cosine, median of {args.queries} queries")
    print(f"numpy brute force (precomputed norms):         {numpy_ms:8.2f} ms")
    print(f"embedded engine, VectorIndex (in-memory):      {indexed_ms:8.2f} ms")
    print(f"  (the first search after a write rebuilds the matrix: {first:.0f} ms)")
    print(f"embedded engine, no index (sqlite-vec scan):   {scan_ms:8.2f} ms")
    print(f"ratio indexed / numpy: {indexed_ms / numpy_ms:.2f} (goal <= 1.5); scan / numpy: {scan_ms / numpy_ms:.2f}")


if __name__ == "__main__":
    main()
