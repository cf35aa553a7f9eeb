"""The embedded engine: ``create_engine("sqlite+tidb_embed:///file.db")``."""

from .dialect import EmbeddedDialect

__all__ = ["EmbeddedDialect"]
