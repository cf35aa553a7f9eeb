"""TiDB SQL written by hand, on the embedded engine: what SQLite cannot run as TiDB means it.

Every statement reaches SQLite through ``TidbCursor`` (``embedded/connection.py``), whatever
the path (the ORM, ``text()``, ``exec_driver_sql``, a raw DBAPI cursor, ``executescript``).
A cheap test lets ordinary SQL through untouched; TiDB-only SQL is read here:

- ``SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY = '...'`` stores the key for the engine, as
  ``configure_provider`` does; nothing reaches SQLite (``key_log_mask.py`` keeps it out of logs);
- ``VEC_EMBED_*(col, 'text')``: the column's model from the schema (``vec_embed_sql.py``);
- VECTOR columns, ``CAST(... AS VECTOR)``, vector comparisons and arithmetic (``vector_sql.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from ..models import PROVIDER_KEY_VARIABLES
from ..secrets import ApiKey
from ..sql_text import Token, significant, string_value, tokenize
from .tidb_vector import STORE_FUNCTION
from .vec_embed_sql import rewrite_vec_embed
from .vector_sql import (
    CAST_VECTOR,
    SET_OPERATOR,
    VEC_FROM_TEXT,
    VECTOR_DDL,
    VECTOR_LITERAL_ARITHMETIC,
    VECTOR_LITERAL_COMPARED,
    VECTOR_LITERAL_SET,
    UnsupportedStatementError,
    create_vector_triggers,
    refuse_vector_arithmetic,
    refuse_vector_sums,
    rewrite_casts,
    rewrite_vector_comparisons,
    rewrite_vector_sets,
    vector_columns,
)

_VEC_EMBED = re.compile(r"VEC_EMBED_\w+", re.IGNORECASE)
_SET = re.compile(r"^\s*SET\b", re.IGNORECASE)
_KEY_VARIABLES = {variable: provider for provider, variable in PROVIDER_KEY_VARIABLES.items() if variable}

KeySink = Callable[[str, ApiKey], None]


# One scan of each statement; the precise tests follow only where something TiDB-only may be.
_MAYBE_TIDB = re.compile(
    r"VEC_EMBED_|VEC_FROM_TEXT|VECTOR|^\s*SET\b|'\s*\[",
    re.IGNORECASE,
)


def needs_rewrite(sql: str) -> bool:
    """A cheap test run on every statement: only TiDB-only SQL pays for tokenizing."""
    if not _MAYBE_TIDB.search(sql):
        return False
    return bool(
        _VEC_EMBED.search(sql)
        or _SET.match(sql)
        or VECTOR_DDL.match(sql)
        or CAST_VECTOR.search(sql)
        or VEC_FROM_TEXT.search(sql)
        or VECTOR_LITERAL_COMPARED.search(sql)
        or VECTOR_LITERAL_ARITHMETIC.search(sql)
        or VECTOR_LITERAL_SET.search(sql)
    )


def set_provider_key(sql: str, parameters: Sequence[Any] | None, store: KeySink) -> bool:
    """Handle ``SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY = <value>``; False if ``sql`` is not a SET.

    Any other SET is TiDB state the embedded engine does not keep: a clear error, not SQLite's
    syntax error.
    """
    tokens = significant(tokenize(sql))
    while tokens and tokens[-1].is_punct(";"):
        tokens.pop()
    if not tokens or not tokens[0].is_word("SET"):
        return False
    if len(tokens) >= 2 and tokens[1].is_word("GLOBAL", "SESSION"):  # SET GLOBAL name = value
        tokens = [tokens[0], Token("variable", f"@@{tokens[1].text}.{tokens[2].text}", 0), *tokens[3:]]
    variable = tokens[1].text.lstrip("@") if len(tokens) > 1 and tokens[1].kind == "variable" else ""
    scope, _, name = variable.rpartition(".")
    provider = _KEY_VARIABLES.get(name.upper())
    if provider is None or scope.upper() not in ("GLOBAL", ""):
        raise UnsupportedStatementError(
            f"the embedded engine keeps only provider keys (SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY "
            f"= '...'), not {variable or 'this SET'}"
        )
    rest = tokens[2:]
    if len(rest) == 3 and rest[0].is_punct(":") and rest[1].is_punct("="):  # :=
        rest = rest[1:]
    if len(rest) != 2 or not rest[0].is_punct("="):
        raise UnsupportedStatementError(f"SET @@GLOBAL.{name.upper()} takes one string value: SET ... = '<API_KEY>'")
    value = rest[1]
    if value.kind in ("string", "dquoted"):
        key = string_value(value)
    elif value.kind == "param" and parameters:
        key = parameters[value.text[1:]] if isinstance(parameters, dict) else parameters[0]
    else:
        raise UnsupportedStatementError(f"SET @@GLOBAL.{name.upper()} takes one string value: SET ... = '<API_KEY>'")
    store(provider, ApiKey(key))
    return True


_STRINGS = re.compile(r"'(?:[^']|'')*'")
_NUMERIC_USE = re.compile(r"[-+*/%]|\b(?:SUM|AVG|TOTAL)\s*\(", re.IGNORECASE)


def check_vector_columns(sql: str, connection: Any, vector_names: Callable[[], re.Pattern[str] | None]) -> None:
    """Arithmetic or SUM/AVG on a VECTOR column is refused (SQLite would silently give 0).

    Run on statements that needs_rewrite() let through: the cheap tests first (an operator outside
    string literals, then a VECTOR column's name as a word), the tokenizer only when both hold.
    """
    bare = _STRINGS.sub("''", sql)
    if not _NUMERIC_USE.search(bare):
        return
    names = vector_names()
    if names is None or not names.search(bare):
        return
    refuse_vector_arithmetic(sql, connection)
    refuse_vector_sums(sql, connection)


def prepare(sql: str, connection: Any) -> str:
    """``sql`` as SQLite must run it to mean what it means on TiDB (see the module docstring)."""
    if VECTOR_DDL.match(sql):
        vector_columns(sql)  # VECTOR(16384) is refused before anything is created
    if "VEC_EMBED_" in sql.upper():
        sql = rewrite_vec_embed(sql, connection)
    if VECTOR_LITERAL_ARITHMETIC.search(sql):
        refuse_vector_arithmetic(sql, connection)
    elif CAST_VECTOR.search(sql) or VEC_FROM_TEXT.search(sql):
        refuse_vector_arithmetic(sql)
    if CAST_VECTOR.search(sql) or VEC_FROM_TEXT.search(sql):
        sql = rewrite_casts(sql)
    if VEC_FROM_TEXT.search(sql) or STORE_FUNCTION in sql or VECTOR_LITERAL_COMPARED.search(sql):
        sql = rewrite_vector_comparisons(sql, connection)
    vector_call = VEC_FROM_TEXT.search(sql) or STORE_FUNCTION in sql
    if VECTOR_LITERAL_SET.search(sql) or (vector_call and SET_OPERATOR.search(sql)):  # after comparisons: see below
        sql = rewrite_vector_sets(sql, connection)  # its output must not be read as comparisons again
    return sql


def after(sql: str, connection: Any) -> None:
    """After a statement ran: a new table with VECTOR columns gets its write checks."""
    if VECTOR_DDL.match(sql):
        create_vector_triggers(connection, sql)


__all__ = [
    "UnsupportedStatementError", "after", "check_vector_columns", "needs_rewrite", "prepare", "set_provider_key",
]
