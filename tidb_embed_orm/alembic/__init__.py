"""Alembic support: ``import tidb_embed_orm.alembic`` in env.py."""
