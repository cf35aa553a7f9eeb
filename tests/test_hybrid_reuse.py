"""A hybrid search is built once per shape and reused: each search still gets its own answer.

``hybrid_search`` remembers the statement it built for a shape of arguments (their SQLAlchemy cache
keys) and hands out that statement with each search's own values under fixed bind names. These
tests run different queries through it and check every answer against a statement built from
scratch, that SQLAlchemy's compiled cache serves them, and that a caller's own named parameter is
left alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, bindparam, create_engine, select, union_all
from sqlalchemy.engine.default import DefaultDialect

from tidb_embed_orm import (
    STANDARD,
    FulltextError,
    FulltextIndex,
    Vector,
    VectorIndex,
    Weighted,
    fts_match,
    hybrid_search,
)
from tidb_embed_orm.sql import hybrid

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
metadata = MetaData()
notes = Table(
    "reuse_notes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(10)),
    Column("body", Text),
    Column("v", Vector(4)),
    FulltextIndex("ft_reuse_body", "body", parser=STANDARD),
    VectorIndex("idx_reuse_v", "v"),
)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path_factory.mktemp('reuse') / 'reuse.db'}")
    metadata.create_all(engine)
    rng = np.random.default_rng(3)
    with engine.begin() as conn:
        conn.execute(notes.insert(), [
            {"id": i, "kind": "odd" if i % 2 else "even", "body": f"{WORDS[i % 8]} {WORDS[(i * 3) % 8]} note {i}",
             "v": rng.standard_normal(4).astype(np.float32)}
            for i in range(1, 61)
        ])
    yield engine
    engine.dispose()


QUERIES = [
    (np.array([1, 0, 0, 0], np.float32), "alpha"),
    (np.array([0, 1, 0, 0], np.float32), "delta golf"),
    (np.array([0, 0, -1, 0], np.float32), "hotel"),
    (np.array([0, 0, 0, 1], np.float32), "bravo echo"),
]


def search(query, text, **kw):
    return hybrid_search(notes, vector=notes.c.v.cosine_distance(query), text=fts_match(notes.c.body, text), **kw)


def from_scratch(conn, query, text, **kw):
    """The same search, its statement built anew and compiled without any cache."""
    hybrid._TEMPLATES.clear()
    rows = conn.execution_options(compiled_cache=None).execute(search(query, text, **kw)).all()
    hybrid._TEMPLATES.clear()
    return [(row.id, row.vector_rank, row.fulltext_rank) for row in rows]


def answers(conn, query, text, **kw):
    return [(row.id, row.vector_rank, row.fulltext_rank) for row in conn.execute(search(query, text, **kw))]


def test_each_query_gets_its_own_answer(engine):
    with engine.connect() as conn:
        expected = [from_scratch(conn, q, t) for q, t in QUERIES]
        assert len({tuple(e) for e in expected}) == len(QUERIES)  # the queries really differ
        for _ in range(2):  # and again, in another order
            assert [answers(conn, q, t) for q, t in QUERIES] == expected
            assert [answers(conn, q, t) for q, t in reversed(QUERIES)] == expected[::-1]


def test_searches_of_one_shape_share_one_statement_and_one_compiled_form(engine):
    hybrid._TEMPLATES.clear()
    cache: dict = {}
    with engine.connect() as conn:
        conn = conn.execution_options(compiled_cache=cache)
        results = [conn.execute(search(q, t)) for q, t in QUERIES]
        hits = [result.context.cache_hit for result in results]
        assert [r.all() for r in results]
    assert len(hybrid._TEMPLATES) == 1
    assert len(cache) == 1
    assert hits == [DefaultDialect.CACHE_MISS] + [DefaultDialect.CACHE_HIT] * (len(QUERIES) - 1)


def test_a_new_build_of_a_shape_never_takes_another_builds_values(engine):
    """The previous attempt's failure: a cache hit answered with the first query's values."""
    cache: dict = {}
    with engine.connect() as conn:
        expected = [from_scratch(conn, q, t) for q, t in QUERIES]
        conn = conn.execution_options(compiled_cache=cache)
        for (query, text), wanted in zip(QUERIES, expected, strict=True):
            hybrid._TEMPLATES.clear()  # a new statement object, built for another query ...
            conn.execute(search(*QUERIES[-1])).all()
            result = conn.execute(search(query, text))  # ... and reused for this one
            assert [(r.id, r.vector_rank, r.fulltext_rank) for r in result] == wanted
            assert result.context.cache_hit == DefaultDialect.CACHE_HIT
        assert len(cache) == len(QUERIES)  # one compiled form per build: its bind names are its own


def test_two_searches_of_one_shape_in_one_statement_are_refused(engine):
    """They would share their CTEs and bind names: one would silently run with the other's values."""
    first, second = (search(q, t).subquery() for q, t in QUERIES[:2])
    with engine.connect() as conn, pytest.raises(FulltextError, match="same shape.*own statement"):
        conn.execute(union_all(select(first.c.id), select(second.c.id)))
    # (searches of two shapes were never one statement: SQLAlchemy refuses two unrelated CTEs named "vec")


def test_filters_thresholds_and_fusions_are_their_own_shapes(engine):
    with engine.connect() as conn:
        for kw in ({"limit": 3}, {"distance_threshold": 0.9}, {"fusion": Weighted(vector=0.8, text=0.2)}, {}):
            expected = [from_scratch(conn, q, t, **kw) for q, t in QUERIES]
            assert [answers(conn, q, t, **kw) for q, t in QUERIES] == expected
        for kind in ("odd", "even", "odd"):  # a filter's value is one of the search's values
            expected = [from_scratch(conn, q, t, where=notes.c.kind == kind) for q, t in QUERIES]
            assert [answers(conn, q, t, where=notes.c.kind == kind) for q, t in QUERIES] == expected
            ids = {row[0] for rows in expected for row in rows}
            assert ids and all((i % 2 == 1) == (kind == "odd") for i in ids)


def test_a_parameter_the_caller_names_is_filled_at_execution(engine):
    where = notes.c.kind == bindparam("wanted_kind")
    with engine.connect() as conn:
        for kind in ("odd", "even"):
            rows = conn.execute(search(*QUERIES[0], where=where), {"wanted_kind": kind}).all()
            assert rows and all((row.id % 2 == 1) == (kind == "odd") for row in rows)


def test_the_reused_statement_sends_this_searchs_values_to_tidb(mysql_dialect):
    for vector, text in QUERIES:
        compiled = search(vector, text, limit=3).compile(dialect=mysql_dialect)
        sent = [compiled.params[name] for name in compiled.positiontup]
        assert [type(v).__name__ for v in sent] == ["ndarray", "int", "str", "str", "int", "int"]
        assert np.array_equal(sent[0], vector) and sent[2] == sent[3] == text and sent[-1] == 3
        assert text not in str(compiled)


@pytest.mark.skipif(not hybrid._PARAMS_BESIDE_TREE, reason="SQLAlchemy 2.0 copies the tree in params()")
def test_the_cache_key_set_on_the_statement_is_the_one_sqlalchemy_computes():
    statement = search(*QUERIES[1])
    walked = statement.params({})  # a copy without the memo: SQLAlchemy walks its tree
    assert "_generate_cache_key" not in walked.__dict__
    own, computed = statement._generate_cache_key(), walked._generate_cache_key()
    assert own.key == computed.key
    assert [id(b) for b in own.bindparams] == [id(b) for b in computed.bindparams]
    assert own.params.keys() == computed.params.keys()
    assert all(np.array_equal(own.params[k], computed.params[k]) if isinstance(own.params[k], np.ndarray)
               else own.params[k] == computed.params[k] for k in own.params)


def test_unfiltered_full_text_side_ranks_in_the_index_and_finds_the_same_rows(engine):
    """Without a filter the embedded engine ranks the best matches in the FTS5 index and reads only
    their rows; a filter that keeps every row takes the plain join: both give the same answer."""
    from tidb_embed_orm.dialects.embedded.fts5 import fts_table_name

    ranked_sql = str(search(*QUERIES[0]).compile(engine))
    top = f'"{fts_table_name("reuse_notes", "ft_reuse_body")}_top"'
    assert f"AS {top} ON {top}.rowid = reuse_notes.rowid" in ranked_sql
    assert top not in str(search(*QUERIES[0], where=notes.c.id > 0).compile(engine))
    with engine.connect() as conn:
        for query, text in QUERIES:
            for limit in (1, 5, 10):
                assert answers(conn, query, text, limit=limit) == answers(
                    conn, query, text, limit=limit, where=notes.c.id > 0)
