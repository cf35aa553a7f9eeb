"""Writers and searchers sharing one embedded database file, for tests and ``benchmarks/bench_write_lock.py``.

One side imports documents through the ORM (``import_documents``); the other, in another process or
thread, serves a request every ``interval`` seconds (``serve_requests``): a search in a fresh
``Session`` or a one-row insert, noting each request's latency and every ``database is locked`` error.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..demo.models import MODEL
from ..embedders.deterministic import HashingTestEmbedder
from .seed import sample_model

Doc = sample_model(MODEL)
TOPICS = ["Java", "Python", "coffee", "islands", "databases", "vectors", "Android", "espresso", "Jakarta", "Rust"]


class SlowHashingEmbedder(HashingTestEmbedder):
    """The deterministic test embedder, taking ``delay`` seconds per batch as a model would."""

    def __init__(self, dim: int = 384, delay: float = 0.05) -> None:
        super().__init__(dim)
        self.delay = delay

    def embed(self, texts: Sequence[str], options: Mapping[str, Any] | None = None) -> Any:
        time.sleep(self.delay)
        return super().embed(texts, options)


def documents(n: int, start: int = 0) -> list[str]:
    """Notes of varied length (as real documents come)."""
    texts = []
    for i in range(start, start + n):
        sentence = f"A note about {TOPICS[i % 10]} and {TOPICS[(i * 7) % 10]}, number {i}."
        texts.append(" ".join([sentence] * (1 + (i * 37) % 6)))
    return texts


def engine_for(path: str | Path, model: str = "real", busy_timeout: float = 5.0) -> Engine:
    """The embedded engine on ``path``: the real model, or ``"slow-hash"`` (the test embedder, 50 ms a batch)."""
    embedders = {} if model == "real" else {MODEL: SlowHashingEmbedder()}
    return create_engine(f"sqlite+tidb_embed:///{path}", embedders=embedders, connect_args={"timeout": busy_timeout})


def create_schema(engine: Engine) -> None:
    """Create the ``sample`` table (id, content, an all-MiniLM-L6-v2 auto-embedding column) on ``engine``."""
    Doc.metadata.create_all(engine)


def import_documents(engine: Engine, count: int, *, start: int = 0, per_commit: int = 500,
                     lock_held: list[float] | None = None) -> float:
    """ORM ``add_all`` + commit of ``count`` documents, ``per_commit`` at a time; seconds taken.

    ``lock_held`` receives, per commit, the seconds from its first statement to the end of the commit:
    the longest the transaction can have held the write lock."""
    texts = documents(count, start)
    first: list[float] = []

    def note(*_: Any) -> None:
        if not first:
            first.append(time.perf_counter())

    if lock_held is not None:
        event.listen(engine, "before_cursor_execute", note)
    began = time.perf_counter()
    try:
        for offset in range(0, count, per_commit):
            first.clear()
            with Session(engine) as session:
                session.add_all([Doc(id=start + offset + i, content=text)
                                 for i, text in enumerate(texts[offset : offset + per_commit])])
                session.commit()
            if lock_held is not None and first:
                lock_held.append(time.perf_counter() - first[0])
    finally:
        if lock_held is not None:
            event.remove(engine, "before_cursor_execute", note)
    return time.perf_counter() - began


def serve_requests(path: str, kind: str, interval: float, stop_file: str, report: str, model: str = "real",
                   first_id: int = 10_000_000, busy_timeout: float = 5.0) -> None:
    """Until ``stop_file`` exists: every ``interval`` s, one request (``"search"`` or ``"insert"``) in a fresh
    Session; writes ``{"latencies": [...], "started": [...], "lock_errors": n, "locked_at": [...],
    "other_errors": [...]}`` to ``report`` (``started`` / ``locked_at``: wall-clock times).

    Writes ``report + ".ready"`` once the first request answered (the model is loaded). ``busy_timeout``:
    how long SQLite waits for another connection's write lock before ``database is locked``."""
    engine = engine_for(path, model, busy_timeout)
    latencies: list[float] = []
    started: list[float] = []  # wall-clock start of each answered request (to split a run into phases)
    locked_at: list[float] = []
    other_errors: list[str] = []
    next_id = first_id
    ready = Path(report + ".ready")
    while not Path(stop_file).exists():
        began, wall = time.perf_counter(), time.time()
        try:
            with Session(engine) as session:
                if kind == "search":
                    session.scalars(select(Doc.id).order_by(Doc.embedding.cosine_distance("coffee on islands"))
                                    .limit(10)).all()
                else:
                    session.add(Doc(id=next_id, content=f"a request's own note number {next_id}"))
                    session.commit()
                    next_id += 1
            latencies.append(time.perf_counter() - began)
            started.append(wall)
        except OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                locked_at.append(wall)
            else:
                other_errors.append(str(exc).splitlines()[0])
        if not ready.exists():
            ready.touch()
        time.sleep(max(0.0, interval - (time.perf_counter() - began)))
    engine.dispose()
    Path(report).write_text(json.dumps({"latencies": latencies, "started": started, "lock_errors": len(locked_at),
                                        "locked_at": locked_at, "other_errors": other_errors}))


def serve_in_thread(path: str, kind: str, interval: float, stop: threading.Event, model: str = "real",
                    first_id: int = 10_000_000) -> tuple[threading.Thread, dict[str, Any]]:
    """:func:`serve_requests` in a thread of this process (its own engine); results land in the dict."""
    result: dict[str, Any] = {}
    stop_file = str(Path(path).with_suffix(".stop"))
    report = str(Path(path).with_suffix(f".{kind}.json"))

    def run() -> None:
        serve_requests(path, kind, interval, stop_file, report, model, first_id)
        result.update(json.loads(Path(report).read_text()))

    def watch() -> None:
        stop.wait()
        Path(stop_file).touch()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    threading.Thread(target=watch, daemon=True).start()
    return thread, result


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values``, nearest rank; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]
