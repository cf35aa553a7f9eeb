"""(a) ORM and Core bulk insert of 5,000 documents of varied length on the embedded engine, real model.

Prints rows/s of the ORM path (``add_all`` + commit) and of a Core ``insert()`` with the rows as
parameters beside the raw batched ``SentenceTransformer.encode`` throughput of the same texts with
the same thread count, measured in the same run; the goal is a ratio of at least 1.0 on PyTorch.

With ``--backends torch,openvino`` (the default when the ``openvino`` extra is installed) the same
is done on engines created with ``local_model_backend="openvino"``, and the raw OpenVINO encode is
printed too; every ratio is to the raw *PyTorch* encode (the goal with OpenVINO: at least 2.0).
Accuracy of the backend (cosine, seed query, recall@10 vs PyTorch): ``bench_local_backends.py``.

    .venv/bin/python benchmarks/bench_orm_bulk_insert.py [--rows 5000] [--backends torch,openvino]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.orm import Session

from tidb_embed_orm.demo.models import MODEL
from tidb_embed_orm.embedders.local import find_local_model
from tidb_embed_orm.embedders.local_loading import load_local_model
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


class Ingest:
    """An embedded database on one backend, filled a slice at a time by ORM add_all + commit or Core insert()."""

    def __init__(self, workdir: Path, backend: str, core: bool) -> None:
        name = f"{'core' if core else 'orm'}-{backend}"
        self.engine = create_engine(f"sqlite+tidb_embed:///{workdir / name}.db", local_model_backend=backend)
        Sample.metadata.create_all(self.engine)
        self.core = core

    def __call__(self, rows: list[tuple[int, str]]) -> None:
        if self.core:
            with self.engine.begin() as conn:
                conn.execute(insert(Sample), [{"id": i, "content": text} for i, text in rows])
            return
        with Session(self.engine) as session:
            session.add_all([Sample(id=i, content=text) for i, text in rows])
            session.commit()

    def stored(self) -> int:
        with Session(self.engine) as session:
            count = session.scalar(select(func.count()).where(Sample.embedding.is_not(None)))
        self.engine.dispose()
        return int(count or 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--backends", default="torch,openvino" if importlib.util.find_spec("openvino") else "torch")
    parser.add_argument("--slice", type=int, default=500, help="rows per turn: every path runs each slice in turn")
    args = parser.parse_args()
    texts = documents(args.rows)
    backends = args.backends.split(",")
    path = find_local_model(MODEL.split("/", 1)[1], {})
    assert path is not None, "the local extra (all-MiniLM-L6-v2) is not installed"
    local = load_local_model(path)
    local.model.encode(texts[:64], batch_size=64)  # warm up every path the same way
    embedders = {backend: load_local_model(path, backend=backend) for backend in backends if backend != "torch"}
    for embedder in embedders.values():
        embedder.encode(texts[:64])

    with tempfile.TemporaryDirectory() as workdir:
        paths: dict[str, Callable[[list[tuple[int, str]]], object]] = {
            "raw PyTorch": lambda rows: local.model.encode(
                [t for _, t in rows], batch_size=64, convert_to_numpy=True, show_progress_bar=False
            ),
        }
        for backend, embedder in embedders.items():
            paths[f"raw {backend}"] = lambda rows, e=embedder: e.encode([t for _, t in rows])
        ingests = {}
        for backend in backends:
            for core in (False, True):
                ingests[f"{'Core' if core else 'ORM'} [{backend}]"] = Ingest(Path(workdir), backend, core)
        paths.update(ingests)
        # A shared machine's load comes and goes: every path embeds each slice in turn (the order rotating),
        # so each sees the same load, and the ratios stay fair.
        seconds = dict.fromkeys(paths, 0.0)
        for turn, first in enumerate(range(0, args.rows, args.slice)):
            rows = list(enumerate(texts))[first : first + args.slice]
            names = list(paths)
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                started = time.perf_counter()
                paths[name](rows)
                seconds[name] += time.perf_counter() - started
        for name, ingest in ingests.items():
            stored = ingest.stored()
            assert stored == args.rows, f"{name}: only {stored} of {args.rows} rows were embedded"

    raw = args.rows / seconds["raw PyTorch"]
    print(f"rows: {args.rows} (varied length, in slices of {args.slice}), model: {MODEL}, "
          f"torch threads: {torch.get_num_threads()}")
    for name, spent in seconds.items():
        rate = args.rows / spent
        kind = "texts/s" if name.startswith("raw") else "rows/s "
        note = f"precision {embedders[name[4:]].precision}" if name[4:] in embedders else ""
        goal = "" if name == "raw PyTorch" else f"  (goal >= {'1.0' if '[torch]' in name else '2.0'})"
        if name.startswith("raw") and name != "raw PyTorch":
            goal = f"  {note}"
        print(f"{name:20s} {rate:8.1f} {kind} ({spent:6.1f}s)  / raw PyTorch encode: {rate / raw:.2f}{goal}")


if __name__ == "__main__":
    main()
