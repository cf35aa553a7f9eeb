"""ORM conveniences: auto-embedding columns that cost nothing until you read them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import MappedColumn, mapped_column

from ..sql.auto_embedding import AutoEmbeddingVector


def auto_embedding_column(
    model: str,
    source: str,
    *,
    dim: int | None = None,
    options: Mapping[str, Any] | None = None,
    deferred: bool = True,
    **kwargs: Any,
) -> MappedColumn[Any]:
    """``mapped_column(AutoEmbeddingVector(...))``, deferred by default.

    A 1024-dimension vector is ~11 KB of text on the wire; a top-10 search that shows titles should
    not pay for ten of them. Load it when needed with ``.options(undefer(Doc.embedding))`` or by
    touching the attribute; pass ``deferred=False`` to always load it.
    """
    return mapped_column(AutoEmbeddingVector(model, source, dim=dim, options=options), deferred=deferred, **kwargs)
