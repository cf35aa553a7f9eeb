"""Provider keys written into SQL never reach SQLAlchemy's log (echo, logging).

A user pasting ``SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '...'`` into
``exec_driver_sql`` or ``text()`` would otherwise see the key echoed, on any engine.
"""

from __future__ import annotations

import logging
import re
import threading

_KEY_IN_SQL = re.compile(
    r"""(TIDB_EXP_EMBED_\w+_API_KEY\s*:?=\s*)('(?:[^']|'')*'|"(?:[^"]|"")*")""",
    re.IGNORECASE,
)
_KEY_VARIABLE = re.compile(r"TIDB_EXP_EMBED_\w+_API_KEY", re.IGNORECASE)


class MaskProviderKeys(logging.Filter):
    """Masks provider keys in SQLAlchemy's log records: written into a SET, or bound to one.

    SQLAlchemy logs a statement and then its parameters as two records; after a key SET, the
    parameters record of the same thread is masked whole.
    """

    def __init__(self) -> None:
        super().__init__()
        self._after_key_set = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if getattr(self._after_key_set, "value", False) and message == "[%s] %r" and record.args:
            record.msg, record.args = "[%s] %s", (record.args[0], "(parameters hidden: a provider key)")  # type: ignore[index]
        self._after_key_set.value = bool(_KEY_VARIABLE.search(message))
        if _KEY_IN_SQL.search(message):
            record.msg = _KEY_IN_SQL.sub(r"\1'***'", message)
        return True


def install_log_mask() -> None:
    """Attach the mask to SQLAlchemy's engine logger (idempotent)."""
    logger = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, MaskProviderKeys) for f in logger.filters):
        logger.addFilter(MaskProviderKeys())
