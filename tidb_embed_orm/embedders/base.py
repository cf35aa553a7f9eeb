"""The embedder protocol: a batch of texts in, one float32 row per text out."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..catalog import MAX_VECTOR_DIMENSIONS
from ..codec import Float32Array
from ..exc import EmbeddingFailedError, UnsupportedOptionsError
from ..options import ProviderOptions


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into vectors. ``embed`` is always called with a whole batch.

    An embedder that honours EMBED_TEXT's JSON options takes them as ``embed(texts, options=...)``
    (a dict, already resolved for stored or query text); one without that parameter is only
    ever given texts, and a column declaring options it cannot take is a clear error.
    """

    def embed(self, texts: Sequence[str]) -> Any:
        """Return an (len(texts), dim) array-like of floats."""
        ...


def takes_options(embedder: Any) -> bool:
    """Whether ``embedder.embed`` accepts ``options=`` (EMBED_TEXT options go only to one that does)."""
    try:
        parameters = inspect.signature(embedder.embed).parameters
    except (TypeError, ValueError):
        return False
    return "options" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def embed_batch(embedder: Any, texts: Sequence[str], options: ProviderOptions | None, model: str) -> Any:
    """``embedder.embed(texts)``, with the EMBED_TEXT options (resolved for stored or query text) when there are any."""
    if not options:
        return embedder.embed(texts)
    if not takes_options(embedder):
        raise UnsupportedOptionsError(
            f"the embedder serving {model!r} ({type(embedder).__name__}) takes no EMBED_TEXT options, but the "
            f"column asks for {sorted(options)}: give its embed() an `options` parameter, or remove the options"
        )
    return embedder.embed(texts, options=dict(options))


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
    if matrix.shape[1] > MAX_VECTOR_DIMENSIONS:
        raise EmbeddingFailedError(
            f"embedder for {model!r} returned {matrix.shape[1]}-dimensional vectors: a TiDB vector has at most "
            f"{MAX_VECTOR_DIMENSIONS} dimensions"
        )
    if dim is not None and matrix.shape[1] != dim:
        raise EmbeddingFailedError(
            f"embedder for {model!r} returned {matrix.shape[1]}-dimensional vectors, but the column is VECTOR({dim})"
        )
    if not np.isfinite(matrix).all():
        raise EmbeddingFailedError(f"embedder for {model!r} returned NaN or infinite values: refusing to store them")
    return matrix
