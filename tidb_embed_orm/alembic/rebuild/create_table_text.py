"""Edit the text of a SQLite ``CREATE TABLE`` statement, item by item.

SQLite's documented procedure for table changes builds the new table from the original
statement with only the changed column edited, so everything else it says (AUTOINCREMENT,
collations, CHECKs, foreign keys, WITHOUT ROWID, comments) survives word for word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...exc import CreateTableTextError

# SQLite's tokens that can hide a comma or a parenthesis: quoted strings and identifiers, comments.
_TOKEN = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|/\*.*?(?:\*/|\Z)|[(),]|[^'"`\[(),\-/]+|[-/]""",
    re.DOTALL,
)
_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


@dataclass
class CreateTableText:
    """``CREATE TABLE <name> (`` + items joined by commas + ``)`` + tail (``WITHOUT ROWID``, ``STRICT``)."""

    items: list[str] = field(default_factory=list)
    tail: str = ""

    @classmethod
    def parse(cls, sql: str) -> CreateTableText:
        depth, start, items = 0, -1, []
        for match in _TOKEN.finditer(sql):
            token = match.group()
            if token == "(":
                depth += 1
                if depth == 1 and start < 0:
                    start = match.end()
            elif token == ")":
                depth -= 1
                if depth == 0 and start >= 0:
                    items.append(sql[start : match.start()])
                    return cls(items, sql[match.end() :])
            elif token == "," and depth == 1:
                items.append(sql[start : match.start()])
                start = match.end()
        raise CreateTableTextError(f"not a CREATE TABLE statement with a column list: {sql[:80]!r}")

    def column_index(self, name: str) -> int | None:
        """Where the definition of column ``name`` is (case-insensitive, as SQLite compares names)."""
        for position, item in enumerate(self.items):
            if (found := column_name(item)) is not None and found.lower() == name.lower():
                return position
        return None

    def add_column(self, definition: str) -> None:
        """Put ``definition`` after the last column (SQLite wants columns before table constraints)."""
        last = max((i for i, item in enumerate(self.items) if column_name(item) is not None), default=-1)
        self.items.insert(last + 1, f"\n\t{definition}")

    def replace_column(self, name: str, definition: str) -> None:
        position = self._require(name)
        self.items[position] = f"\n\t{definition}"

    def drop_column(self, name: str) -> None:
        del self.items[self._require(name)]

    def render(self, quoted_name: str) -> str:
        return f"CREATE TABLE {quoted_name} ({','.join(self.items)}){self.tail}"

    def _require(self, name: str) -> int:
        position = self.column_index(name)
        if position is None:
            raise CreateTableTextError(f"no column {name!r} in the table's CREATE TABLE statement")
        return position


def column_name(item: str) -> str | None:
    """The column an item defines, or None for a table constraint."""
    for match in _TOKEN.finditer(item):
        token = match.group()
        if token.isspace() or token.startswith(("--", "/*")):
            continue
        word = token.split()[0] if token[0] not in "'\"`[" else token
        if word.upper() in _CONSTRAINT_WORDS:
            return None
        return _unquote(word)
    return None


def words(sql: str) -> list[str]:
    """The identifiers and keywords of ``sql`` (quoted ones unquoted; strings and comments left out)."""
    found: list[str] = []
    for match in _TOKEN.finditer(sql):
        token = match.group()
        if token[0] in "\"`[":
            found.append(_unquote(token))
        elif token[0] not in "'-/(),":
            found.extend(re.findall(r"[A-Za-z_][\w$]*", token))
    return found


def _unquote(word: str) -> str:
    if word[0] in "\"`":
        return word[1:-1].replace(word[0] * 2, word[0])
    if word[0] == "[":
        return word[1:-1]
    if word[0] == "'":
        return word[1:-1].replace("''", "'")
    return word
