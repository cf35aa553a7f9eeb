"""Client-side embedding: where vectors come from when the database does not call a provider itself."""

from .base import Embedder, as_matrix
from .cache import EmbeddingService
from .deterministic import HashingTestEmbedder
from .registry import register_embedder, register_local_model, resolve_embedder, unregister_embedder

__all__ = [
    "Embedder",
    "EmbeddingService",
    "HashingTestEmbedder",
    "as_matrix",
    "register_embedder",
    "register_local_model",
    "resolve_embedder",
    "unregister_embedder",
]
