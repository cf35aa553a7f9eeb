"""Jina AI embeddings, as pingcap/tidb ``pkg/inference/embedding/jina/jina.go`` + ``protocol.go`` send them.

``POST https://api.jina.ai/v1/embeddings`` with ``Authorization: Bearer <key>`` and
``{"model", "input": [...], "embedding_type": "base64"}`` plus the EMBED_TEXT options at top level;
the answer's ``data`` items are placed by ``index`` and their base64 float32 bytes decoded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .provider_http import ProviderEmbedder, indexed_vectors

DEFAULT_BASE_URL = "https://api.jina.ai/v1/embeddings"


class JinaEmbedder(ProviderEmbedder):
    """``jina_ai/<model>`` through Jina AI's embeddings API."""

    provider = "jina_ai"
    default_base_url = DEFAULT_BASE_URL

    def url(self) -> str:
        return self.base_url

    def body(self, texts: list[str], options: Mapping[str, Any]) -> dict[str, Any]:
        return {**options, "model": self.model, "input": texts, "embedding_type": "base64"}

    def vectors(self, answer: Any, count: int) -> list[list[float]]:
        return indexed_vectors(self, answer, count)
