"""A small SQL tokenizer: enough to find function calls, table references and literals.

The embedded engine (and client mode) read SQL written by hand (``VEC_EMBED_*``, ``SET @@GLOBAL...``) before
SQLite sees it; it never needs a full parse, only token boundaries that respect strings,
quoted identifiers and comments.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?(?:\*/|$))
  | (?P<string>'(?:[^']|'')*(?:'|$))
  | (?P<dquoted>"(?:[^"]|"")*(?:"|$))
  | (?P<ident>`(?:[^`]|``)*(?:`|$)|\[[^\]]*(?:\]|$))
  | (?P<word>[^\W\d][\w$]*)
  | (?P<variable>@@?[\w.$]+)
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<param>\?\d*|[:$][A-Za-z_]\w*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str  # space, comment, string, dquoted, ident, word, variable, number, param, punct
    text: str
    start: int

    @property
    def upper(self) -> str:
        return self.text.upper()

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.upper in words

    def is_punct(self, char: str) -> bool:
        return self.kind == "punct" and self.text == char


def tokenize(sql: str) -> list[Token]:
    """Every token of ``sql``, whitespace and comments included (their texts concatenate to ``sql``)."""
    tokens = []
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "punct"
        tokens.append(Token(kind, match.group(), match.start()))
    return tokens


def significant(tokens: list[Token]) -> list[Token]:
    return [t for t in tokens if t.kind not in ("space", "comment")]


def unquote_name(token: Token) -> str:
    """The name a word, `backquoted`, "double-quoted" or [bracketed] identifier stands for."""
    return token.text if token.kind == "word" else unquote_identifier(token.text)


def unquote_identifier(text: str) -> str:
    """``text`` without its identifier quotes (`...`, "...", [...], and '...' where SQLite reads a string as a
    name), doubled quotes undone."""
    if text[0] in "`\"'":
        return text[1:-1].replace(text[0] * 2, text[0])
    if text[0] == "[":
        return text[1:-1]
    return text


def string_value(token: Token) -> str:
    """The value of a '...' or "..." literal, MySQL escapes included (TiDB reads both as strings)."""
    quote, body = token.text[0], token.text[1:-1]
    body = body.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0", "r": "\r"}.get(m[1], m[1]), body)


def quote_identifier(name: str) -> str:
    """``name`` as a SQLite identifier, always quoted: ``"..."`` with ``"`` doubled (the library's one spelling;
    SQLAlchemy's ``identifier_preparer.quote`` is used where a dialect is at hand and quotes only when needed)."""
    return '"' + name.replace('"', '""') + '"'


def string_literal(value: str) -> str:
    """``value`` as a SQL string literal: ``'...'`` with ``'`` doubled (SQLite's only escape; TiDB reads it too)."""
    return "'" + value.replace("'", "''") + "'"


def is_name(token: Token) -> bool:
    return token.kind in ("word", "ident", "dquoted")


def matching_paren(tokens: Sequence[Token], open_index: int) -> int:
    """Index of the ``)`` closing the ``(`` at ``open_index`` (in a significant-token list)."""
    depth = 0
    for index in range(open_index, len(tokens)):
        if tokens[index].is_punct("("):
            depth += 1
        elif tokens[index].is_punct(")"):
            depth -= 1
            if depth == 0:
                return index
    raise ValueError("unbalanced parentheses")


def split_top_level(tokens: list[Token], separator: str = ",") -> list[list[Token]]:
    """``tokens`` split at ``separator`` outside any parentheses."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.is_punct("("):
            depth += 1
        elif token.is_punct(")"):
            depth -= 1
        if depth == 0 and token.is_punct(separator):
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def create_table_items(words: Sequence[Token]) -> tuple[int, int, list[list[Token]]] | None:
    """Where a CREATE TABLE's column list opens and closes (indexes in ``words``, its significant tokens) and
    its items (column definitions and table constraints); None without a column list."""
    start = next((i for i, t in enumerate(words) if t.is_punct("(")), None)
    if start is None:
        return None
    close = matching_paren(words, start)
    return start, close, split_top_level(list(words[start + 1 : close]))


def rewrite_calls(sql: str, words: list[Token], names: Collection[str],
                  rewrite: Callable[[Token, list[Token]], str | None]) -> str:
    """``sql`` with each call ``NAME(...)`` (``NAME`` in ``names``) replaced by ``rewrite(name, arguments)``,
    where that gives text (None leaves the call as it is)."""
    out: list[str] = []
    position = index = 0
    while index < len(words):
        token = words[index]
        if token.kind == "word" and token.upper in names and index + 1 < len(words) and words[index + 1].is_punct("("):
            close = matching_paren(words, index + 1)
            replacement = rewrite(token, words[index + 2 : close])
            if replacement is not None:
                out.append(sql[position : token.start])
                out.append(replacement)
                position = words[close].start + 1
                index = close + 1
                continue
        index += 1
    out.append(sql[position:])
    return "".join(out)


# --- One statement, read once -------------------------------------------------------------------

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
