"""What a hand-written statement refers to, read from its tokens and SQLite's own schema.

Table references (FROM / JOIN / UPDATE / INTO, with aliases) and column definitions from the
``CREATE TABLE`` text SQLite keeps in ``sqlite_master``: enough to know which column a function
argument names, and how that column was declared.
"""

from __future__ import annotations

from typing import Any

from ....sql.scanner import Token, create_table_items, is_name, quote_identifier, significant, tokenize, unquote_name

TableRef = tuple[str | None, str]  # (schema, table)

_NOT_ALIAS = {
    "WHERE", "ORDER", "GROUP", "HAVING", "LIMIT", "JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS",
    "NATURAL", "OUTER", "ON", "USING", "UNION", "EXCEPT", "INTERSECT", "SET", "VALUES", "SELECT",
    "WINDOW", "RETURNING", "DEFAULT", "OFFSET", "AS", "FROM", "INDEXED", "NOT", "FOR", "LOCK",
}  # fmt: skip


def span(sql: str, tokens: list[Token]) -> str:
    """The text of ``sql`` that ``tokens`` (a contiguous run) cover."""
    return sql[tokens[0].start : tokens[-1].start + len(tokens[-1].text)]


def table_references(words: list[Token]) -> dict[str, tuple[str | None, str]]:
    """Alias (or name) -> (schema, table) for every table the statement names after FROM/JOIN/UPDATE/INTO."""
    references: dict[str, tuple[str | None, str]] = {}
    index = 0
    while index < len(words):
        if words[index].is_word("FROM", "JOIN", "UPDATE", "INTO"):
            index += 1
            while index < len(words):
                index = _read_reference(words, index, references)
                if index < len(words) and words[index].is_punct(",") and words[index - 1].kind != "punct":
                    index += 1
                    continue
                break
            continue
        index += 1
    return references


def _read_reference(words: list[Token], index: int, references: dict[str, tuple[str | None, str]]) -> int:
    if index >= len(words) or not is_name(words[index]) or words[index].upper in _NOT_ALIAS:
        return index
    schema, table = None, unquote_name(words[index])
    index += 1
    if index + 1 < len(words) and words[index].is_punct(".") and is_name(words[index + 1]):
        schema, table = table, unquote_name(words[index + 1])
        index += 2
    alias = table
    if index < len(words) and words[index].is_word("AS"):
        index += 1
    if index < len(words) and is_name(words[index]) and words[index].upper not in _NOT_ALIAS:
        alias = unquote_name(words[index])
        index += 1
    references[alias.lower()] = (schema, table)
    references.setdefault(table.lower(), (schema, table))
    return index


def create_table_sql(connection: Any, schema: str | None, table: str) -> str | None:
    """The CREATE TABLE text SQLite keeps for ``table`` (temporary tables first), or None."""
    masters = [f"{quote_identifier(schema)}.sqlite_master"] if schema else ["sqlite_temp_master", "sqlite_master"]
    for master in masters:
        row = connection.execute(
            f"SELECT sql FROM {master} WHERE type = 'table' AND name = ? COLLATE NOCASE", (table,)
        ).fetchone()
        if row is not None and row[0]:
            return str(row[0])
    return None


def column_definition(create_table: str, column: str) -> list[Token] | None:
    """The tokens defining ``column`` in a CREATE TABLE (its name first), or None."""
    table_items = create_table_items(significant(tokenize(create_table)))
    if table_items is None:
        return None
    for definition in table_items[2]:
        if definition and is_name(definition[0]) and unquote_name(definition[0]).lower() == column.lower():
            return definition
    return None


def candidate_tables(tables: dict[str, TableRef], name_tokens: list[Token]) -> tuple[str, list[TableRef]]:
    """The column a (qualified) name refers to, and the tables it may belong to."""
    names = [unquote_name(t) for t in name_tokens if not t.is_punct(".")]
    if len(names) >= 2:
        qualifier = names[-2]
        return names[-1], [tables.get(qualifier.lower(), (None, qualifier))]
    return names[-1], list(dict.fromkeys(tables.values()))
