"""Edit the text of a SQLite ``CREATE TABLE`` statement, item by item.

SQLite's documented procedure for table changes builds the new table from the original
statement with only the changed column edited, so everything else it says (AUTOINCREMENT,
collations, CHECKs, foreign keys, WITHOUT ROWID, comments) survives word for word.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...exc import CreateTableTextError
from ...sql.scanner import is_name, significant, tokenize, unquote_identifier, unquote_name

_CONSTRAINT_WORDS = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"}


@dataclass
class CreateTableText:
    """``CREATE TABLE <name> (`` + items joined by commas + ``)`` + tail (``WITHOUT ROWID``, ``STRICT``)."""

    items: list[str] = field(default_factory=list)
    tail: str = ""

    @classmethod
    def parse(cls, sql: str) -> CreateTableText:
        # The one SQL tokenizer: quoted strings and identifiers, and comments, hide their commas and parentheses.
        depth, start, items = 0, -1, []
        for token in tokenize(sql):
            if token.is_punct("("):
                depth += 1
                if depth == 1 and start < 0:
                    start = token.start + 1
            elif token.is_punct(")"):
                depth -= 1
                if depth == 0 and start >= 0:
                    items.append(sql[start : token.start])
                    return cls(items, sql[token.start + 1 :])
            elif token.is_punct(",") and depth == 1:
                items.append(sql[start : token.start])
                start = token.start + 1
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
    first = next(iter(significant(tokenize(item))), None)
    if first is None or first.upper in _CONSTRAINT_WORDS:
        return None
    # SQLite reads a 'string' where a column name is expected as the name
    return unquote_identifier(first.text) if first.kind == "string" else unquote_name(first)


def words(sql: str) -> list[str]:
    """The identifiers and keywords of ``sql`` (quoted ones unquoted; strings and comments left out)."""
    return [unquote_name(token) for token in tokenize(sql) if is_name(token)]
