"""Reranking: each API client against a local server speaking that API's contract, and rerank() after a search."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sqlalchemy import Integer, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tidb_embed_orm import Vector, VectorIndex, nearest, records
from tidb_embed_orm.exc import RerankAuthError, RerankError
from tidb_embed_orm.rerank import (
    CohereReranker,
    JinaReranker,
    RerankEndpoint,
    Reranker,
    VoyageReranker,
    rerank,
)

from .rerank_server import RerankServer, relevance

KEY = "secret-rerank-key-0123456789"
CLIENTS = {
    "cohere": lambda url, **kw: CohereReranker("rerank-v3.5", url=url, **kw),
    "jina": lambda url, **kw: JinaReranker("jina-reranker-v2-base-multilingual", url=url, **kw),
    "voyage": lambda url, **kw: VoyageReranker("rerank-2.5", url=url, **kw),
    "common": lambda url, **kw: RerankEndpoint(url, "BAAI/bge-reranker-v2-m3", **kw),
    "tei": lambda url, **kw: RerankEndpoint(url, tei=True, **kw),
}
DOCS = ["how to get a refund for my order", "shipping times to Europe", "get your money back: refunds explained",
        "the history of money", "reset your password"]
QUERY = "how do I get my money back"


@pytest.fixture(params=sorted(CLIENTS))
def flavor(request):
    return request.param


def client(flavor, server, **kw):
    kw.setdefault("api_key", KEY)
    kw.setdefault("sleep", lambda seconds: None)
    return CLIENTS[flavor](server.url, **kw)


def test_each_api_gets_its_documented_request_and_its_order_is_kept(flavor):
    with RerankServer(flavor) as server:
        found = client(flavor, server).rerank(QUERY, DOCS, top_n=2)
    expected = sorted(range(len(DOCS)), key=lambda i: -relevance(QUERY, DOCS[i]))[:2]
    assert [s.index for s in found] == expected
    assert [s.score for s in found] == pytest.approx([relevance(QUERY, DOCS[i]) for i in expected])
    (sent,) = server.requests
    assert sent["authorization"] == f"Bearer {KEY}"
    assert sent["body"] == {
        "cohere": {"model": "rerank-v3.5", "query": QUERY, "documents": DOCS, "top_n": 2},
        "jina": {"model": "jina-reranker-v2-base-multilingual", "query": QUERY, "documents": DOCS, "top_n": 2,
                 "return_documents": False},
        "voyage": {"model": "rerank-2.5", "query": QUERY, "documents": DOCS, "top_k": 2, "return_documents": False,
                   "truncation": True},
        "common": {"model": "BAAI/bge-reranker-v2-m3", "query": QUERY, "documents": DOCS, "top_n": 2,
                   "return_documents": False},
        "tei": {"query": QUERY, "texts": DOCS, "raw_scores": False, "return_text": False},
    }[flavor]


def test_a_hundred_candidates_are_one_request(flavor):
    documents = [f"document {i} about money" if i % 7 else f"get money back {i}" for i in range(100)]
    with RerankServer(flavor, max_batch=512) as server:
        found = client(flavor, server).rerank(QUERY, documents, top_n=5)
    assert len(server.requests) == 1 and len(found) == 5
    assert all(documents[s.index].startswith("get money back") for s in found)


def test_a_refused_key_is_an_auth_error_that_never_shows_the_key(flavor, caplog):
    caplog.set_level(logging.DEBUG)
    with RerankServer(flavor, key="the-right-key-000000") as server:
        reranker = client(flavor, server)
        with pytest.raises(RerankAuthError, match="refused the API key \\(401\\)") as raised:
            reranker.rerank(QUERY, DOCS)
    assert len(server.requests) == 1  # never retried
    assert "0123456789" not in str(raised.value) and KEY[:8] not in str(raised.value)
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    assert KEY not in repr(reranker) and all(KEY[:8] not in r.getMessage() for r in caplog.records)


def test_rate_limits_and_server_errors_are_retried_then_reported(flavor):
    with RerankServer(flavor) as server:
        slept: list[float] = []
        reranker = client(flavor, server, sleep=slept.append, max_retries=2)
        server.script = ["429", "503"]
        assert len(reranker.rerank(QUERY, DOCS)) == len(DOCS)
        assert len(server.requests) == 3 and slept == [0.0, 1.0]  # Retry-After: 0, then backoff
        server.script = ["429"] * 3
        with pytest.raises(RerankError, match="kept rate-limiting the request \\(429\\) after 3 attempts"):
            reranker.rerank(QUERY, DOCS)
        server.script = ["503"] * 3
        with pytest.raises(RerankError, match="answered 503 after 3 attempts: .*overloaded"):
            reranker.rerank(QUERY, DOCS)


def test_a_server_that_does_not_answer_in_time(flavor):
    with RerankServer(flavor) as server:
        server.hang_seconds = 1.0
        server.script = ["hang", "hang"]
        reranker = client(flavor, server, timeout=0.2, max_retries=1)
        with pytest.raises(RerankError, match="did not answer within 0.2s \\(2 attempts\\)"):
            reranker.rerank(QUERY, DOCS)


def test_malformed_answers_are_refused(flavor):
    with RerankServer(flavor) as server:
        reranker = client(flavor, server)
        server.script = ["bad_index"]
        with pytest.raises(RerankError, match="document index [5-9] that is not one of the 5 sent"):
            reranker.rerank(QUERY, DOCS)
        server.script = ["partial"]
        with pytest.raises(RerankError, match="answered 1 scores for 5 documents"):
            reranker.rerank(QUERY, DOCS)


@pytest.mark.parametrize("flavor", ["cohere", "jina", "voyage"])
def test_the_hosted_apis_need_a_key(flavor, monkeypatch):
    for name in ("COHERE_API_KEY", "CO_API_KEY", "JINA_API_KEY", "VOYAGE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RerankAuthError, match="needs an API key: pass api_key=... or set the [A-Z_ or]+ environment"):
        CLIENTS[flavor]("http://127.0.0.1:9/rerank")


def test_tei_takes_batches_of_its_max_client_batch_size():
    documents = [f"text {i}" + (" money back" if i in (3, 77) else "") for i in range(100)]
    with RerankServer("tei", key=None) as server:
        with pytest.raises(RerankError, match="answered 413: .*batch size 100 > maximum allowed batch size 32"):
            RerankEndpoint(server.url, tei=True).rerank(QUERY, documents)
        server.requests.clear()
        found = RerankEndpoint(server.url, tei=True, max_documents=32).rerank(QUERY, documents, top_n=2)
    assert [len(r["body"]["texts"]) for r in server.requests] == [32, 32, 32, 4]
    assert {s.index for s in found} == {3, 77}
    assert server.requests[0]["authorization"] is None  # no key configured: no header


class Base(DeclarativeBase):
    pass


class Faq(Base):
    __tablename__ = "faq"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    answer: Mapped[str]
    v: Mapped[np.ndarray] = mapped_column(Vector(3))
    __table_args__ = (VectorIndex("idx_faq_v", "v"),)


def test_rerank_after_a_search_keeps_limit_rows_with_both_scores(tmp_path):
    engine = create_engine(f"sqlite+tidb_embed:///{tmp_path / 'faq.db'}")
    Base.metadata.create_all(engine)
    rng = np.random.default_rng(3)
    with Session(engine) as session:
        session.add_all([Faq(id=i, answer=DOCS[i % len(DOCS)] + f" #{i}", v=rng.standard_normal(3)) for i in range(40)])
        session.commit()
        rows = session.execute(nearest(Faq, Faq.v.cosine_distance([1, 0, 0]), k=20)).all()  # over-fetch 20
        with RerankServer("common", key=None) as server:
            best = rerank(rows, QUERY, RerankEndpoint(server.url), text="answer", limit=3)
            objects = rerank(session.scalars(nearest(Faq, Faq.v.cosine_distance([1, 0, 0]), k=20)), QUERY,
                             RerankEndpoint(server.url), text=lambda faq: faq.answer, limit=2)
        assert len(server.requests[0]["body"]["documents"]) == 20 and server.requests[0]["body"]["top_n"] == 3
        assert [hit.score for hit in best] == sorted((hit.score for hit in best), reverse=True)
        assert all(hit.entity.answer.startswith(("get your money back", "how to get a refund")) for hit in best)
        assert [hit.row for hit in best] == [rows[hit.candidate] for hit in best]  # the search's row, distance included
        flat = records(best, vectors=False)
        assert sorted(flat[0]) == ["answer", "distance", "id", "rerank_score"]
        assert flat[0]["distance"] == best[0].row.distance and flat[0]["rerank_score"] == best[0].score
        assert [hit.entity for hit in objects] == [hit.entity for hit in best[:2]]  # from session.scalars() too
        assert [hit.score for hit in objects] == [hit.score for hit in best[:2]]
    engine.dispose()


def test_rerank_checks_its_arguments():
    class Upper:
        def rerank(self, query, documents, top_n=None):
            return [(0, 1.0)]

    assert isinstance(Upper(), Reranker)
    with pytest.raises(ValueError, match="limit is an int >= 1"):
        rerank([], "q", Upper(), text="answer", limit=0)
    with pytest.raises(TypeError, match="is not a Reranker"):
        rerank([], "q", object(), text="answer", limit=1)  # type: ignore[arg-type]

    class Row:
        answer = None

    with pytest.raises(RerankError, match="candidate 0 has no text to rerank"):
        rerank([Row()], "q", Upper(), text="answer", limit=1)


def test_the_key_comes_from_the_environment_like_the_provider_embedders(monkeypatch):
    monkeypatch.delenv("CO_API_KEY", raising=False)
    monkeypatch.setenv("COHERE_API_KEY", KEY)
    with RerankServer("cohere") as server:
        assert len(CohereReranker(url=server.url).rerank(QUERY, DOCS, top_n=1)) == 1
    assert server.requests[0]["authorization"] == f"Bearer {KEY}"


def test_a_key_never_goes_over_plain_http_to_another_machine_and_url_credentials_never_show():
    with pytest.raises(RerankError, match="plain http to another machine"):
        RerankEndpoint("http://reranker.internal:8080/rerank", api_key=KEY)
    with pytest.raises(RerankError, match="not an absolute http"):
        CohereReranker("rerank-v3.5", api_key=KEY, url="api.cohere.com/v2/rerank")
    RerankEndpoint("http://reranker.internal:8080/rerank")  # no key: plain http is the server's business
    with RerankServer("common") as server:
        port = server.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
    secret = "hunter2-url-token"
    with pytest.raises(RerankError, match="carries credentials .* the API key is not sent") as beside_key:
        CohereReranker("rerank-v3.5", api_key=KEY, url=f"https://user:{secret}@api.cohere.com/v2/rerank")
    assert secret not in str(beside_key.value)
    reranker = RerankEndpoint(f"https://user:{secret}@127.0.0.1:{port}/rerank", max_retries=0)  # Basic auth alone
    with pytest.raises(RerankError) as raised:
        reranker.rerank(QUERY, DOCS)  # nothing listens there any more
    assert secret not in str(raised.value) and "***@127.0.0.1" in str(raised.value)
    assert secret not in repr(reranker)


def test_a_reranker_of_your_own_may_answer_numpy_numbers():
    class LongestFirst:  # argsort hands back numpy integers, and the scores are numpy floats
        def rerank(self, query, documents, top_n=None):
            scores = np.array([len(d) for d in documents], dtype=np.float32)
            return [(i, scores[i]) for i in np.argsort(-scores)[:top_n]]

    best = rerank(["a", "ccc", "bb"], QUERY, LongestFirst(), text=lambda row: row, limit=2)
    assert [(hit.row, hit.score, hit.candidate) for hit in best] == [("ccc", 3.0, 1), ("bb", 2.0, 2)]
    assert all(type(hit.score) is float and type(hit.candidate) is int for hit in best)

    class Flags:
        def rerank(self, query, documents, top_n=None):
            return [(np.bool_(True), 1.0)]

    with pytest.raises(RerankError, match="not an integer"):
        rerank(["a"], QUERY, Flags(), text=lambda row: row, limit=1)
