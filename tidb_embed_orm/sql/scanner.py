"""A small SQL tokenizer: enough to find function calls, table references and literals.

The embedded engine (and client mode) read SQL written by hand (``VEC_EMBED_*``, ``SET @@GLOBAL...``) before
SQLite sees it; it never needs a full parse, only token boundaries that respect strings,
quoted identifiers and comments.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

_TOKEN_PATTERN = r"""
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
    """
_TOKEN = re.compile(_TOKEN_PATTERN, re.VERBOSE | re.DOTALL)
#: MySQL's (and TiDB's) strings, where a backslash escapes the next character: 'it\'s'.
_MYSQL_STRINGS = r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*|\#[^\n]*|/\*.*?(?:\*/|$))
  | (?P<string>'(?:[^'\\]|''|\\.)*(?:'|$))
  | (?P<dquoted>"(?:[^"\\]|""|\\.)*(?:"|$))
"""
_MYSQL_TOKEN = re.compile(
    _MYSQL_STRINGS + _TOKEN_PATTERN[_TOKEN_PATTERN.index("  | (?P<ident>"):], re.VERBOSE | re.DOTALL
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


def tokenize(sql: str, *, backslash_escapes: bool = False) -> list[Token]:
    """Every token of ``sql``, whitespace and comments included (their texts concatenate to ``sql``).

    ``backslash_escapes``: read strings as MySQL / TiDB do (a backslash escapes the next character),
    not as SQLite does.
    """
    tokens = []
    for match in (_MYSQL_TOKEN if backslash_escapes else _TOKEN).finditer(sql):
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
