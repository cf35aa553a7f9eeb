"""TiDB Auto Embedding as a first-class part of SQLAlchemy 2.x."""

from __future__ import annotations

__version__ = "0.1.0"  # the package version: pyproject.toml reads it from here

from sqlalchemy.dialects import registry as _dialect_registry

from .catalog import EmbeddingModel, get_model, list_models, register_model
from .client.marks import ClientFilledTableError
from .client.mode import ClientEmbeddingError, ClientFilledColumnError, use_client_embedding
from .codec import decode_text, encode_text
from .dialects import tidb as _tidb
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
from .exc import (
    DimensionError,
    EmbeddedEngineRequiredError,
    EmbeddingFailedError,
    EmbeddingUnavailableError,
    InvalidApiKeyError,
    InvalidOptionsError,
    RerankAuthError,
    RerankError,
    SourceColumnError,
    TableRebuildError,
    TidbEmbedError,
    UnknownModelError,
    UnknownProviderError,
    VectorValueError,
)
from .ext.orm import auto_embedding_column
from .key_log_mask import install_key_protection as _install_key_protection
from .options import EmbedOptions, ProviderOptions
from .plain_sqlite import install_plain_sqlite_hint as _install_plain_sqlite_hint
from .providers import ProviderKeyError, configure_provider
from .results import records, to_dataframe
from .secrets import ApiKey
from .sql.auto_embedding import AutoEmbeddingVector
from .sql.fulltext import (
    MULTILINGUAL,
    NGRAM,
    STANDARD,
    FulltextError,
    FulltextIndex,
    SearchableText,
    fts_match,
    fulltext_search,
)
from .sql.hybrid import RRF, Weighted, hybrid_search
from .sql.nearest import nearest
from .sql.reflection import with_auto_embedding  # also registers VECTOR reflection
from .sql.vector import TextQueryNotSupported, Vector
from .sql.vector_index import SetTiFlashReplica, VectorIndex, set_tiflash_replica, wait_for_vector_indexes

# TiDB's compile rules and DDL listeners, registered in one place (dialects/tidb/__init__.py): they
# act only on the library's own indexes, tables and markers, on SQLAlchemy's mysql dialect.
_tidb.setup()

# sqlite+tidb_embed:// by name, as the package's entry point also declares it: create_engine() then
# skips SQLAlchemy's scan of every installed package's entry points (~25 ms on the first engine).
# Registering a name imports nothing and changes no other dialect.
_dialect_registry.register("sqlite.tidb_embed", "tidb_embed_orm.dialects.embedded.base", "EmbeddedDialect")

# Keys pasted into SQL never reach a log or an exception, on any engine (key_log_mask.py): one
# logging filter and two Engine-class event listeners; no SQL changes.
_install_key_protection()

# EMBED_TEXT & co. on plain sqlite:// fail with a line naming sqlite+tidb_embed:// (plain_sqlite.py):
# one Engine-class handle_error listener; no SQL changes.
_install_plain_sqlite_hint()

__all__ = [
    "wait_for_vector_indexes",
    "__version__",
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
    "EmbeddedEngineRequiredError",
    "RerankAuthError",
    "RerankError",
    "Embedder",
    "EmbeddingFailedError",
    "EmbedOptions",
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
    "ProviderOptions",
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
    "records",
    "register_embedder",
    "register_local_model",
    "register_model",
    "set_tiflash_replica",
    "to_dataframe",
    "unregister_embedder",
    "use_client_embedding",
    "with_auto_embedding",
]
