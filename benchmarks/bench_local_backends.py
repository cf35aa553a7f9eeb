"""Local model backends beside PyTorch: the same answers (accuracy) and the speed, real all-MiniLM-L6-v2.

For each backend other than PyTorch (``openvino``), in one run with the same texts and threads:

- cosine to the PyTorch vector of every text of a 2,000-text set (short and long, overlong texts
  cut at 256 tokens, code-like, accented and CJK text): min, mean, and how many fall below 0.99;
- the seed query (the TiDB page's sample table) on the embedded engine with the backend: ids 1 and 4;
- recall@10 of the backend's top-10 vs PyTorch's top-10 for the 90 queries of ``retrieval_set.py``;
- texts/s of the raw ``encode`` of the 2,000 texts: ``SentenceTransformer.encode`` (batch 64, its
  own length sorting) beside the backend's, slice by slice in turn.

    .venv/bin/python benchmarks/bench_local_backends.py [--texts 2000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
from bench_orm_bulk_insert import documents  # noqa: E402
from retrieval_set import build  # noqa: E402

from tidb_embed_orm.demo.models import MODEL  # noqa: E402
from tidb_embed_orm.embedders.local import find_local_model  # noqa: E402
from tidb_embed_orm.embedders.local_loading import load_local_model  # noqa: E402
from tidb_embed_orm.testing.seed import add_seed_rows, sample_model, seed_search  # noqa: E402

EXTRA = ["naïve café résumé über straße", "向量索引支持余弦距离和内积距离", "東京タワーの高さは333メートル",
         "SELECT id FROM t ORDER BY VEC_COSINE_DISTANCE(v, '[1,2,3]') LIMIT 10;", "🙂🚀 emoji only", "x", "",
         "def f(x):\n    return x ** 2  # squares"]


def text_set(n: int) -> list[str]:
    """n texts, the same every run: retrieval documents and queries, mixed-length notes, random word runs."""
    docs, queries = build()
    texts = [t for _, t in docs] + [q.text for q in queries] + EXTRA
    texts += documents(min(1000, n - len(texts)))
    words = sorted({w for t in texts for w in t.split()})
    rng = random.Random(7)
    while len(texts) < n:  # lengths from 1 word to ~2x the 256-token window
        texts.append(" ".join(rng.choice(words) for _ in range(int(rng.expovariate(1 / 60)) % 500 + 1)))
    return texts[:n]


def top10(docs: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return np.argsort(-(queries @ docs.T), axis=1, kind="stable")[:, :10]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--backends", default="openvino")
    args = parser.parse_args()
    texts = text_set(args.texts)
    path = find_local_model(MODEL.split("/", 1)[1], {})
    assert path is not None, "the local extra (all-MiniLM-L6-v2) is not installed"
    reference = load_local_model(path)
    docs, queries = build()
    doc_texts, query_texts = [t for _, t in docs], [q.text for q in queries]
    print(f"model: {MODEL}, texts: {len(texts)}, torch threads: {torch.get_num_threads()}")

    for backend in args.backends.split(","):
        started = time.perf_counter()
        embedder = load_local_model(path, backend=backend)
        print(f"\n[{backend}] loaded in {time.perf_counter() - started:.1f}s "
              f"({'exported now' if getattr(embedder, 'exported_now', False) else 'export reused'}), "
              f"precision: {getattr(embedder, 'precision', '?')}")
        ours, theirs = embedder.embed(texts), reference.embed(texts)
        cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
        print(f"cosine to PyTorch over {len(texts)} texts: min {cos.min():.5f}, mean {cos.mean():.5f}, "
              f"below 0.99: {(cos < 0.99).sum()}")
        overlap = (top10(embedder.embed(doc_texts), embedder.embed(query_texts))[:, :, None]
                   == top10(reference.embed(doc_texts), reference.embed(query_texts))[:, None, :]).any(2)
        print(f"recall@10 vs PyTorch on the retrieval set ({len(queries)} queries): {overlap.mean():.3f}")

        with tempfile.TemporaryDirectory() as workdir:
            engine = create_engine(f"sqlite+tidb_embed:///{Path(workdir) / 'seed.db'}", local_model_backend=backend)
            sample = sample_model(MODEL)
            sample.metadata.create_all(engine)
            with Session(engine) as session:
                add_seed_rows(session, sample)
                print(f"seed query ids on the embedded engine: {seed_search(session, sample)}")
            engine.dispose()

        # A shared machine's load comes and goes: both embed each slice of 250 texts in turn (the order rotating).
        paths = {"PyTorch": lambda chunk: reference.model.encode(chunk, batch_size=64), backend: embedder.encode}
        seconds = dict.fromkeys(paths, 0.0)
        for turn, first in enumerate(range(0, len(texts), 250)):
            for name in list(paths)[turn % 2 :] + list(paths)[: turn % 2]:
                started = time.perf_counter()
                paths[name](texts[first : first + 250])
                seconds[name] += time.perf_counter() - started
        rates = {name: len(texts) / spent for name, spent in seconds.items()}
        print(f"raw encode of the {len(texts)} texts: PyTorch {rates['PyTorch']:.1f} texts/s, "
              f"{backend} {rates[backend]:.1f} texts/s: {rates[backend] / rates['PyTorch']:.2f}x")

if __name__ == "__main__":
    main()
