"""The embedded engine: ``create_engine("sqlite+tidb_embed:///file.db")``."""

from .base import EmbeddedDialect

__all__ = ["EmbeddedDialect"]
