"""Alembic support. Add one line to env.py: ``import tidb_embed_orm.alembic``.

It registers the operations (``op.add_auto_embedding_column``, ``op.alter_auto_embedding``,
``op.drop_auto_embedding_column``, ``op.create_vector_index``, ``op.drop_vector_index``,
``op.create_fulltext_index``, ``op.drop_fulltext_index``), the
autogenerate comparison of auto-embedding columns and vector indexes, and their rendering.
"""

from . import compare as _compare  # noqa: F401  (autogenerate comparators)
from . import patches
from . import render as _render  # noqa: F401  (autogenerate renderers)
from .fulltext import CreateFulltextIndexOp, DropFulltextIndexOp
from .operations import (
    AddAutoEmbeddingColumnOp,
    AlterAutoEmbeddingOp,
    CreateVectorIndexOp,
    DropAutoEmbeddingColumnOp,
    DropVectorIndexOp,
)
from .rebuild import TableRebuildError

patches.install()  # every patch of Alembic's internals: patches.py says which and why

__all__ = [
    "AddAutoEmbeddingColumnOp",
    "AlterAutoEmbeddingOp",
    "CreateFulltextIndexOp",
    "CreateVectorIndexOp",
    "DropAutoEmbeddingColumnOp",
    "DropFulltextIndexOp",
    "DropVectorIndexOp",
    "TableRebuildError",
]
