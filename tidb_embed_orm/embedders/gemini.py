"""Google Gemini embeddings, as pingcap/tidb ``pkg/inference/embedding/gemini/gemini.go`` + ``protocol.go`` send them.

``POST {base}/{model}:batchEmbedContents`` (base ``https://generativelanguage.googleapis.com/v1beta/models``)
with the key in ``x-goog-api-key`` and ``{"requests": [{"model": "models/<model>", "content":
{"parts": [{"text": ...}]}, <options>}, ...]}``: one request per text, each carrying the EMBED_TEXT
options at its top level. The answer is ``{"embeddings": [{"values": [floats]}, ...]}`` in text order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .provider_http import ProviderEmbedder, float_list

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/models"


class GeminiEmbedder(ProviderEmbedder):
    """``gemini/<model>`` through the Gemini API's batchEmbedContents."""

    provider = "gemini"
    default_base_url = DEFAULT_BASE_URL

    def url(self) -> str:
        return f"{self.base_url}/{quote(self.model, safe='')}:batchEmbedContents"

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["x-goog-api-key"] = self._key.reveal()
        return headers

    def body(self, texts: list[str], options: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "requests": [
                {**options, "model": f"models/{self.model}", "content": {"parts": [{"text": text}]}} for text in texts
            ]
        }

    def vectors(self, answer: Any, count: int) -> list[list[float]]:
        embeddings = answer.get("embeddings") if isinstance(answer, dict) else None
        if not isinstance(embeddings, list):
            raise self.malformed("an 'embeddings' list")
        rows = [float_list(item.get("values")) if isinstance(item, dict) else None for item in embeddings]
        if any(row is None or not row for row in rows):
            raise self.malformed("'values' float vectors in 'embeddings'")
        return rows  # type: ignore[return-value]
