"""Let MariaDB run the DDL our TiDB code sends, to test migrations over a real MySQL-protocol server.

MariaDB has no VECTOR type, no EMBED_TEXT and no TiFlash. ``tidb_standin(engine)`` rewrites
just those words in each statement before it is sent: ``VECTOR(N)`` becomes ``LONGTEXT``, the
generated column's ``EMBED_TEXT('model', `col`)`` becomes ``CONCAT('model', ':', `col`)`` (a
stored generated column MariaDB computes per row, different per model, nothing semantic), and
TiFlash/vector-index statements become no-ops. Everything else (locks, renames, foreign keys,
transactions) is MariaDB's own behaviour.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_STRING = r"'(?:[^'\\]|\\.|'')*'"
_EMBED_TEXT = re.compile(rf"EMBED_TEXT\(({_STRING}), (`(?:[^`]|``)+`)(?:, {_STRING})?\)")
_NO_OPS = re.compile(r"^\s*(ALTER TABLE \S+ SET TIFLASH REPLICA|CREATE VECTOR INDEX)", re.IGNORECASE)


def standin_sql(statement: str) -> str:
    if _NO_OPS.match(statement):
        return "DO 0"
    statement = re.sub(r"\bVECTOR\(\d+\)", "LONGTEXT", statement)
    return _EMBED_TEXT.sub(r"CONCAT(\1, ':', \2)", statement)


def tidb_standin(engine: Engine) -> Engine:
    """Rewrite ``engine``'s statements for MariaDB as described above; returns the engine."""

    @event.listens_for(engine, "before_cursor_execute", retval=True)
    def _rewrite(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> Any:
        if "information_schema.tiflash_replica" in statement:
            return "SELECT 0 FROM DUAL WHERE 1 = 0", ()
        return standin_sql(statement), parameters

    return engine
