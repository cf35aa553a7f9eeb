"""create the seed's sample table with an all-MiniLM-L6-v2 auto-embedding column

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tidb_embed_orm
from tidb_embed_orm.demo.models import demo_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        demo_table(),  # "sample"
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column(
            "embedding",
            tidb_embed_orm.AutoEmbeddingVector("huggingface/sentence-transformers/all-MiniLM-L6-v2", source="content"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table(demo_table())
