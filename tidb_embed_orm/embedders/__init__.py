"""Client-side embedding: where vectors come from when the database does not call a provider itself."""

from .base import Embedder, as_matrix
from .cache import EmbeddingService
from .cohere import CohereEmbedder
from .deterministic import HashingTestEmbedder
from .gemini import GeminiEmbedder
from .jina import JinaEmbedder
from .nvidia_nim import NvidiaNIMEmbedder
from .openai import OpenAIEmbedder
from .provider_http import ProviderEmbedder
from .registry import register_embedder, register_local_model, resolve_embedder, unregister_embedder

__all__ = [
    "CohereEmbedder",
    "Embedder",
    "EmbeddingService",
    "GeminiEmbedder",
    "JinaEmbedder",
    "NvidiaNIMEmbedder",
    "OpenAIEmbedder",
    "ProviderEmbedder",
    "HashingTestEmbedder",
    "as_matrix",
    "register_embedder",
    "register_local_model",
    "resolve_embedder",
    "unregister_embedder",
]
