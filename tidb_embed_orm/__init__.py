"""TiDB Auto Embedding as a first-class part of SQLAlchemy 2.x."""

from __future__ import annotations

from . import reflection as _reflection  # noqa: F401  (registers VECTOR reflection)
from .auto_embedding import AutoEmbeddingVector
from .client_filled import ClientFilledTableError
from .client_mode import ClientEmbeddingError, ClientFilledColumnError, use_client_embedding
from .codec import decode_text, encode_text
from .embedders import (
    Embedder,
    HashingTestEmbedder,
    register_embedder,
    register_local_model,
    unregister_embedder,
)
from .embedders.base import UnsupportedOptionsError
from .embedders.cache import ProgressCallback
from .embedders.huggingface_api import HuggingFaceAuthError, HuggingFaceInferenceEmbedder
from .errors import (
    DimensionError,
    EmbeddingFailedError,
    EmbeddingUnavailableError,
    InvalidApiKeyError,
    InvalidOptionsError,
    SourceColumnError,
    TableRebuildError,
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
from .key_log_mask import install_key_protection as _install_key_protection
from .models import EmbeddingModel, get_model, list_models, register_model
from .nearest import nearest
from .orm import auto_embedding_column
from .providers import ProviderKeyError, configure_provider
from .secrets import ApiKey
from .vector import TextQueryNotSupported, Vector

# Keys pasted into SQL never reach a log or an exception, on any engine (key_log_mask.py): one
# logging filter and two Engine-class event listeners; no SQL changes.
_install_key_protection()

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
    "ClientEmbeddingError",
    "ClientFilledColumnError",
    "ClientFilledTableError",
    "DimensionError",
    "Embedder",
    "EmbeddingFailedError",
    "EmbeddingModel",
    "EmbeddingUnavailableError",
    "HashingTestEmbedder",
    "UnsupportedOptionsError",
    "HuggingFaceAuthError",
    "HuggingFaceInferenceEmbedder",
    "InvalidApiKeyError",
    "InvalidOptionsError",
    "ProgressCallback",
    "ProviderKeyError",
    "SetTiFlashReplica",
    "SourceColumnError",
    "TableRebuildError",
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
    "register_embedder",
    "register_local_model",
    "register_model",
    "set_tiflash_replica",
    "unregister_embedder",
    "use_client_embedding",
]
