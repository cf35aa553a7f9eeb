"""Hybrid search quality and latency on the embedded engine.

1. Quality: the judged set of ``retrieval_set.py`` (280 documents, 90 queries: exact codes,
   paraphrases, and both) in a table with a FULLTEXT index and an all-MiniLM-L6-v2 auto-embedding
   column (the real local model). Prints recall@10 and nDCG@10 of vector-only, full-text-only and
   hybrid (RRF k=60) search, per kind of query and overall.
2. Chinese full text (``--chinese-fulltext-only`` runs just this part, in seconds): the exact-term
   set of ``chinese_fulltext_set.py`` (48 passages, 24 queries, mostly two-character words) under
   each parser; prints full-text recall@10 per parser (MULTILINGUAL with jieba and with character
   bigrams, NGRAM(min_gram=2), and TiDB's default NGRAM 3/3 and STANDARD for contrast).
3. Latency at ``--rows`` (500 and 100,000) rows: precomputed random 384-d vectors in a Vector(384)
   column under a VectorIndex and synthetic text under a FULLTEXT index (embedding 100k texts with
   MiniLM takes far too long on 2 CPU cores). Prints, side by side for each size, the median of one
   vector-only, one full-text-only and one hybrid search (each timed as an application runs it:
   building the statement and executing it), and hybrid / vector-only (the goal: <= 2).

    .venv/bin/python benchmarks/bench_hybrid_search.py [--rows 500,100000] [--searches 20] [--skip-quality]
    .venv/bin/python benchmarks/bench_hybrid_search.py --chinese-fulltext-only
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # the retrieval set, and this checkout's package

import chinese_fulltext_set  # noqa: E402
from retrieval_set import build  # noqa: E402

from tidb_embed_orm import (  # noqa: E402
    MULTILINGUAL,
    NGRAM,
    STANDARD,
    AutoEmbeddingVector,
    FulltextIndex,
    SearchableText,
    Vector,
    VectorIndex,
    fts_match,
    fulltext_search,
    hybrid_search,
)

MINILM = "huggingface/sentence-transformers/all-MiniLM-L6-v2"
K = 10


class Base(DeclarativeBase):
    pass


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (FulltextIndex("ft_articles_content", "content", parser=STANDARD),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content: Mapped[str] = mapped_column(SearchableText)
    embedding: Mapped[np.ndarray] = mapped_column(AutoEmbeddingVector(MINILM, source="content"), deferred=True)


def vector_only(session: Session, query: str) -> list[int]:
    return list(session.scalars(select(Article.id).order_by(Article.embedding.cosine_distance(query)).limit(K)))


def fulltext_only(session: Session, query: str) -> list[int]:
    match = Article.content.fts_match(query)
    return list(session.scalars(select(Article.id).where(match).order_by(match.desc()).limit(K)))


def hybrid(session: Session, query: str) -> list[int]:
    stmt = hybrid_search(Article, vector=Article.embedding.cosine_distance(query),
                         text=Article.content.fts_match(query), limit=K)
    return [row.Article.id for row in session.execute(stmt)]


def recall(found: list[int], relevant: frozenset[int]) -> float:
    return len(set(found[:K]) & relevant) / len(relevant)


def ndcg(found: list[int], relevant: frozenset[int]) -> float:
    gain = sum(1 / math.log2(rank + 2) for rank, doc in enumerate(found[:K]) if doc in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), K)))
    return gain / ideal


Scores = dict[str, dict[str, tuple[float, float]]]
METHODS = {"vector-only": vector_only, "full-text-only": fulltext_only, "hybrid (RRF k=60)": hybrid}
KINDS = ["exact", "semantic", "mixed", "all"]


def measure_quality(engine) -> Scores:
    """Mean (recall@10, nDCG@10) per method and kind of query, on a fresh engine."""
    documents, queries = build()
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Article(id=i, content=text) for i, text in documents])
        session.commit()
    pairs: dict[str, dict[str, list[tuple[float, float]]]] = {m: defaultdict(list) for m in METHODS}
    with Session(engine) as session:
        for query in queries:
            for name, method in METHODS.items():
                found = method(session, query.text)
                pair = (recall(found, query.relevant), ndcg(found, query.relevant))
                pairs[name][query.kind].append(pair)
                pairs[name]["all"].append(pair)
    return {name: {kind: (statistics.fmean(p[0] for p in by_kind[kind]), statistics.fmean(p[1] for p in by_kind[kind]))
                   for kind in KINDS} for name, by_kind in pairs.items()}


def quality(workdir: Path) -> None:
    documents, queries = build()
    engine = create_engine(f"sqlite+tidb_embed:///{workdir / 'quality.db'}")
    started = time.perf_counter()
    scores = measure_quality(engine)
    print(f"retrieval set: {len(documents)} documents, {len(queries)} queries "
          f"(loaded, embedded with MiniLM and searched in {time.perf_counter() - started:.1f} s)")
    print(f"{'method':<20}" + "".join(f"{kind + ' R@10':>16}{kind + ' nDCG':>16}" for kind in KINDS))
    for name, by_kind in scores.items():
        print(f"{name:<20}" + "".join(f"{by_kind[k][0]:>16.3f}{by_kind[k][1]:>16.3f}" for k in KINDS))
    engine.dispose()


CHINESE_PARSERS = {
    "MULTILINGUAL (jieba)": MULTILINGUAL,
    "MULTILINGUAL (bigrams)": MULTILINGUAL,
    "NGRAM(min_gram=2)": NGRAM(min_gram=2),
    "NGRAM (3/3, TiDB default)": NGRAM,
    "STANDARD": STANDARD,
}


def chinese_fulltext_recall(workdir: Path) -> dict[str, float]:
    """Mean full-text recall@10 of the Chinese exact-term set, per parser (a fresh table each)."""
    from tidb_embed_orm.dialects.embedded import fts_tokens

    results = {}
    for number, (label, parser) in enumerate(CHINESE_PARSERS.items()):
        saved = fts_tokens._jieba
        if "bigrams" in label:  # as where the cjk extra (jieba) is not installed
            fts_tokens._jieba = lambda: None  # type: ignore[assignment]
        try:
            engine = create_engine(f"sqlite+tidb_embed:///{workdir / f'chinese{number}.db'}")
            table = Table("passages", MetaData(), Column("id", Integer, primary_key=True), Column("content", Text),
                          FulltextIndex("ft_content", "content", parser=parser))
            table.metadata.create_all(engine)
            with engine.begin() as conn:
                passages = chinese_fulltext_set.PASSAGES
                conn.execute(table.insert(), [{"id": i, "content": p} for i, p in enumerate(passages)])
            scores = []
            with engine.connect() as conn:
                for query in chinese_fulltext_set.QUERIES:
                    match = fts_match(table.c.content, query)
                    found = list(conn.scalars(select(table.c.id).where(match).order_by(match.desc()).limit(K)))
                    wanted = chinese_fulltext_set.relevant(query)
                    scores.append(len(set(found) & wanted) / min(len(wanted), K))
            engine.dispose()
        finally:
            fts_tokens._jieba = saved  # type: ignore[method-assign]
        results[label] = statistics.fmean(scores)
    return results


def chinese_fulltext(workdir: Path) -> None:
    print(f"Chinese exact-term set: {len(chinese_fulltext_set.PASSAGES)} passages, "
          f"{len(chinese_fulltext_set.QUERIES)} queries")
    print(f"{'parser':<28}{'full-text recall@10':>22}")
    for label, value in chinese_fulltext_recall(workdir).items():
        print(f"{label:<28}{value:>22.3f}")


HYBRID = "hybrid (one statement, RRF)"
VECTOR = "vector-only (VectorIndex, top 10)"


def latency(workdir: Path, rows: int, searches: int) -> dict[str, float]:
    """Median milliseconds of each kind of search on a ``rows``-row indexed table."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(20_000)]
    text_rng = random.Random(7)
    metadata = MetaData()
    table = Table("big", metadata, Column("id", Integer, primary_key=True, autoincrement=False),
                  Column("content", Text), Column("v", Vector(384)),
                  FulltextIndex("ft_big_content", "content", parser=STANDARD), VectorIndex("idx_big_v", "v"))
    engine = create_engine(f"sqlite+tidb_embed:///{workdir / f'latency-{rows}.db'}")
    metadata.create_all(engine)
    started = time.perf_counter()
    with engine.begin() as conn:
        for start in range(0, rows, 10_000):
            batch = rng.standard_normal((min(10_000, rows - start), 384)).astype(np.float32)
            conn.execute(table.insert(), [
                {"id": start + i + 1, "content": " ".join(text_rng.choices(words, k=40)), "v": vector}
                for i, vector in enumerate(batch)
            ])
    print(f"latency table: {rows} rows (random 384-d vectors, 40 random words of 20,000 each), "
          f"loaded with its FTS5 index in {time.perf_counter() - started:.1f} s", end="; ")
    queries = [(rng.standard_normal(384).astype(np.float32), " ".join(text_rng.choices(words, k=3)))
               for _ in range(searches)]
    started = time.perf_counter()
    with engine.connect() as conn:  # the first search builds the vector index's graph
        conn.execute(select(table.c.id).order_by(table.c.v.cosine_distance(queries[0][0])).limit(K)).all()
    print(f"vector index built by the first search in {time.perf_counter() - started:.1f} s")

    def run(build_statement) -> float:
        times = []
        with engine.connect() as conn:
            conn.execute(build_statement(*queries[0])).all()  # compiled once, as in a running application
            for vector, text in queries:
                started = time.perf_counter()
                conn.execute(build_statement(vector, text)).all()
                times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000

    match = lambda text: fts_match(table.c.content, text)  # noqa: E731
    timings = {
        VECTOR: run(lambda v, t: select(table.c.id).order_by(table.c.v.cosine_distance(v)).limit(K)),
        "full-text-only (where + order by)": run(
            lambda v, t: select(table.c.id).where(match(t)).order_by(match(t).desc()).limit(K)),
        "full-text-only (fulltext_search)": run(lambda v, t: fulltext_search(table, match(t), limit=K)),
        HYBRID: run(lambda v, t: hybrid_search(table, vector=table.c.v.cosine_distance(v), text=match(t), limit=K)),
    }
    engine.dispose()
    return timings


def print_side_by_side(results: dict[int, dict[str, float]], searches: int) -> None:
    sizes = list(results)
    print(f"\n{'median of ' + str(searches) + ' searches (ms)':<36}" + "".join(f"{f'{n:,} rows':>14}" for n in sizes))
    for name in results[sizes[0]]:
        print(f"{name:<36}" + "".join(f"{results[n][name]:>14.2f}" for n in sizes))
    print(f"{'ratio hybrid / vector-only':<36}" + "".join(f"{results[n][HYBRID] / results[n][VECTOR]:>14.2f}"
                                                       for n in sizes))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="500,100000", help="comma-separated table sizes")
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true", help="only the latency part (no MiniLM)")
    parser.add_argument("--chinese-fulltext-only", action="store_true", help="only the Chinese full-text recall part")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        chinese_fulltext(Path(workdir))
        if args.chinese_fulltext_only:
            return
        if not args.skip_quality:
            quality(Path(workdir))
        sizes = [int(n) for n in str(args.rows).split(",")]
        print()
        print_side_by_side({n: latency(Path(workdir), n, args.searches) for n in sizes}, args.searches)


if __name__ == "__main__":
    main()
