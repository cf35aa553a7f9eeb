"""add a second auto-embedding column (all-mpnet-base-v2) to sample, which already holds rows

TiDB refuses ADD COLUMN ... STORED for generated columns, so this rebuilds the table: a copy in the
new shape, INSERT ... SELECT (the database embeds every row with the new model), then a swap.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tidb_embed_orm
from tidb_embed_orm.demo.models import demo_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def sample_before() -> sa.Table:
    """The table as 0001 left it: what offline (--sql) mode needs to write the rebuild."""
    return sa.Table(
        demo_table(),
        sa.MetaData(),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False, primary_key=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column(
            "embedding",
            tidb_embed_orm.AutoEmbeddingVector("huggingface/sentence-transformers/all-MiniLM-L6-v2", source="content"),
            nullable=True,
        ),
    )


def upgrade() -> None:
    op.add_auto_embedding_column(  # type: ignore[attr-defined]  # registered by tidb_embed_orm.alembic
        demo_table(),  # "sample"
        sa.Column(
            "embedding_mpnet",
            tidb_embed_orm.AutoEmbeddingVector("huggingface/sentence-transformers/all-mpnet-base-v2", source="content"),
            nullable=True,
        ),
        copy_from=sample_before() if op.get_context().as_sql else None,
    )


def downgrade() -> None:
    op.drop_auto_embedding_column(demo_table(), "embedding_mpnet")  # type: ignore[attr-defined]
