"""Writers and searchers sharing one embedded database file, with the real model (all-MiniLM-L6-v2).

(a) A bulk import of ``--docs`` documents through the ORM (``add_all`` + commit every 500) in this
process, while two other processes each serve a request every 100 ms in a fresh ``Session``: a
search, and a one-row insert (which embeds its own text). Prints the ``database is locked`` errors
the requests met (goal: 0; SQLite's busy timeout is 5 s) and their p50 / p99 during the import beside
the same requests' p50 / p99 before it started and after it ended, and the longest time one of the
import's transactions held the write lock (from its first statement to the end of its commit).

(b) Statements whose texts only SQLite knows: ``INSERT ... SELECT`` and ``UPDATE ... SET body = body
|| ' x'`` beside a batched insert (Core executemany) of as many texts, each on a cold embedding cache;
prints texts/s and the ratio to the batched insert (goal: at least 0.9).

    .venv/bin/python benchmarks/bench_write_lock.py [--docs 2000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, text

from tidb_embed_orm.testing import lock_workload
from tidb_embed_orm.testing.lock_workload import Doc, documents, percentile, serve_requests

KINDS = ("search", "insert")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def phase(report: dict[str, Any], start: float, end: float) -> tuple[list[float], int]:
    latencies = [lat for at, lat in zip(report["started"], report["latencies"], strict=True) if start <= at < end]
    return latencies, sum(1 for at in report["locked_at"] if start <= at < end)


def concurrent_import(workdir: Path, docs: int, idle_seconds: float, interval: float) -> None:
    path = workdir / "shared.db"
    engine = lock_workload.engine_for(path)
    lock_workload.create_schema(engine)
    lock_workload.import_documents(engine, 64, start=docs + 1_000)  # load the model; a few rows to search
    spawn = multiprocessing.get_context("spawn")
    stop = workdir / "stop"
    reports = {kind: str(workdir / f"{kind}.json") for kind in KINDS}
    workers = [spawn.Process(target=serve_requests, args=(str(path), kind, interval, str(stop), reports[kind],
                                                           "real", 10_000_000 * (n + 1)))
               for n, kind in enumerate(KINDS)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 120
    while not all(Path(r + ".ready").exists() for r in reports.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    before_start = time.time()
    time.sleep(idle_seconds)
    import_start = time.time()
    lock_held: list[float] = []
    seconds = lock_workload.import_documents(engine, docs, per_commit=500, lock_held=lock_held)
    import_end = time.time()
    time.sleep(idle_seconds + 0.5)
    stop.touch()
    for worker in workers:
        worker.join(120)
    engine.dispose()
    print(f"(a) bulk import: {docs:,} documents (ORM add_all, commit every 500) in {seconds:.1f} s "
          f"= {docs / seconds:,.0f} docs/s, while two other processes send a request every "
          f"{interval * 1000:.0f} ms (busy timeout 5 s)")
    print(f"the import's transactions held the write lock at most {ms(max(lock_held))} ms per commit of 500 "
          f"({sum(lock_held):.2f} s in all; the texts were embedded before each flush wrote)")
    print()
    print("| request (fresh Session) | lock errors during import | p50 / p99 during import (ms) "
          f"| p50 / p99 without import: before ({64:,} rows) / after ({docs + 64:,} rows) (ms) | requests |")
    print("|---|---|---|---|---|")
    total_errors = 0
    for kind in KINDS:
        report = json.loads(Path(reports[kind]).read_text())
        during, errors = phase(report, import_start, import_end)
        before, before_errors = phase(report, before_start, import_start)
        after, after_errors = phase(report, import_end + 0.5, float("inf"))
        total_errors += errors + before_errors + after_errors + len(report["other_errors"])
        label = "search (top 10, cosine)" if kind == "search" else "one-row insert (embeds its text)"
        print(f"| {label} | {errors} | {ms(percentile(during, 0.5))} / {ms(percentile(during, 0.99))} "
              f"| {ms(percentile(before, 0.5))} / {ms(percentile(before, 0.99))} ; "
              f"{ms(percentile(after, 0.5))} / {ms(percentile(after, 0.99))} "
              f"| {len(during)} during, {len(before)} + {len(after)} without |")
        for error in report["other_errors"][:3]:
            print(f"  other error ({kind}): {error}")
    print()
    print(f"lock errors in total: {total_errors} (goal 0)")


def statement_ratios(workdir: Path, count: int) -> None:
    engine = create_engine(f"sqlite+tidb_embed:///{workdir / 'ratios.db'}")
    Doc.metadata.create_all(engine)
    staging = Table("staging", MetaData(), Column("id", Integer, primary_key=True), Column("body", Text))
    staging.metadata.create_all(engine)
    service = engine.dialect.embedding_service
    texts = documents(count, start=50_000)
    with engine.begin() as conn:
        conn.execute(insert(staging), [{"id": i, "body": f"{t} (staged)"} for i, t in enumerate(texts)])
        conn.execute(insert(Doc.__table__), [{"id": 9_000_000 + i, "content": t} for i, t in enumerate(texts[:64])])
    service.clear_cache()  # the model was loaded by the warm-up rows above

    def timed(run: Any) -> float:
        service.clear_cache()
        began = time.perf_counter()
        with engine.begin() as conn:
            run(conn)
        return time.perf_counter() - began

    batched = timed(lambda conn: conn.execute(insert(Doc.__table__),
                                              [{"id": i, "content": t} for i, t in enumerate(texts)]))
    insert_select = timed(lambda conn: conn.execute(text(
        "INSERT INTO sample (id, content) SELECT id + 1000000, body FROM staging")))
    update_expr = timed(lambda conn: conn.execute(text(
        "UPDATE sample SET content = content || ' x' WHERE id < 1000000")))
    engine.dispose()
    print()
    print(f"(b) {count:,} texts per statement, each on a cold embedding cache, real model")
    print()
    print("| statement | seconds | texts/s | ratio to batched insert (goal >= 0.9) |")
    print("|---|---|---|---|")
    for label, seconds in (("batched insert (Core executemany)", batched),
                           ("INSERT ... SELECT (texts only SQLite knows)", insert_select),
                           ("UPDATE ... SET content = content || ' x'", update_expr)):
        print(f"| {label} | {seconds:.2f} | {count / seconds:,.0f} | {batched / seconds:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=15.0, help="requests measured after the import")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--quick", action="store_true", help="200 documents, 128 texts per statement (a smoke run)")
    args = parser.parse_args()
    docs, idle, texts = (200, 2.0, 128) if args.quick else (args.docs, args.idle_seconds, args.docs)
    with tempfile.TemporaryDirectory() as workdir:
        concurrent_import(Path(workdir), docs, idle, args.interval)
        statement_ratios(Path(workdir), texts)


if __name__ == "__main__":
    main()
