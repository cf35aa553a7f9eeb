"""Provider keys written into SQL never reach a log line or an exception, on any engine.

A user pasting ``SET @@GLOBAL.TIDB_EXP_EMBED_HUGGINGFACE_API_KEY = '...'`` into
``exec_driver_sql`` or ``text()`` would otherwise see the key echoed by SQLAlchemy's log, or in
the ``[SQL: ...]`` of an error (SQLite refuses the SET; a server may quote the value back).

:func:`install_key_protection` (run once when ``tidb_embed_orm`` is imported) sets up two things,
for every engine of the process, whatever its dialect, without changing any SQL:

- one :class:`MaskProviderKeys` filter on SQLAlchemy's ``sqlalchemy.engine.Engine`` logger, and
  the same filter on an engine's own logger when it has one: an engine created with
  ``logging_name="app"`` logs to ``sqlalchemy.engine.Engine.app``, and a logger's filters do
  not apply to records its children log, so a filter on the parent alone would miss them. The
  engine's logger is found on its first connection (a class-level ``engine_connect`` listener:
  no statement is logged before a connection exists);
- a class-level ``handle_error`` listener masking the error SQLAlchemy raises (its statement,
  its parameters, its message) and every exception in its ``__cause__`` / ``__context__`` chain.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

from .secrets import mask_runs

_KEY_VARIABLE = re.compile(r"TIDB_EXP_EMBED_\w+_API_KEY", re.IGNORECASE)
#: A base URL variable: its value is shown, but not credentials written into it (``https://user:TOKEN@host``).
_BASE_VARIABLE = re.compile(r"TIDB_EXP_EMBED_\w+_API_BASE", re.IGNORECASE)
_USERINFO = re.compile(r"(://)[^/@\s'\"]*@")
#: A SQL string literal ('...' with '' or \' inside, or "..."), or one left open to the end of the text.
_STRING = re.compile(r"""'(?:[^'\\]|''|\\.)*(?:'|$)|"(?:[^"\\]|""|\\.)*(?:"|$)""", re.DOTALL)
#: A value written without quotes after the key variable (MySQL takes ``SET GLOBAL v = word``), or hex.
_BARE_VALUE = re.compile(r"""(TIDB_EXP_EMBED_\w+_API_KEY\s*:?=\s*)(?!%s|%\(|\?|:\w)([^\s;'"]+)""", re.IGNORECASE)
_HIDDEN_PARAMETERS = "(parameters hidden: a provider key)"


def names_a_key(statement: object) -> bool:
    return isinstance(statement, str) and _KEY_VARIABLE.search(statement) is not None


def names_a_base(statement: object) -> bool:
    return isinstance(statement, str) and _BASE_VARIABLE.search(statement) is not None


def mask_statement(statement: str) -> str:
    """A statement naming a provider-key variable, with every string literal in it shown as ``'***'``;
    one naming a base URL variable, with any ``user:password@`` in it shown as ``***@``."""
    if names_a_base(statement):
        statement = _USERINFO.sub(r"\1***@", statement)
    if not names_a_key(statement):
        return statement
    return _BARE_VALUE.sub(r"\1***", _STRING.sub("'***'", statement))


def keys_in(statement: object, parameters: object = None) -> list[str]:
    """The values a statement naming a key variable may hold keys in: its string literals and bound strings."""
    if not names_a_key(statement):
        return []
    assert isinstance(statement, str)
    found = [_unquoted(m.group()) for m in _STRING.finditer(statement)]
    found.extend(m.group(2) for m in _BARE_VALUE.finditer(statement))
    found.extend(_strings(parameters))
    return [value for value in found if value]


def _unquoted(literal: str) -> str:
    body = literal[1:]
    return body[:-1] if len(body) >= 1 and body.endswith(literal[0]) else body


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


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
        # The parameters record: "[%s] %r", maybe behind a logging_token's "[token] " prefix.
        if getattr(self._after_key_set, "value", False) and message.endswith("[%s] %r") and record.args:
            args = tuple(record.args) if isinstance(record.args, tuple) else (record.args,)
            record.msg, record.args = message[:-2] + "%s", (*args[:-1], _HIDDEN_PARAMETERS)
        self._after_key_set.value = names_a_key(message) or names_a_base(message)
        if self._after_key_set.value:
            record.msg = mask_statement(message)
        return True


_FILTER = MaskProviderKeys()
_INSTALLED = threading.Lock()


def _add_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, MaskProviderKeys) for f in logger.filters):
        logger.addFilter(_FILTER)


def _engine_connect(connection: Any) -> None:
    engine_logger = connection.engine.logger
    logger = getattr(engine_logger, "logger", engine_logger)  # an InstanceLogger (echo=...) wraps one
    if isinstance(logger, logging.Logger) and not getattr(logger, "_tidb_embed_masked", False):
        _add_filter(logger)
        logger._tidb_embed_masked = True  # type: ignore[attr-defined]


def mask_exception(exc: BaseException | None, keys: list[str], statement: str | None = None) -> None:
    """Remove ``keys`` from ``exc`` and every exception chained to it (messages, SQL, parameters)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        sql = getattr(current, "statement", None)
        if names_a_key(sql) or names_a_base(sql):
            current.statement = mask_statement(current.statement)  # type: ignore[attr-defined]
            if getattr(current, "params", None):
                current.params = _HIDDEN_PARAMETERS  # type: ignore[attr-defined]
        current.args = tuple(_mask_value(arg, keys) for arg in current.args)
        pending.extend([current.__cause__, current.__context__, getattr(current, "orig", None)])


def _mask_value(value: Any, keys: list[str]) -> Any:
    if not isinstance(value, str):
        return value
    for key in keys:
        value = mask_runs(value, key)
    return value


def _handle_error(context: Any) -> None:
    statement = context.statement
    keys = keys_in(statement, context.parameters)
    if not keys and not names_a_key(statement) and not names_a_base(statement):
        return
    mask_exception(context.sqlalchemy_exception, keys)
    mask_exception(context.original_exception, keys)
    # chained_exception exists only once an earlier handle_error handler returned an exception.
    chained = getattr(context, "chained_exception", None)
    if chained is not None:
        mask_exception(chained, keys)


def install_key_protection() -> None:
    """The log filter and the error masking for every engine (idempotent; see the module docstring)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    with _INSTALLED:
        _add_filter(logging.getLogger("sqlalchemy.engine.Engine"))
        if not event.contains(Engine, "engine_connect", _engine_connect):
            event.listen(Engine, "engine_connect", _engine_connect)
        if not event.contains(Engine, "handle_error", _handle_error):
            event.listen(Engine, "handle_error", _handle_error)

