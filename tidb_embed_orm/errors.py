"""Exceptions raised by tidb-embed-orm: each says what went wrong and how to fix it."""

from __future__ import annotations


class TidbEmbedError(Exception):
    """Base class of every error this library raises on its own."""


class UnknownModelError(TidbEmbedError, ValueError):
    """A model name that is malformed or absent from the registry (without an explicit dim)."""


class DimensionError(TidbEmbedError, ValueError):
    """A dimension that contradicts the model, or a vector of the wrong length."""


class VectorValueError(TidbEmbedError, ValueError):
    """A vector value that TiDB would refuse: NaN/Inf, not 1-D, too long, unparsable text."""


class UnknownProviderError(TidbEmbedError, ValueError):
    """A provider name TiDB does not know."""


class InvalidApiKeyError(TidbEmbedError, ValueError):
    """An API key that cannot be a key (empty, whitespace, control characters)."""


class EmbeddingUnavailableError(TidbEmbedError, RuntimeError):
    """No embedder can serve a model here (not installed locally, no key configured)."""


class EmbeddingFailedError(TidbEmbedError, RuntimeError):
    """An embedder failed while a statement needed its vectors; the statement was rolled back."""


class InvalidOptionsError(TidbEmbedError, TypeError, ValueError):
    """EMBED_TEXT options that are not a JSON object TiDB can store and read back."""


class SourceColumnError(TidbEmbedError, ValueError):
    """An auto-embedding column whose ``source`` names no column of its table."""


class TableRebuildError(TidbEmbedError, RuntimeError):
    """A rebuild failed or was refused; the message says what state the table is in and what to do."""


class EmbedOptionsError(TidbEmbedError, ValueError):
    """EMBED_TEXT options written in SQL that are not a JSON object (TiDB's error message)."""
