"""A fast, deterministic, NON-semantic embedder for unit tests that do not care about meaning."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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

    def embed(self, texts: Sequence[str]) -> Float32Array:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
            row = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            out[i] = row / np.linalg.norm(row)
        return out
