"""NVIDIA NIM embeddings, as pingcap/tidb ``pkg/inference/embedding/nvidia/nvidia.go`` + ``protocol.go`` send them.

``POST https://integrate.api.nvidia.com/v1/embeddings`` with ``Authorization: Bearer <key>`` and
``{"model", "input": [...], "encoding_format": "base64"}`` plus the EMBED_TEXT options at top level;
``data`` items placed by ``index``, base64 float32 decoded. NIM answers a bad key with 403 (TiDB maps
403, not 401, to "check API key"); both are treated as a key problem here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .provider_http import ProviderEmbedder, indexed_vectors

DEFAULT_BASE_URL = "https://integrate.api.nvidia.com/v1/embeddings"


class NvidiaNIMEmbedder(ProviderEmbedder):
    """``nvidia_nim/<org>/<model>`` through NVIDIA's hosted NIM API (or a self-hosted NIM at ``base_url``)."""

    provider = "nvidia_nim"
    default_base_url = DEFAULT_BASE_URL

    def url(self) -> str:
        return self.base_url

    def body(self, texts: list[str], options: Mapping[str, Any]) -> dict[str, Any]:
        return {**options, "model": self.model, "input": texts, "encoding_format": "base64"}

    def vectors(self, answer: Any, count: int) -> list[list[float]]:
        return indexed_vectors(self, answer, count)
