"""Alembic environment of the demo schema (the TiDB page's ``sample`` table).

``tidb-embed-orm demo --url`` runs it on a uniquely named table with its own version table
(``config.attributes``), so that a user's ``sample`` table and ``alembic_version`` stay untouched.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlalchemy.engine import Engine

import tidb_embed_orm.alembic  # noqa: F401  (renders and compares auto-embedding columns)
from tidb_embed_orm.demo.models import VERSION_TABLE_ATTRIBUTE, Base

config = context.config
target_metadata = Base.metadata
version_table = config.attributes.get(VERSION_TABLE_ATTRIBUTE, "alembic_version")


def database_url() -> str | None:
    """``alembic -x url=mysql+pymysql://... upgrade head --sql`` overrides alembic.ini's URL."""
    return context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, version_table=version_table,
                      literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    settings = config.get_section(config.config_ini_section, {})
    settings["sqlalchemy.url"] = database_url() or ""
    connectable = config.attributes.get("connection") or engine_from_config(
        settings, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    if isinstance(connectable, Engine):
        with connectable.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, version_table=version_table)
            with context.begin_transaction():
                context.run_migrations()
    else:
        context.configure(connection=connectable, target_metadata=target_metadata, version_table=version_table)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
