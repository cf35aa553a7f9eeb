"""A TiDB function run on plain ``sqlite://`` says which URL runs it.

``sqlite:///app.db`` is SQLite's own dialect: it has no ``EMBED_TEXT``, ``VEC_*`` or
``FTS_MATCH_WORD``, and SQLite's answer is a bare "no such function: EMBED_TEXT". Only the embedded
engine (``sqlite+tidb_embed:///app.db``, the same file) provides them. One ``handle_error`` listener on
the Engine class turns exactly that error, on a SQLite dialect that is not the embedded engine, into
:class:`~tidb_embed_orm.exc.EmbeddedEngineRequiredError` naming the URL to use. No SQL changes: plain
SQLite compiles what it compiled before; only this one failure reads differently.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from .exc import EmbeddedEngineRequiredError

_TIDB_FUNCTION = re.compile(r"no such function: (EMBED_TEXT|VEC_\w+|FTS_MATCH_WORD)\b", re.IGNORECASE)
_INSTALLED = threading.Lock()


def _handle_error(context: Any) -> BaseException | None:
    dialect = context.dialect
    if dialect.name != "sqlite" or getattr(dialect, "tidb_embed_mode", None) is not None:
        return None
    match = _TIDB_FUNCTION.search(str(context.original_exception))
    if match is None:
        return None
    url = context.engine.url if context.engine is not None else None
    fixed = (url.set(drivername="sqlite+tidb_embed").render_as_string(hide_password=True) if url is not None
             else "sqlite+tidb_embed:///path/to.db")
    return EmbeddedEngineRequiredError(
        f"{match.group(1).upper()} is a TiDB function, which plain SQLite ({dialect.driver}) does not have: "
        f"create the engine with {fixed} (the embedded engine, same file) instead"
    )


def install_plain_sqlite_hint() -> None:
    """Install the listener (idempotent; called once by the package's ``__init__``)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _INSTALLED:
        if not event.contains(Engine, "handle_error", _handle_error):
            event.listen(Engine, "handle_error", _handle_error)
