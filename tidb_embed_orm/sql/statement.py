"""One statement, read once: its tokens, its keyword after comments and a WITH clause, the DDL it is.

The embedded engine's cursor (``dialects/embedded/pysqlite.py``) and every pass over hand-written
SQL read this object instead of testing the text with their own regular expressions or prefixes,
so a leading comment, lower case or a ``WITH`` clause changes nothing. Built on ``scanner.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .scanner import Token, is_name, matching_paren, significant, tokenize, unquote_name

#: Words whose presence (anywhere, any case) means a statement may need reading; a statement
#: holding none of them (nor a vector text ``'[``) is plain SQL and is never tokenized.
_WORTH_READING = ("VEC", "SET", "CREATE", "DROP", "ALTER", "CAST", "CONVERT", "ATTACH", "DETACH")
DDL_WORDS = frozenset({"CREATE", "DROP", "ALTER"})


class Statement:
    """One SQL statement as every pass of the embedded engine reads it (see :func:`read_statement`).

    Tokenized at most once, on first use of anything but ``sql`` / ``plain``. ``keyword`` is its
    leading keyword after comments and a ``WITH`` clause (``"INSERT"`` for ``/* c */ WITH x AS
    (...) insert ...``); ``ddl_object`` the object a CREATE / DROP / ALTER names (``"TABLE"``,
    ``"INDEX"``, ``"TRIGGER"``...), ``table`` (and ``schema``) the table it names where the
    statement says it (CREATE / DROP / ALTER TABLE, CREATE INDEX / TRIGGER ... ON t).
    """

    def __init__(self, sql: str, plain: bool | None = None) -> None:
        self.sql = sql
        #: Holds none of the words any pass looks for (:func:`could_need_reading`): nothing to do.
        self.plain = not could_need_reading(sql) if plain is None else plain
        self._facts: dict[str, Any] = {}

    def fact(self, name: str, compute: Callable[[Statement], Any]) -> Any:
        """``compute(self)``, computed once per statement (a pass's conclusion, shared by every use of it)."""
        try:
            return self._facts[name]
        except KeyError:
            value = self._facts[name] = compute(self)
            return value

    def __repr__(self) -> str:
        return f"Statement({self.sql!r})"

    @functools.cached_property
    def tokens(self) -> tuple[Token, ...]:
        return tuple(tokenize(self.sql))

    @functools.cached_property
    def words(self) -> tuple[Token, ...]:
        """The significant tokens (no whitespace, no comments)."""
        return tuple(significant(list(self.tokens)))

    @functools.cached_property
    def _head(self) -> tuple[str, str, str | None, str | None]:
        words = list(self.words)
        index = _after_with(words, 0) if words and words[0].is_word("WITH") else 0
        keyword = words[index].upper if index < len(words) and words[index].kind == "word" else ""
        if keyword in DDL_WORDS:
            return (keyword, *_ddl_target(words, index + 1))
        return keyword, "", None, None

    @property
    def keyword(self) -> str:
        return self._head[0]

    @property
    def ddl_object(self) -> str:
        return self._head[1]

    @property
    def schema(self) -> str | None:
        return self._head[2]

    @property
    def table(self) -> str | None:
        return self._head[3]

    @property
    def is_ddl(self) -> bool:
        """CREATE / DROP / ALTER (anything else, plain statements included, is not)."""
        return not self.plain and self.keyword in DDL_WORDS

    def has_word(self, *names: str) -> bool:
        return any(t.kind == "word" and t.upper in names for t in self.words)

    def has_word_prefix(self, prefix: str) -> bool:
        return any(t.kind == "word" and t.upper.startswith(prefix) for t in self.words)


def could_need_reading(sql: str) -> bool:
    """The fast path's test: False only for statements no pass has anything to do with."""
    upper = sql.upper()
    return ("'" in sql and "[" in sql) or any(word in upper for word in _WORTH_READING)


def read_statement(sql: str) -> Statement:
    """``sql`` as a :class:`Statement`: tokenized once, when a pass first asks.

    The ORM sends the same few statement strings again and again: each is read once and
    remembered (the cursor's hook and the dialect then share one object, and a plain statement
    costs one cache lookup).
    """
    return _read_cached(sql) if len(sql) <= _CACHED_LENGTH else Statement(sql)


_CACHED_LENGTH = 8192


@functools.lru_cache(maxsize=1024)
def _read_cached(sql: str) -> Statement:
    statement = Statement(sql)
    if not statement.plain:
        statement._head  # noqa: B018  (read now: the cached object is shared by threads)
    return statement


def _after_with(words: list[Token], index: int) -> int:
    """Index of the statement keyword after ``WITH [RECURSIVE] name [(cols)] AS [NOT] [MATERIALIZED] (...), ...``."""
    index += 1
    if index < len(words) and words[index].is_word("RECURSIVE"):
        index += 1
    while index < len(words):
        index += 1  # the CTE's name
        try:
            if index < len(words) and words[index].is_punct("("):
                index = matching_paren(words, index) + 1
            if index < len(words) and words[index].is_word("AS"):
                index += 1
            while index < len(words) and words[index].is_word("NOT", "MATERIALIZED"):
                index += 1
            if index < len(words) and words[index].is_punct("("):
                index = matching_paren(words, index) + 1
        except ValueError:
            return len(words)
        if index < len(words) and words[index].is_punct(","):
            index += 1
            continue
        return index
    return index


_DDL_MODIFIERS = {"TEMP", "TEMPORARY", "UNIQUE", "VECTOR", "VIRTUAL", "FULLTEXT", "OR", "REPLACE"}


def _qualified_name(words: list[Token], index: int) -> tuple[str | None, str | None, int]:
    """(schema, name, next index) of ``[schema.]name`` at ``index``."""
    if index >= len(words) or not is_name(words[index]):
        return None, None, index
    if index + 2 < len(words) and words[index + 1].is_punct(".") and is_name(words[index + 2]):
        return unquote_name(words[index]), unquote_name(words[index + 2]), index + 3
    return None, unquote_name(words[index]), index + 1


def _ddl_target(words: list[Token], index: int) -> tuple[str, str | None, str | None]:
    while index < len(words) and words[index].kind == "word" and words[index].upper in _DDL_MODIFIERS:
        index += 1
    if index >= len(words) or words[index].kind != "word":
        return "", None, None
    kind = words[index].upper
    index += 1
    while index < len(words) and words[index].is_word("IF", "NOT", "EXISTS"):
        index += 1
    schema, name, index = _qualified_name(words, index)
    if kind == "TABLE":
        return kind, schema, name
    if kind in ("INDEX", "TRIGGER"):  # ... ON table
        on = next((i for i in range(index, len(words)) if words[i].is_word("ON")), None)
        if on is not None:
            return kind, schema, _qualified_name(words, on + 1)[1]
    return kind, schema, None
