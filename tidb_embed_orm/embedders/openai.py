"""OpenAI embeddings, and any OpenAI-compatible server (Azure OpenAI, Ollama, vLLM, LM Studio, TEI).

As pingcap/tidb ``pkg/inference/embedding/openai/openai.go`` + ``protocol.go``: ``POST {base}/embeddings``
with ``Authorization: Bearer <key>`` and ``{"model", "input": [...], "encoding_format": "base64"}``, the
EMBED_TEXT options merged at top level (the fixed fields win); the answer's ``data`` items are placed
by their ``index`` and their base64 float32 bytes decoded. The base is ``TIDB_EXP_EMBED_OPENAI_API_BASE``
(default ``https://api.openai.com/v1``); a base given with ``/embeddings`` already is used as the
endpoint, as TiDB's NormalizeOpenAIEmbeddingAPIBase trims it and the provider appends it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .provider_http import ProviderEmbedder, indexed_vectors

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIEmbedder(ProviderEmbedder):
    """``openai/<model>`` through the OpenAI embeddings API (or a compatible server at ``base_url``)."""

    provider = "openai"
    default_base_url = DEFAULT_BASE_URL
    #: a local OpenAI-compatible server (Ollama) takes no key; a remote one always gets one
    key_optional = True

    def url(self) -> str:
        return self.base_url if self.base_url.endswith("/embeddings") else self.base_url + "/embeddings"

    def body(self, texts: list[str], options: Mapping[str, Any]) -> dict[str, Any]:
        return {**options, "model": self.model, "input": texts, "encoding_format": "base64"}

    def vectors(self, answer: Any, count: int) -> list[list[float]]:
        return indexed_vectors(self, answer, count)
