"""A graph viewed from its saved file keeps later changes beside it: it must answer exactly as the same graph
rebuilt from the rows as they now are, before and after it is read into memory, and a failed read leaves it
answering as before."""

from __future__ import annotations

import numpy as np
import pytest

from tidb_embed_orm.dialects.embedded.vector_index import ann
from tidb_embed_orm.dialects.embedded.vector_index.ann import AnnGraph
from tidb_embed_orm.dialects.embedded.vector_index.graph_file import GraphStamp

DIM = 16


def graph_of(rows: dict[int, np.ndarray], metric: str) -> AnnGraph:
    graph = AnnGraph(metric, DIM)
    ids = np.array(sorted(rows), dtype=np.int64)
    graph.add_new(ids, np.stack([rows[i] for i in ids]))
    return graph


@pytest.fixture(params=["cosine", "l2"])
def saved(request, tmp_path):
    """A saved graph of 3,000 rows with negative and positive rowids, viewed again, and its rows."""
    metric = request.param
    rng = np.random.default_rng(1)
    rows = {int(i): rng.standard_normal(DIM).astype(np.float32) for i in range(-1500, 1500)}
    stamp = GraphStamp("t", "0" * 32, 2, 0, metric, DIM)
    path = tmp_path / "graph.usearch"
    graph_of(rows, metric).save(path, stamp)
    return AnnGraph.load(path, stamp), rows, metric, rng


def change(viewed: AnnGraph, rows: dict[int, np.ndarray], rng, query: np.ndarray) -> tuple[int, int]:
    """Deletes, rewrites and inserts, applied to the graph and to ``rows`` alike; returns the rowid moved next to
    the query and the rowid deleted that was nearest to it."""
    nearest = min(rows, key=lambda i: float(np.sum((rows[i] / np.linalg.norm(rows[i]) - query) ** 2)))
    gone = np.array([nearest, *rng.choice([i for i in rows if i != nearest], 199, replace=False)], dtype=np.int64)
    viewed.remove(gone)
    for i in gone:
        del rows[int(i)]
    rewritten = rng.choice(list(rows), 150, replace=False).astype(np.int64)
    new = np.arange(5000, 5100, dtype=np.int64)
    ids = np.concatenate([rewritten, new])
    vectors = rng.standard_normal((len(ids), DIM)).astype(np.float32)
    vectors[0] = query * 2  # a rewrite that moves a row next to the query
    viewed.upsert(ids, vectors)
    rows.update({int(i): v for i, v in zip(ids, vectors, strict=True)})
    return int(rewritten[0]), nearest


@pytest.mark.parametrize("walk", [False, True], ids=["exhaustive", "graph walk"])
def test_a_viewed_graph_with_changes_answers_as_the_rebuilt_graph(saved, monkeypatch, walk):
    viewed, rows, metric, rng = saved
    if walk:
        monkeypatch.setattr(ann, "EXACT_WORK", 0)
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    moved, deleted = change(viewed, rows, rng, query)
    assert viewed.viewed
    rebuilt = graph_of(rows, metric)
    queries = [query, *rng.standard_normal((30, DIM)).astype(np.float32)]
    for q in queries:
        found = viewed.search(q, 20).tolist()
        assert len(found) == len(set(found)) == 20
        assert set(found) <= set(rows)  # nothing deleted, nothing twice
        if not walk:
            assert found == rebuilt.search(q, 20).tolist()
    first = viewed.search(query, 10).tolist()
    assert first[0] == moved and deleted not in first
    if walk:  # approximate: (almost) the rebuilt graph's exhaustive answer
        monkeypatch.setattr(ann, "EXACT_WORK", 10**9)
        exact = [set(rebuilt.search(q, 10).tolist()) for q in queries]
        monkeypatch.setattr(ann, "EXACT_WORK", 0)
        hits = sum(len(set(viewed.search(q, 10).tolist()) & e) for q, e in zip(queries, exact, strict=True))
        assert hits / (10 * len(queries)) >= 0.9
    before = [viewed.search(q, 20).tolist() for q in queries]
    viewed._read_into_memory()  # as a save does
    assert not viewed.viewed and len(viewed) == len(rows) - (-1 in rows)
    assert [viewed.search(q, 20).tolist() for q in queries] == before or walk


def test_a_failed_read_into_memory_leaves_the_graph_viewed_with_its_changes(saved, monkeypatch):
    viewed, rows, metric, rng = saved
    query = rng.standard_normal(DIM).astype(np.float32)
    query /= np.linalg.norm(query)
    moved, _ = change(viewed, rows, rng, query)
    before = viewed.search(query, 20).tolist()
    from usearch.index import Index

    def fail(self, *args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(Index, "load", fail)
    with pytest.raises(RuntimeError, match="out of memory"):
        viewed._read_into_memory()
    assert viewed.viewed and viewed.search(query, 20).tolist() == before and before[0] == moved
    monkeypatch.undo()
    viewed._read_into_memory()
    assert not viewed.viewed and viewed.search(query, 20).tolist() == before
