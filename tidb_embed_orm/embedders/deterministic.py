"""A fast, deterministic, NON-semantic embedder for unit tests that do not care about meaning."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..codec import Float32Array


class HashingTestEmbedder:
    """Unit vectors derived from a hash of each text: equal texts get equal vectors, nothing more.

    Similar texts do NOT get similar vectors. Use the real local model for semantic tests.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str], options: Mapping[str, Any] | None = None) -> Float32Array:
        """EMBED_TEXT options take part in the hash: other options give other vectors, as with a real model."""
        self.calls += 1
        self.texts_embedded += len(texts)
        salt = json.dumps(dict(options), sort_keys=True) if options else ""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            digest = hashlib.blake2b((salt + text).encode("utf-8"), digest_size=8).digest()
            seed = int.from_bytes(digest, "little")
            row = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = row / np.linalg.norm(row)
        return out
