"""Where a dialect's embeddings are computed: one :class:`EmbeddingMode` object per dialect.

TiDB Cloud Starter embeds in the database (EMBED_TEXT); the embedded engine embeds in this
process but still as the database's EMBED_TEXT; client mode (``use_client_embedding``) embeds in
this process and writes the vectors itself. Everything that depends on that asks the dialect's
``tidb_embed_mode`` (a class attribute of the embedded dialect; set on an engine's dialect by
``use_client_embedding``) through :func:`mode_of`, instead of reading separate flags.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EmbeddingMode:
    #: Provider keys are kept by this process (``configure_provider`` stores them, never SETs them).
    keys_in_client: bool = False
    #: The client fills auto-embedding columns: their DDL is a plain ``VECTOR(N)`` and writes carry vectors.
    fills_columns: bool = False
    #: ``VEC_EMBED_*(col, text)`` as the client computes it (``VEC_*(col, <the text's vector>)``).
    query_distance: Callable[[Any], Any] | None = None


#: TiDB Cloud Starter: EMBED_TEXT and VEC_EMBED_* run in the database (any dialect the library does not own).
IN_DATABASE = EmbeddingMode()
#: The embedded engine: EMBED_TEXT is a SQL function of this process.
IN_PROCESS_DATABASE = EmbeddingMode(keys_in_client=True)


def mode_of(dialect: Any) -> EmbeddingMode:
    """The dialect's embedding mode (``IN_DATABASE`` for dialects the library does not configure)."""
    return getattr(dialect, "tidb_embed_mode", IN_DATABASE)  # type: ignore[no-any-return]
