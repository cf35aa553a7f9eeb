"""Hybrid search: one statement, TiDB's documented two-CTE shape, and the same results offline."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Integer, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, undefer

from tidb_embed_orm import (
    RRF,
    STANDARD,
    AutoEmbeddingVector,
    FulltextError,
    FulltextIndex,
    SearchableText,
    Weighted,
    hybrid_search,
)

from .conftest import MINILM, normalize_sql


class Base(DeclarativeBase):
    pass


class Doc(Base):
    """TiDB's "Hybrid Search with SQL" table."""

    __tablename__ = "docs"
    __table_args__ = (FulltextIndex("ft_content", "content", parser=STANDARD),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content: Mapped[str | None] = mapped_column(SearchableText)
    content_vector: Mapped[np.ndarray | None] = mapped_column(AutoEmbeddingVector(MINILM, source="content"), deferred=True)


PAGE_ROWS = [
    "TiDB error 8200 means a vector index cannot be added to a partitioned table.",
    "Store agent memory in one table with a vector index and transactions.",
    "Solar panels convert sunlight into renewable energy.",
    "Use EXPLAIN to check whether a query uses the vector index.",
    "Partitioning a table by tenant lets the optimizer prune partitions.",
    "A cat sat on the warm windowsill all afternoon.",
]
PAGE_QUERY = "vector index error 8200 partitioned table"


def search(query, **kw):
    return hybrid_search(Doc, vector=Doc.content_vector.cosine_distance(query), text=Doc.content.fts_match(query), **kw)


def test_compiles_to_tidbs_documented_statement(mysql_dialect):
    compiled = search(PAGE_QUERY, limit=3).compile(dialect=mysql_dialect)
    assert normalize_sql(str(compiled)) == normalize_sql("""
        WITH vec AS (
          SELECT v.id AS id, row_number() OVER (ORDER BY v.distance) AS r, v.distance AS distance FROM (
            SELECT /*+ READ_FROM_STORAGE(TIFLASH[docs]) */ docs.id AS id,
                   VEC_EMBED_COSINE_DISTANCE(docs.content_vector, %s) AS distance
            FROM docs ORDER BY distance LIMIT %s
          ) AS v
        ),
        fts AS (
          SELECT f.id AS id, row_number() OVER (ORDER BY f.score DESC) AS r FROM (
            SELECT docs.id AS id, FTS_MATCH_WORD(%s, docs.content) AS score
            FROM docs WHERE FTS_MATCH_WORD(%s, docs.content) ORDER BY score DESC LIMIT %s
          ) AS f
        )
        SELECT docs.id, docs.content,
               coalesce(1.0 / (60 + vec.r), 0) + coalesce(1.0 / (60 + fts.r), 0) AS hybrid_score,
               vec.r AS vector_rank, fts.r AS fulltext_rank
        FROM docs LEFT OUTER JOIN vec ON vec.id = docs.id LEFT OUTER JOIN fts ON fts.id = docs.id
        WHERE (vec.id IS NOT NULL OR fts.id IS NOT NULL)
          AND docs.id IN (SELECT vec.id FROM vec UNION SELECT fts.id FROM fts)
        ORDER BY hybrid_score DESC, docs.id LIMIT %s
    """)
    assert "8200" not in str(compiled)  # the query text is bound, never pasted
    sent = [compiled.params[name] for name in compiled.positiontup]
    assert sent == [PAGE_QUERY, 20, PAGE_QUERY, PAGE_QUERY, 20, 3]


def test_options_in_the_statement(mysql_dialect):
    weighted = search("q", fusion=Weighted(vector=0.7, text=0.3), where=Doc.id > 2, candidates=50,
                      distance_threshold=0.4)
    sql = normalize_sql(str(weighted.compile(dialect=mysql_dialect)))
    assert "FROM docs WHERE docs.id > %s ORDER BY distance LIMIT %s" in sql
    assert "WHERE FTS_MATCH_WORD(%s, docs.content) AND docs.id > %s ORDER BY score DESC" in sql
    assert "WHERE v.distance <= %s" in sql
    assert "f.score / max(f.score) OVER () AS norm" in sql
    assert "coalesce(0.7 * (1 - vec.distance), 0) + coalesce(0.3 * fts.norm, 0) AS hybrid_score" in sql
    rrf = normalize_sql(str(search("q", fusion=RRF(k=10)).compile(dialect=mysql_dialect)))
    assert "coalesce(1.0 / (10 + vec.r), 0) + coalesce(1.0 / (10 + fts.r), 0)" in rrf


@pytest.mark.parametrize("make, message", [
    (lambda: search("q", fusion=RRF(k=-1)), "RRF k is an int >= 0"),
    (lambda: search("q", fusion=Weighted(vector=float("nan"))), "finite number"),
    (lambda: search("q", fusion="rrf"), "fusion is RRF"),
    (lambda: search("q", limit=-1), "limit is an int >= 0"),
    (lambda: search("q", limit=True), "limit is an int >= 0"),
    (lambda: search("q", candidates=0), "candidates is an int >= 1"),
    (lambda: hybrid_search(Doc, vector=Doc.id, text=Doc.content.fts_match("q")), "vector= is a distance"),
    (lambda: hybrid_search(Doc, vector=Doc.content_vector.cosine_distance("q"), text=Doc.id == 1), "text= is a full-text match"),
])
def test_bad_arguments_say_what_to_pass(make, message):
    with pytest.raises(FulltextError, match=message):
        make()


@pytest.fixture(scope="module")
def page_engine(tmp_path_factory):
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path_factory.mktemp('hybrid') / 'page.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all([Doc(id=i, content=text) for i, text in enumerate(PAGE_ROWS, start=1)])
        session.commit()
    yield engine
    engine.dispose()


@pytest.mark.real_model
def test_the_pages_query_offline(page_engine):
    with Session(page_engine) as session:
        rows = session.execute(search(PAGE_QUERY, limit=3)).all()
    assert rows[0].Doc.id == 1 and (rows[0].vector_rank, rows[0].fulltext_rank) == (1, 1)
    assert rows[0].hybrid_score == pytest.approx(2 / 61)
    assert {r.Doc.id for r in rows} <= {1, 2, 4, 5}
    assert [r.hybrid_score for r in rows] == sorted((r.hybrid_score for r in rows), reverse=True)


@pytest.mark.real_model
def test_exact_term_semantic_and_mixed_queries(page_engine):
    with Session(page_engine) as session:
        def top(query, **kw):
            return [d.id for d in session.scalars(search(query, **kw))]

        assert top("8200", limit=1) == [1]  # an error code: the full-text side finds it
        semantic = session.execute(search("photovoltaic electricity generation", limit=1)).one()
        assert semantic.Doc.id == 3 and semantic.fulltext_rank is None  # no shared word: meaning finds it
        assert top("why does my partitioned table refuse error 8200", limit=1) == [1]
        assert top("kitten resting in the sun", limit=1) == [6]


@pytest.mark.real_model
def test_filter_threshold_and_a_vector_query(page_engine):
    with Session(page_engine) as session:
        assert 1 not in [d.id for d in session.scalars(search(PAGE_QUERY, where=Doc.id != 1))]
        only_text = session.execute(search(PAGE_QUERY, distance_threshold=0.0)).all()
        assert only_text and all(r.vector_rank is None for r in only_text)
        solar = session.scalar(select(Doc).where(Doc.id == 3).options(undefer(Doc.content_vector)))
        stmt = hybrid_search(Doc, vector=Doc.content_vector.cosine_distance(solar.content_vector),
                             text=Doc.content.fts_match("sunlight"), limit=2)
        first = session.execute(stmt).first()
        assert first.Doc.id == 3 and (first.vector_rank, first.fulltext_rank) == (1, 1)


@pytest.mark.real_model
def test_weighted_fusion(page_engine):
    with Session(page_engine) as session:
        rows = session.execute(search(PAGE_QUERY, fusion=Weighted(vector=0.5, text=0.5), limit=3)).all()
        vector_only = session.execute(search(PAGE_QUERY, fusion=Weighted(vector=1.0, text=0.0), limit=6)).all()
    assert rows[0].Doc.id == 1
    assert 0.5 < rows[0].hybrid_score <= 1.0  # the best BM25 counts 0.5, plus half its similarity
    assert [r.vector_rank for r in vector_only] == sorted(r.vector_rank for r in vector_only)


@pytest.mark.real_model
def test_hybrid_beats_vector_only_and_full_text_only_on_the_judged_set(tmp_path):
    """The benchmark's retrieval set with the real MiniLM: hybrid must beat both searches alone."""
    import importlib
    import sys
    from pathlib import Path

    from sqlalchemy import create_engine

    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    try:
        bench = importlib.import_module("bench_hybrid_search")
    finally:
        sys.path.remove(str(benchmarks))
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'judged.db'}")
    try:
        scores = bench.measure_quality(engine)
    finally:
        engine.dispose()
    hybrid, vector, text = (scores[m]["all"] for m in ("hybrid (RRF k=60)", "vector-only", "full-text-only"))
    assert hybrid[0] > max(vector[0], text[0])  # recall@10
    assert hybrid[1] > max(vector[1], text[1])  # nDCG@10
    assert scores["full-text-only"]["exact"][0] > scores["vector-only"]["exact"][0]  # the set tests what it says
    assert scores["vector-only"]["semantic"][0] > scores["full-text-only"]["semantic"][0]


@pytest.mark.real_model
def test_rows_without_a_vector_take_no_vector_rank(tmp_path):
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'nulls.db'}")
    try:
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            session.add_all([Doc(id=i, content=text) for i, text in enumerate(PAGE_ROWS, start=1)])
            session.add_all([Doc(id=100 + i, content=None) for i in range(30)])  # NULL text: NULL vector
            session.commit()
            rows = session.execute(search("solar energy", candidates=3)).all()
        assert [r.Doc.id for r in rows if r.vector_rank is not None][:1] == [3]
        assert all(r.Doc.id < 100 for r in rows)
    finally:
        engine.dispose()


@pytest.mark.real_model
def test_limit_zero_is_no_rows_everywhere_as_in_sql(page_engine):
    from tidb_embed_orm import fulltext_search, nearest

    with Session(page_engine) as session:
        assert session.execute(search(PAGE_QUERY, limit=0)).all() == []
        assert session.scalars(nearest(Doc, Doc.content_vector.cosine_distance(PAGE_QUERY), k=0)).all() == []
        assert session.execute(fulltext_search(Doc, Doc.content.fts_match("8200"), limit=0)).all() == []
    for make in (lambda: nearest(Doc, Doc.content_vector.cosine_distance("q"), k=-1),
                 lambda: fulltext_search(Doc, Doc.content.fts_match("q"), limit=-1)):
        with pytest.raises(ValueError, match=r"(k|limit) is an int >= 0, got -1"):
            make()
