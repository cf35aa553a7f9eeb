"""TiDB SQL written by hand, on the embedded engine: what SQLite cannot run as TiDB means it.

Every statement reaches SQLite through ``TidbCursor`` (``embedded/pysqlite.py``), whatever
the path (the ORM, ``text()``, ``exec_driver_sql``, a raw DBAPI cursor, ``executescript``).
It is read once into a ``sql.scanner.Statement`` (tokens, leading keyword after comments and
``WITH``, the table a DDL statement names); every pass here reads that object. Plain SQL (none
of the words that matter, tested on the upper-cased text) is never tokenized. TiDB-only SQL:

- ``SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY = '...'`` stores the key for the engine, as
  ``configure_provider`` does; nothing reaches SQLite (``key_log_mask.py`` keeps it out of logs);
- ``VEC_EMBED_*(col, 'text')``: the column's model from the schema (``vec_embed.py``);
- VECTOR columns (``columns.py``), ``CAST(... AS VECTOR)`` (``casts.py``), vector comparisons and
  arithmetic (``operators.py``).

DDL side effects (the VECTOR write checks) are not derived from the statement: after any DDL the
cursor reconciles them from the schema (``triggers.reconcile_vector_triggers``).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ....catalog import PROVIDER_KEY_VARIABLES
from ....codec import check_sql_dims
from ....exc import UnsupportedStatementError
from ....secrets import ApiKey
from ....sql.scanner import Token, significant, string_value, tokenize
from ....sql.statement import Statement, read_statement
from .casts import rewrite_casts
from .columns import check_embed_text_dims
from .operators import (
    SET_OPERATOR,
    refuse_vector_arithmetic,
    refuse_vector_sums,
    rewrite_vector_comparisons,
    rewrite_vector_sets,
)
from .triggers import reconcile_vector_triggers
from .values import STORE_FUNCTION
from .vec_embed import rewrite_vec_embed

_KEY_VARIABLES = {variable: provider for provider, variable in PROVIDER_KEY_VARIABLES.items() if variable}
#: TiDB's one endpoint variable (pkg/sessionctx/variable: TiDBExpEmbedOpenAIAPIBase).
_BASE_VARIABLES = {"TIDB_EXP_EMBED_OPENAI_API_BASE": "openai"}

#: Called with (provider, ApiKey) for a key, or (provider, str) for an API base URL.
KeySink = Callable[[str, "ApiKey | str"], None]


def needs_rewrite(statement: Statement) -> bool:
    """Does SQLite need this statement rewritten (or refused) to mean what it means on TiDB?

    Read from the statement's tokens (comments, case and ``WITH`` cannot hide a SET or a VECTOR
    DDL); plain statements were never tokenized and answer at once.
    """
    return not statement.plain and bool(statement.fact("needs_rewrite", _needs_rewrite))


def _needs_rewrite(statement: Statement) -> bool:
    return bool(
        statement.keyword == "SET"
        or statement.has_word_prefix("VEC_EMBED_")
        or creates_vector_table(statement)
        or vector_syntax(statement.words)
    )


def creates_vector_table(statement: Statement) -> bool:
    """CREATE TABLE or ALTER TABLE (ADD COLUMN) with a VECTOR column."""
    return statement.keyword in ("CREATE", "ALTER") and statement.ddl_object == "TABLE" and statement.has_word("VECTOR")


def _check_vector_sizes(words: Sequence[Token]) -> None:
    """Every ``VECTOR(n)`` of a DDL statement is one TiDB accepts (``VECTOR(16384)`` is refused)."""
    for index, token in enumerate(words[:-2]):
        if token.is_word("VECTOR") and words[index + 1].is_punct("(") and words[index + 2].kind == "number":
            check_sql_dims(int(float(words[index + 2].text)))


_OPERATORS = frozenset("<>=!+-*/%")
_COMPARISON = frozenset("<>=!")


def _is_vector_text(token: Token) -> bool:
    return token.kind == "string" and token.text[1:].lstrip().startswith("[")


def vector_syntax(words: Sequence[Token]) -> set[str]:
    """What TiDB vector syntax the statement's tokens hold: ``cast`` (CAST(x AS VECTOR), CONVERT(x, VECTOR)),
    ``from_text`` (VEC_FROM_TEXT(...)), ``compared`` / ``arithmetic`` (a vector text next to such an
    operator), ``set`` (a vector text in an IN list or a BETWEEN)."""
    found: set[str] = set()
    between = False
    for index, token in enumerate(words):
        before = words[index - 1] if index else None
        after = words[index + 1] if index + 1 < len(words) else None
        if token.kind == "word":
            if token.upper == "VECTOR" and before is not None and (before.is_word("AS") or before.is_punct(",")):
                found.add("cast")
            elif token.upper == "VEC_FROM_TEXT" and after is not None and after.is_punct("("):
                found.add("from_text")
            elif token.upper == "BETWEEN":
                between = True
            continue
        if not _is_vector_text(token):
            continue
        for neighbour in (before, after):
            if neighbour is not None and neighbour.kind == "punct" and neighbour.text in _OPERATORS:
                found.add("compared" if neighbour.text in _COMPARISON else "arithmetic")
        if before is not None and (
            before.is_word("BETWEEN") or (between and before.is_word("AND"))
            or (before.is_punct("(") and index >= 2 and words[index - 2].is_word("IN"))
        ):
            found.add("set")
    return found


def set_provider_key(
    statement: Statement, parameters: Sequence[Any] | Mapping[str, Any] | None, store: KeySink
) -> bool:
    """Handle ``SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY = <value>``; False if ``sql`` is not a SET.

    Any other SET is TiDB state the embedded engine does not keep: a clear error, not SQLite's
    syntax error.
    """
    if statement.keyword != "SET":
        return False
    tokens = list(statement.words)
    while tokens and tokens[-1].is_punct(";"):
        tokens.pop()
    if not tokens or not tokens[0].is_word("SET"):
        return False
    if len(tokens) >= 2 and tokens[1].is_word("GLOBAL", "SESSION"):  # SET GLOBAL name = value
        tokens = [tokens[0], Token("variable", f"@@{tokens[1].text}.{tokens[2].text}", 0), *tokens[3:]]
    variable = tokens[1].text.lstrip("@") if len(tokens) > 1 and tokens[1].kind == "variable" else ""
    scope, _, name = variable.rpartition(".")
    provider = _KEY_VARIABLES.get(name.upper()) or _BASE_VARIABLES.get(name.upper())
    if provider is None or scope.upper() not in ("GLOBAL", ""):
        raise UnsupportedStatementError(
            f"the embedded engine keeps only provider keys (SET @@GLOBAL.TIDB_EXP_EMBED_<PROVIDER>_API_KEY "
            f"= '...') and TIDB_EXP_EMBED_OPENAI_API_BASE, not {variable or 'this SET'}"
        )
    rest = tokens[2:]
    if len(rest) == 3 and rest[0].is_punct(":") and rest[1].is_punct("="):  # :=
        rest = rest[1:]
    if len(rest) != 2 or not rest[0].is_punct("="):
        raise UnsupportedStatementError(f"SET @@GLOBAL.{name.upper()} takes one string value: SET ... = '<API_KEY>'")
    value = rest[1]
    closed = len(value.text) >= 2 and value.text.endswith(value.text[0])
    if value.kind in ("string", "dquoted") and not closed:  # TiDB: a syntax error, never a key cut short
        raise UnsupportedStatementError(f"SET @@GLOBAL.{name.upper()}: the key's string literal is not closed")
    if value.kind in ("string", "dquoted"):
        key = string_value(value)
    elif value.kind == "param" and parameters:
        key = parameters[value.text[1:]] if isinstance(parameters, Mapping) else parameters[0]
    else:
        raise UnsupportedStatementError(f"SET @@GLOBAL.{name.upper()} takes one string value: SET ... = '<API_KEY>'")
    store(provider, key if name.upper() in _BASE_VARIABLES else ApiKey(key))
    return True


_STRINGS = re.compile(r"'(?:[^']|'')*'")
_NUMERIC_USE = re.compile(r"[-+*/%]|\b(?:SUM|AVG|TOTAL)\b", re.IGNORECASE)  # no "(": a comment may come first


#: Per DBAPI connection: its schema versions, and the statement texts that passed the VECTOR-column
#: check under them. The ORM sends the same long statements again and again (a hybrid search is 1.5 kB):
#: each is read once per schema, not once per execution.
_CHECKED: weakref.WeakKeyDictionary[Any, tuple[Any, set[str]]] = weakref.WeakKeyDictionary()
#: Statement texts remembered per connection before the memo starts afresh.
_CHECKED_TEXTS = 512


def _numeric_text(statement: Statement) -> str | None:
    """The statement without its string literals, if it uses an arithmetic operator or SUM/AVG; else None."""
    bare = _STRINGS.sub("''", statement.sql)
    return bare if _NUMERIC_USE.search(bare) else None


def check_vector_columns(
    sql: str, connection: Any, vector_names: Callable[[], tuple[Any, re.Pattern[str] | None]]
) -> None:
    """Arithmetic or SUM/AVG on a VECTOR column is refused (SQLite would silently give 0).

    Run on statements that needs_rewrite() let through: the cheap tests first (an operator outside
    string literals, then a VECTOR column's name as a word), the token walk only when both hold,
    and only once per statement text and schema version on each connection: the tokens come from
    the statement cache (``sql/statement.py``), never from tokenizing the text again.
    ``vector_names()`` is (the schema versions, a pattern of the VECTOR columns' names) as the
    connection reads them now: one schema read serves both the names and the memo.
    """
    statement = read_statement(sql)
    bare = statement.fact("numeric_text", _numeric_text)
    if bare is None:
        return
    versions, names = vector_names()
    if names is None or not names.search(bare):
        return
    # an empty schema (version 0: "temp" once SQLite opens it) holds no table: it changes no verdict
    versions = tuple(version for version in versions if version[1])
    memo = _CHECKED.get(connection)
    if memo is None or memo[0] != versions or len(memo[1]) >= _CHECKED_TEXTS:
        memo = _CHECKED[connection] = (versions, set())
    if sql in memo[1]:
        return
    refuse_vector_arithmetic(sql, connection, statement.words)
    refuse_vector_sums(sql, connection, statement.words)
    memo[1].add(sql)


def prepare(statement: Statement, connection: Any) -> str:
    """The statement as SQLite must run it to mean what it means on TiDB (see the module docstring).

    What the statement holds is read from its tokens once; a pass that rewrote the text is followed
    by tests of the new text only for what that pass itself writes (``STORE_FUNCTION`` calls).
    """
    sql = statement.sql
    if creates_vector_table(statement):
        _check_vector_sizes(statement.words)  # VECTOR(16384) is refused before anything is created
        check_embed_text_dims(statement.words)  # VECTOR(1024) of a 384-d model too (CREATE or ADD COLUMN)
    syntax = vector_syntax(statement.words)
    if statement.has_word_prefix("VEC_EMBED_"):
        sql = rewrite_vec_embed(sql, connection, statement.words)
        syntax |= vector_syntax(significant(tokenize(sql)))
    casts = bool(syntax & {"cast", "from_text"})
    if "arithmetic" in syntax:
        refuse_vector_arithmetic(sql, connection)
    elif casts:
        refuse_vector_arithmetic(sql)
    if casts:
        sql = rewrite_casts(sql)
    stored = STORE_FUNCTION in sql.upper()
    if "from_text" in syntax or stored or "compared" in syntax:
        sql = rewrite_vector_comparisons(sql, connection)
    vector_call = "from_text" in syntax or stored
    if "set" in syntax or (vector_call and SET_OPERATOR.search(sql)):  # after comparisons: see below
        sql = rewrite_vector_sets(sql, connection)  # its output must not be read as comparisons again
    return sql


__all__ = [
    "UnsupportedStatementError", "check_vector_columns", "needs_rewrite", "prepare", "reconcile_vector_triggers",
    "set_provider_key",
]
