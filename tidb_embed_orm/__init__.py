"""TiDB Auto Embedding as a first-class part of SQLAlchemy 2.x."""

from __future__ import annotations

from . import reflection as _reflection  # noqa: F401  (registers VECTOR reflection)
from .auto_embedding import AutoEmbeddingVector
from .client_mode import use_client_embedding
from .codec import decode_text, encode_text
from .dialects import sqlite as _sqlite  # noqa: F401  (embedded-engine compile rules)
from .errors import (
    DimensionError,
    EmbeddingFailedError,
    EmbeddingUnavailableError,
    InvalidApiKeyError,
    InvalidOptionsError,
    SourceColumnError,
    TidbEmbedError,
    UnknownModelError,
    UnknownProviderError,
    VectorValueError,
)
from .fulltext import (
    MULTILINGUAL,
    NGRAM,
    STANDARD,
    FulltextError,
    FulltextIndex,
    SearchableText,
    fts_match,
    fulltext_search,
)
from .hybrid import RRF, Weighted, hybrid_search
from .index import SetTiFlashReplica, VectorIndex, set_tiflash_replica
from .models import EmbeddingModel, get_model, list_models, register_model
from .nearest import nearest
from .orm import auto_embedding_column
from .providers import configure_provider
from .secrets import ApiKey
from .vector import TextQueryNotSupported, Vector

__all__ = [
    "MULTILINGUAL",
    "NGRAM",
    "RRF",
    "STANDARD",
    "FulltextError",
    "FulltextIndex",
    "SearchableText",
    "Weighted",
    "fts_match",
    "fulltext_search",
    "hybrid_search",
    "ApiKey",
    "AutoEmbeddingVector",
    "DimensionError",
    "EmbeddingFailedError",
    "EmbeddingModel",
    "EmbeddingUnavailableError",
    "InvalidApiKeyError",
    "InvalidOptionsError",
    "SetTiFlashReplica",
    "SourceColumnError",
    "TextQueryNotSupported",
    "TidbEmbedError",
    "UnknownModelError",
    "UnknownProviderError",
    "Vector",
    "VectorIndex",
    "VectorValueError",
    "auto_embedding_column",
    "configure_provider",
    "decode_text",
    "encode_text",
    "get_model",
    "list_models",
    "nearest",
    "register_model",
    "set_tiflash_replica",
    "use_client_embedding",
]
