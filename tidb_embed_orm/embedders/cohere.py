"""Cohere embeddings, as pingcap/tidb ``pkg/inference/embedding/cohere/cohere.go`` + ``protocol.go`` send them.

``POST https://api.cohere.com/v1/embed`` with ``Authorization: Bearer <key>`` and
``{"model", "texts": [...]}`` plus the EMBED_TEXT options at top level (the fixed fields win); the
answer is ``{"embeddings": [[floats], ...]}`` in text order (``embeddings_floats``). Cohere's v3 and
v4 models need ``input_type``: the column type adds ``search_document`` / ``search_query`` when the
declaration has none (catalog.provider_defaults), so TiDB receives them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .provider_http import ProviderEmbedder, float_list

DEFAULT_BASE_URL = "https://api.cohere.com/v1/embed"


class CohereEmbedder(ProviderEmbedder):
    """``cohere/<model>`` through Cohere's v1 embed endpoint (TiDB's)."""

    provider = "cohere"
    default_base_url = DEFAULT_BASE_URL

    def url(self) -> str:
        return self.base_url  # TiDB posts to the configured URL as it is

    def body(self, texts: list[str], options: Mapping[str, Any]) -> dict[str, Any]:
        return {**options, "model": self.model, "texts": texts}

    def vectors(self, answer: Any, count: int) -> list[list[float]]:
        embeddings = answer.get("embeddings") if isinstance(answer, dict) else None
        if not isinstance(embeddings, list):
            # {"embeddings": {"float": [...]}} is the answer to an `embedding_types` option, which TiDB
            # cannot read either; the column type refuses that option at declaration.
            raise self.malformed("an 'embeddings' list of float vectors")
        rows = [float_list(row) for row in embeddings]
        if any(row is None or not row for row in rows):
            raise self.malformed("float vectors in 'embeddings'")
        return rows  # type: ignore[return-value]
