"""Reranking after a search: the ``Reranker`` protocol, the rerank APIs, a local cross-encoder, ``rerank()``.

The API clients need ``httpx`` (``pip install 'tidb-embed-orm[rerank]'``); the local cross-encoder
needs sentence-transformers (``[local]``).
"""

from __future__ import annotations

from .apis import CohereReranker, JinaReranker, RerankEndpoint, VoyageReranker
from .base import Reranked, Reranker, RerankScore, rerank
from .http import HttpReranker
from .local import CrossEncoderReranker

__all__ = [
    "CohereReranker",
    "CrossEncoderReranker",
    "HttpReranker",
    "JinaReranker",
    "RerankEndpoint",
    "RerankScore",
    "Reranked",
    "Reranker",
    "VoyageReranker",
    "rerank",
]
