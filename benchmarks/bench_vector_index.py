"""The embedded engine's vector index at application scale, beside Chroma and LanceDB, in one run.

Each engine is built and then searched in fresh worker processes (so peak RSS is the search
process's own), on the same vectors and queries:

- build: bulk insert of N x D vectors, then what it takes until the first search answers;
- first search after opening the database in a new process;
- per-request search p50/p99: a fresh SQLAlchemy ``Session`` per request for us (the pool's
  ROLLBACK on check-in included), a plain query call for the others;
- read-your-writes: insert one row + commit, then search for it, p50;
- filtered search (``category = x``, 10% of rows) p50, and whether it returned k rows;
- recall@10 against an exact numpy scan; peak RSS of the search process.

    .venv/bin/python benchmarks/bench_vector_index.py [--rows 100000] [--dim 384] [--queries 200]
        [--compare-python /path/to/python-with-chromadb-and-lancedb]

Chroma and LanceDB run under ``--compare-python`` (default: this Python) when they are installed
there (``pip install chromadb lancedb``); otherwise their columns say "not installed".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K = 10
CATEGORIES = 10


def make_data(rows: int, dim: int, seed: int = 7) -> np.ndarray:
    """Clustered vectors, as text embeddings are (uniform random vectors have no neighbours to find)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((max(rows // 500, 8), dim)).astype(np.float32)
    data = np.empty((rows, dim), np.float32)
    for start in range(0, rows, 100_000):
        stop = min(rows, start + 100_000)
        data[start:stop] = centers[rng.integers(0, len(centers), stop - start)]
        data[start:stop] += 0.6 * rng.standard_normal((stop - start, dim)).astype(np.float32)
    return data


def make_queries(data: np.ndarray, count: int, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picks = data[rng.integers(0, len(data), count)]
    return (picks + 0.4 * rng.standard_normal(picks.shape)).astype(np.float32)


def category(i: int) -> str:
    return f"c{i % CATEGORIES}"


def peak_rss_mib() -> float:
    """This process's own high-water mark (VmHWM; ru_maxrss would include the parent's at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed_ms(function, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = function(*args)
    return (time.perf_counter() - started) * 1000, result


# --- the engines -------------------------------------------------------------------------------


class Ours:
    def __init__(self, folder: Path, dim: int) -> None:
        from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

        from tidb_embed_orm import Vector, VectorIndex

        self.engine = create_engine(f"sqlite+tidb_embed:///{folder / 'ours.db'}")
        metadata = MetaData()
        self.table = Table("items", metadata, Column("id", Integer, primary_key=True), Column("category", String(8)),
                           Column("v", Vector(dim)), VectorIndex("idx_items_v", "v", metric="cosine"))
        self.metadata = metadata

    def build(self, data: np.ndarray) -> None:
        self.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            for start in range(0, len(data), 10_000):
                conn.execute(self.table.insert(), [{"id": i + 1, "category": category(i), "v": data[i]}
                                                   for i in range(start, min(len(data), start + 10_000))])

    def search(self, q: np.ndarray, where: str | None = None) -> list[int]:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        stmt = select(self.table.c.id).order_by(self.table.c.v.cosine_distance(q)).limit(K)
        if where is not None:
            stmt = stmt.where(self.table.c.category == where)
        with Session(self.engine) as session:  # a request
            return [int(i) - 1 for i in session.scalars(stmt)]

    def insert(self, row_id: int, vector: np.ndarray) -> None:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            session.execute(self.table.insert().values(id=row_id + 1, category=category(row_id), v=vector))
            session.commit()


class Chroma:
    def __init__(self, folder: Path, dim: int) -> None:
        import chromadb

        self.client = chromadb.PersistentClient(path=str(folder / "chroma"))
        self.collection = self.client.get_or_create_collection("items", metadata={"hnsw:space": "cosine"})

    def build(self, data: np.ndarray) -> None:
        for start in range(0, len(data), 5_000):
            stop = min(len(data), start + 5_000)
            self.collection.add(ids=[str(i) for i in range(start, stop)], embeddings=data[start:stop],
                                metadatas=[{"category": category(i)} for i in range(start, stop)])

    def search(self, q: np.ndarray, where: str | None = None) -> list[int]:
        result = self.collection.query(query_embeddings=[q], n_results=K,
                                       where={"category": where} if where else None, include=[])
        return [int(i) for i in result["ids"][0]]

    def insert(self, row_id: int, vector: np.ndarray) -> None:
        self.collection.add(ids=[str(row_id)], embeddings=[vector], metadatas=[{"category": category(row_id)}])


class Lance:
    def __init__(self, folder: Path, dim: int) -> None:
        import lancedb

        self.db = lancedb.connect(str(folder / "lance"))
        self.dim = dim

    def build(self, data: np.ndarray) -> None:
        import pyarrow as pa

        rows = len(data)
        table = pa.table({"id": pa.array(np.arange(rows)), "category": [category(i) for i in range(rows)],
                          "vector": pa.FixedSizeListArray.from_arrays(pa.array(data.reshape(-1)), self.dim)})
        created = self.db.create_table("items", table)
        index_type = "IVF_PQ" if rows >= 500_000 else "IVF_HNSW_SQ"
        created.create_index(metric="cosine", vector_column_name="vector", index_type=index_type)

    def search(self, q: np.ndarray, where: str | None = None) -> list[int]:
        query = self.db.open_table("items").search(q).metric("cosine").limit(K).select(["id"])
        if where is not None:
            query = query.where(f"category = '{where}'", prefilter=True)
        return [int(r["id"]) for r in query.to_list()]

    def insert(self, row_id: int, vector: np.ndarray) -> None:
        self.db.open_table("items").add([{"id": row_id, "category": category(row_id), "vector": vector.tolist()}])


ENGINES = {"ours": Ours, "chroma": Chroma, "lancedb": Lance}
#: Imported before the clock starts: "first search after open" measures opening, not importing.
#: For every engine that is the package with its storage engine (importing chromadb and lancedb loads
#: theirs; sqlite+tidb_embed's dialect module is imported by create_engine, so it is named here).
MODULES = {"ours": ["tidb_embed_orm", "tidb_embed_orm.dialects.embedded.base", "sqlalchemy.orm", "usearch.index"],
           "chroma": ["chromadb"],
           "lancedb": ["lancedb", "pyarrow"]}


# --- the worker: one engine, one phase, in its own process --------------------------------------


def worker(name: str, phase: str, folder: Path, args: argparse.Namespace) -> dict:
    if phase == "build":
        data = make_data(args.rows, args.dim)
        queries = make_queries(data, 1)
        started = time.perf_counter()
        engine = ENGINES[name](folder, args.dim)
        engine.build(data)
        inserted = time.perf_counter() - started
        engine.search(queries[0])
        return {"insert_s": inserted, "build_s": time.perf_counter() - started}
    queries = np.load(folder / "queries.npy")
    for module in MODULES[name]:
        importlib.import_module(module)
    started = time.perf_counter()
    engine = ENGINES[name](folder, args.dim)
    engine.search(queries[0])
    first = (time.perf_counter() - started) * 1000
    times, found = [], []
    for q in queries:
        ms, ids = timed_ms(engine.search, q)
        times.append(ms)
        found.append(ids)
    filtered_times, filtered_full = [], 0
    for q in queries[: max(10, len(queries) // 4)]:
        ms, ids = timed_ms(engine.search, q, "c3")
        filtered_times.append(ms)
        filtered_full += len(ids) == K and all(category(i) == "c3" for i in ids)
    ryw_times, ryw_seen = [], 0
    rng = np.random.default_rng(5)
    for n in range(20):
        vector = rng.standard_normal(args.dim).astype(np.float32) * 5
        started = time.perf_counter()
        engine.insert(args.rows + 1000 + n, vector)
        ids = engine.search(vector)
        ryw_times.append((time.perf_counter() - started) * 1000)
        ryw_seen += bool(ids) and ids[0] == args.rows + 1000 + n
    return {
        "first_ms": first, "p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99),
        "filtered_p50_ms": statistics.median(filtered_times),
        "filtered_full": f"{filtered_full}/{len(filtered_times)}",
        "ryw_p50_ms": statistics.median(ryw_times), "ryw_seen": f"{ryw_seen}/20",
        "rss_mib": peak_rss_mib(), "found": found,
    }


def run_worker(python: str, name: str, phase: str, folder: Path, args: argparse.Namespace) -> dict | str:
    command = [python, __file__, "--worker", name, "--phase", phase, "--folder", str(folder),
               "--rows", str(args.rows), "--dim", str(args.dim), "--queries", str(args.queries)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        if "ModuleNotFoundError" in result.stderr:
            return "not installed"
        return "failed: " + result.stderr.strip().splitlines()[-1][:100]
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--compare-python", default=sys.executable)
    parser.add_argument("--engines", default="ours,chroma,lancedb")
    parser.add_argument("--worker")
    parser.add_argument("--phase")
    parser.add_argument("--folder")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.phase, Path(args.folder), args)))
        return

    data = make_data(args.rows, args.dim)
    queries = make_queries(data, args.queries)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    exact = []
    for q in queries:
        scores = unit @ (q / np.linalg.norm(q))
        best = np.argpartition(-scores, K)[:K]
        exact.append(set(best.tolist()))
    del data, unit

    results: dict[str, dict[str, object]] = {}
    for name in args.engines.split(","):
        python = sys.executable if name == "ours" else args.compare_python
        with tempfile.TemporaryDirectory() as workdir:
            folder = Path(workdir)
            np.save(folder / "queries.npy", queries)
            built = run_worker(python, name, "build", folder, args)
            if isinstance(built, str):
                results[name] = {"status": built}
                continue
            searched = run_worker(python, name, "search", folder, args)
            if isinstance(searched, str):
                results[name] = {"status": searched, **built}
                continue
            found = searched.pop("found")
            recall = statistics.mean(len(set(f) & e) / K for f, e in zip(found, exact, strict=True))
            results[name] = {**built, **searched, "recall@10": recall}

    rows = [
        ("bulk insert (s)", "insert_s", "{:.1f}"), ("insert until first answer (s)", "build_s", "{:.1f}"),
        ("first search after open (ms)", "first_ms", "{:.1f}"),
        ("search p50, fresh Session per request (ms)", "p50_ms", "{:.2f}"), ("search p99 (ms)", "p99_ms", "{:.2f}"),
        ("insert 1 + commit + search for it, p50 (ms)", "ryw_p50_ms", "{:.1f}"), ("  found it", "ryw_seen", "{}"),
        ("filtered search p50 (ms)", "filtered_p50_ms", "{:.2f}"),
        ("  returned k matching rows", "filtered_full", "{}"),
        ("recall@10 vs exact", "recall@10", "{:.3f}"), ("peak RSS of the search process (MiB)", "rss_mib", "{:.0f}"),
    ]
    names = list(results)
    print(f"{args.rows} x {args.dim} float32 (clustered), top-{K} cosine, {args.queries} queries")
    print(f"{'':46}" + "".join(f"{n:>14}" for n in names))
    for label, key, fmt in rows:
        cells = []
        for n in names:
            value = results[n].get(key)
            cells.append(fmt.format(value) if value is not None else str(results[n].get("status", "-"))[:13])
        print(f"{label:46}" + "".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
