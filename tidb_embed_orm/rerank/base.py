"""Reranking as one step after any search: the ``Reranker`` protocol and ``rerank()``.

A search over-fetches ``candidates`` rows (``nearest(..., k=candidates)``, ``hybrid_search(...,
limit=candidates)``); ``rerank()`` sends their texts to a reranker in one call, keeps the best
``limit`` and returns them in the reranker's order, each with the reranker's score beside the row
the search produced (its distance or scores included). TiDB has no rerank in SQL, so this step
lives in the library and runs the same after a search on TiDB or on the embedded engine.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
from sqlalchemy.engine import Row

from ..exc import RerankError


@dataclass(frozen=True)
class RerankScore:
    """One document's relevance: its position in the documents sent, and the reranker's score (higher is better)."""

    index: int
    score: float

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.score))


@runtime_checkable
class Reranker(Protocol):
    """Scores documents against a query: Cohere, Jina AI, Voyage, a ``/rerank`` server, a local cross-encoder."""

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[RerankScore]:
        """The ``top_n`` most relevant documents (all when None), best first."""
        ...


def check_scores(answer: Iterable[Any], count: int, top_n: int | None, source: str) -> list[RerankScore]:
    """A reranker's ``(index, score)`` pairs checked (each index once, in range; numbers) and sorted best first."""
    scores: list[RerankScore] = []
    seen: set[int] = set()
    for index, score in answer:
        # numbers.Integral / Real: numpy's integers and floats (a reranker built on argsort) count too
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, numbers.Integral):
            raise RerankError(f"{source} answered a document index {index!r} that is not an integer")
        index = int(index)
        if not 0 <= index < count or index in seen:
            raise RerankError(f"{source} answered a document index {index!r} that is not one of the {count} sent "
                              "(or twice); refusing to guess the order")
        if isinstance(score, (bool, np.bool_)) or not isinstance(score, numbers.Real) or not math.isfinite(score):
            raise RerankError(f"{source} answered a score {score!r} that is not a finite number")
        seen.add(index)
        scores.append(RerankScore(index, float(score)))
    expected = count if top_n is None else min(top_n, count)
    if len(scores) < expected:
        raise RerankError(f"{source} answered {len(scores)} scores for {expected} documents; refusing a partial order")
    scores.sort(key=lambda s: (-s.score, s.index))
    return scores[:expected]


@dataclass(frozen=True)
class Reranked:
    """One reranked result: the search's row (entity and its scores) and the reranker's score."""

    #: the row as the search returned it: a SQLAlchemy ``Row`` such as ``(Doc, distance)``, or an object
    row: Any
    #: the reranker's relevance score, higher is better
    score: float
    #: the row's position in the search's own order (0 = the search's best)
    candidate: int

    @property
    def entity(self) -> Any:
        """The row's first element (the mapped object), or the row itself when it is not a tuple."""
        return self.row[0] if isinstance(self.row, (Row, tuple)) else self.row

    def _asdict(self) -> dict[str, Any]:
        """The row's fields and ``rerank_score``: what ``records()`` flattens."""
        as_dict = getattr(self.row, "_asdict", None)
        fields = dict(as_dict()) if as_dict is not None else {"entity": self.row}
        return {**fields, "rerank_score": self.score}


def _text_reader(text: str | Callable[[Any], str]) -> Callable[[Any], Any]:
    if callable(text):
        return text
    if not isinstance(text, str) or not text:
        raise TypeError("text= is the name of the text attribute (such as 'content') or a function of the row")

    def read(row: Any) -> Any:
        entity = row[0] if isinstance(row, (Row, tuple)) else row
        return getattr(entity, text)

    return read


def rerank(rows: Iterable[Any], query: str, reranker: Reranker, *, text: str | Callable[[Any], str],
           limit: int) -> list[Reranked]:
    """The best ``limit`` of a search's rows by ``reranker``, best first, each with its score.

    ``rows`` are what the search returned (``session.execute(stmt)`` rows or ``session.scalars``
    objects); ``text`` names the attribute holding each row's text, or is a function of the row.
    All the texts go to the reranker in one call (one request for the API clients).
    """
    if not isinstance(query, str):
        raise TypeError(f"the rerank query is a str, got {type(query).__name__}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit is an int >= 1, got {limit!r}")
    if not isinstance(reranker, Reranker):
        raise TypeError(f"{reranker!r} is not a Reranker (it has no rerank(query, documents, top_n) method)")
    candidates = list(rows)
    read = _text_reader(text)
    documents: list[str] = []
    for position, row in enumerate(candidates):
        value = read(row)
        if not isinstance(value, str):
            raise RerankError(f"candidate {position} has no text to rerank ({type(value).__name__}); "
                              "exclude rows without text from the search, or pass text= a function that gives one")
        documents.append(value)
    if not documents:
        return []
    scores = check_scores(reranker.rerank(query, documents, top_n=min(limit, len(documents))),
                          len(documents), min(limit, len(documents)), type(reranker).__name__)
    return [Reranked(candidates[s.index], s.score, s.index) for s in scores]
