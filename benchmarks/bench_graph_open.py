"""What verifying a saved vector-index graph costs when a database is opened.

A saved graph is checked (its stamp and an xxh3-128 digest of its bytes) before usearch maps it
(``vector_index/ann.py``). This times, on one saved graph of N x D vectors, with the file in the
page cache (as after any recent use; a cold disk adds the same read time to both columns):

- usearch mapping the file by path, unchecked, building its key table (what the engine did before the check);
- the same without the key table (usearch's ``enable_key_lookups=False``);
- the engine's verified load: map, digest, compare the stamp, hand the verified bytes to usearch,
  which views them without the key table (built when the graph is read into memory, before its next save);
- the digest alone.

The whole first search after opening (engine creation included) is measured by
``bench_vector_index.py`` ("first search after open").

    .venv/bin/python benchmarks/bench_graph_open.py [--rows 100000] [--dim 384] [--trials 15]
"""

from __future__ import annotations

import argparse
import mmap
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xxhash
from usearch.index import Index

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's package
from tidb_embed_orm.dialects.embedded.vector_index.ann import AnnGraph
from tidb_embed_orm.dialects.embedded.vector_index.graph_file import GraphStamp


def median_ms(function, trials: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--trials", type=int, default=15)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    graph = AnnGraph("cosine", args.dim)
    for start in range(0, args.rows, 10_000):
        count = min(10_000, args.rows - start)
        graph.upsert(np.arange(start, start + count), rng.standard_normal((count, args.dim)).astype(np.float32))
    stamp = GraphStamp("bench", "0" * 32, 2, args.rows, "cosine", args.dim)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "graph.usearch"
        graph.save(path, stamp)
        size_mb = path.stat().st_size / 1e6
        query = rng.standard_normal(args.dim).astype(np.float32)

        def unchecked() -> None:
            index = Index(ndim=args.dim, metric="cos", dtype="i8")
            index.view(str(path))
            index.search(query, 10)

        def unchecked_no_keys() -> None:
            index = Index(ndim=args.dim, metric="cos", dtype="i8", enable_key_lookups=False)
            index.view(str(path))
            index.search(query, 10)

        def verified() -> None:
            AnnGraph.load(path, stamp).search(query, 10)

        def digest_only() -> None:
            with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapping:
                hasher = xxhash.xxh3_128()
                hasher.update(mapping)

        verified()  # the file in the page cache, the code paths warm
        results = [("usearch view by path, unchecked + 1 search", median_ms(unchecked, args.trials)),
                   ("  the same without usearch's key table", median_ms(unchecked_no_keys, args.trials)),
                   ("verified load (digest + stamp + view) + 1 search", median_ms(verified, args.trials)),
                   ("  of which the xxh3-128 digest", median_ms(digest_only, args.trials))]
    print(f"saved graph of {args.rows} x {args.dim} (cosine, i8): {size_mb:.1f} MB; median of {args.trials}")
    for label, ms in results:
        print(f"{label:52}{ms:8.1f} ms")


if __name__ == "__main__":
    main()
