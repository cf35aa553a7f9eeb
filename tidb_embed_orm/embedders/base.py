"""The embedder protocol: a batch of texts in, one float32 row per text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..codec import Float32Array
from ..errors import EmbeddingFailedError


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into vectors. ``embed`` is always called with a whole batch."""

    def embed(self, texts: Sequence[str]) -> Any:
        """Return an (len(texts), dim) array-like of floats."""
        ...


def as_matrix(result: Any, count: int, dim: int | None, model: str) -> Float32Array:
    """Check an embedder's answer: one finite row of the right size per text, or a clear refusal."""
    try:
        matrix = np.asarray(result, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise EmbeddingFailedError(f"embedder for {model!r} returned something that is not a matrix: {exc}") from None
    if matrix.ndim != 2 or matrix.shape[0] != count:
        raise EmbeddingFailedError(
            f"embedder for {model!r} returned shape {matrix.shape} for {count} texts; "
            f"expected ({count}, {dim if dim is not None else 'dim'}): refusing to store it"
        )
    if dim is not None and matrix.shape[1] != dim:
        raise EmbeddingFailedError(
            f"embedder for {model!r} returned {matrix.shape[1]}-dimensional vectors, but the column is VECTOR({dim})"
        )
    if not np.isfinite(matrix).all():
        raise EmbeddingFailedError(f"embedder for {model!r} returned NaN or infinite values: refusing to store them")
    return matrix
