"""Operators applied to vectors in hand-written SQL on the embedded engine, as TiDB means them.

- Comparisons where a vector is visible compare element-wise (also ``IN`` lists and ``BETWEEN`` of
  vector texts), not by SQLite's byte order;
- ``+``/``-``/``*`` on such a vector, or on a VECTOR column next to a vector text, and SUM / AVG / TOTAL
  of a VECTOR column are refused (SQLite would silently give 0).

A vector is "visible" as VEC_FROM_TEXT(...) / a cast to VECTOR, or as a column the schema declares VECTOR.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ....exc import UnsupportedStatementError
from ....sql.scanner import Token, is_name, matching_paren, significant, split_top_level, tokenize
from .casts import is_vector_expression
from .schema import TableRef, candidate_tables, column_definition, create_table_sql, span, table_references
from .values import COMPARE_FUNCTION, STORE_FUNCTION

#: IN / BETWEEN anywhere: read when a vector call (VEC_FROM_TEXT, a cast to VECTOR) is in the statement.
SET_OPERATOR = re.compile(r"\b(?:IN|BETWEEN)\b", re.IGNORECASE)


_ARITHMETIC = {"+", "-", "*", "/", "%"}


def refuse_vector_arithmetic(sql: str, connection: Any = None, words: Sequence[Token] | None = None) -> None:
    """TiDB adds, subtracts and multiplies vectors element-wise; SQLite would turn them into 0. Refuse instead.

    A vector is seen as VEC_FROM_TEXT(...) / a cast to VECTOR, or (given ``connection``) a VECTOR
    column next to the operator. ``words``: the statement's significant tokens, when already read.
    """
    words = significant(tokenize(sql)) if words is None else list(words)
    tables: dict[str, TableRef] | None = None
    for index, token in enumerate(words):
        if token.kind == "punct" and token.text in _ARITHMETIC and connection is not None:
            for operand in (_operand_before(words, index), _operand_after(words, index + 1)):
                if operand is None or _operand_kind(words[operand[0] : operand[1]]) != "name":
                    continue
                tables = table_references(words) if tables is None else tables
                if _is_vector_column(connection, tables, words[operand[0] : operand[1]]):
                    raise UnsupportedStatementError(_ARITHMETIC_MESSAGE)
        if not token.is_word("VEC_FROM_TEXT", "CAST", "CONVERT") or index + 1 >= len(words):
            continue
        if not words[index + 1].is_punct("("):
            continue
        close = matching_paren(words, index + 1)
        if not is_vector_expression(words[index : close + 1]):
            continue
        before = words[index - 1] if index else None
        after_call = words[close + 1] if close + 1 < len(words) else None
        if any(t is not None and t.kind == "punct" and t.text in _ARITHMETIC for t in (before, after_call)):
            raise UnsupportedStatementError(_ARITHMETIC_MESSAGE)


_SUMS = ("SUM", "AVG", "TOTAL")


def refuse_vector_sums(sql: str, connection: Any, words: Sequence[Token] | None = None) -> None:
    """SUM / AVG / TOTAL of a VECTOR column: TiDB refuses them, SQLite would give 0."""
    words = significant(tokenize(sql)) if words is None else list(words)
    tables: dict[str, TableRef] | None = None
    for index, token in enumerate(words):
        if not token.is_word(*_SUMS) or index + 1 >= len(words) or not words[index + 1].is_punct("("):
            continue
        argument = words[index + 2 : matching_paren(words, index + 1)]
        if argument and argument[0].is_word("DISTINCT", "ALL"):
            argument = argument[1:]
        if _operand_kind(argument) != "name":
            continue
        tables = table_references(words) if tables is None else tables
        if _is_vector_column(connection, tables, argument):
            raise UnsupportedStatementError(
                f"{token.upper}() of a vector column is not supported (TiDB refuses it too; SQLite would give 0)"
            )


_ARITHMETIC_MESSAGE = (
    "arithmetic on vectors (+, -, *) is not supported by the embedded engine (SQLite would give 0): "
    "compute it in Python on the numpy arrays, or run it on TiDB"
)


_COMPARISONS = ("<=>", "<=", ">=", "<>", "!=", "==", "<", ">", "=")
_BINDS_TIGHTER = {"+", "-", "*", "/", "%", "|", "&", "~"}


def rewrite_vector_comparisons(sql: str, connection: Any) -> str:
    """``a < b`` on vectors compares element-wise as on TiDB, not SQLite's byte order.

    Rewritten where one side is certainly a vector: VEC_FROM_TEXT(...) / CAST(... AS VECTOR),
    or a VECTOR column compared with a vector text ('[1,2]'); two strings stay strings (as on TiDB).
    """
    words = significant(tokenize(sql))
    assignments = _assignment_positions(words)
    tables: dict[str, TableRef] | None = None
    edits: list[tuple[int, int, str]] = []
    index = 0
    while index < len(words):
        operator, width = _comparison_at(words, index)
        if operator is None or index in assignments:
            index += 1
            continue
        left = _operand_before(words, index)
        right = _operand_after(words, index + width)
        if left is None or right is None:
            index += width
            continue
        kinds = (_operand_kind(words[left[0] : left[1]]), _operand_kind(words[right[0] : right[1]]))
        vector = "call" in kinds
        if not vector and "text" in kinds and "name" in kinds:
            tables = table_references(words) if tables is None else tables
            named = words[left[0] : left[1]] if kinds[0] == "name" else words[right[0] : right[1]]
            vector = _is_vector_column(connection, tables, named)
        if vector:
            before = words[left[0] - 1] if left[0] else None
            after_right = words[right[1]] if right[1] < len(words) else None
            if any(t is not None and t.kind == "punct" and t.text in _BINDS_TIGHTER for t in (before, after_right)):
                raise UnsupportedStatementError(
                    "a vector comparison inside arithmetic: put the comparison in parentheses"
                )
            left_sql, right_sql = span(sql, words[left[0] : left[1]]), span(sql, words[right[0] : right[1]])
            sqlite_operator = {"<=>": "IS", "==": "="}.get(operator, operator)
            comparison = f"({COMPARE_FUNCTION}({left_sql}, {right_sql}) {sqlite_operator} 0)"
            if operator == "<=>":  # NULL-safe: NULL <=> NULL is true, NULL <=> v is false
                both_null = f"({left_sql}) IS NULL AND ({right_sql}) IS NULL"
                comparison = f"COALESCE({COMPARE_FUNCTION}({left_sql}, {right_sql}) = 0, {both_null})"
            start = words[left[0]].start
            end = words[right[1] - 1].start + len(words[right[1] - 1].text)
            if edits and start < edits[-1][1]:
                raise UnsupportedStatementError("nested vector comparisons: compare the vectors one at a time")
            edits.append((start, end, comparison))
            index = right[1]
            continue
        index += width
    for start, end, replacement in reversed(edits):
        sql = sql[:start] + replacement + sql[end:]
    return sql


def rewrite_vector_sets(sql: str, connection: Any) -> str:
    """``v [NOT] IN ('[1,2]', ...)`` and ``v [NOT] BETWEEN '[..]' AND '[..]'`` on a vector, as on TiDB.

    Without this SQLite compares the stored float32 blob with the texts (never equal, always
    greater). Each vector text of an IN list becomes the vector it names; BETWEEN compares
    element-wise.
    """
    words = significant(tokenize(sql))
    tables: dict[str, TableRef] | None = None
    edits: list[tuple[int, int, str]] = []
    for index, token in enumerate(words):
        if not token.is_word("IN", "BETWEEN") or index == 0:
            continue
        negated = words[index - 1].is_word("NOT")
        operand = _operand_before(words, index - 1 if negated else index)
        if operand is None:
            continue
        tokens = words[operand[0] : operand[1]]
        kind = _operand_kind(tokens)
        if kind == "name":
            tables = table_references(words) if tables is None else tables
            if not _is_vector_column(connection, tables, tokens):
                continue
        elif kind != "call":
            continue
        if token.is_word("IN") and index + 1 < len(words) and words[index + 1].is_punct("("):
            items = split_top_level(words[index + 2 : matching_paren(words, index + 1)])
            for item in items:
                if len(item) == 1 and _operand_kind(item) == "text":
                    text = item[0]
                    edits.append((text.start, text.start + len(text.text), f"{STORE_FUNCTION}({text.text}, NULL)"))
        elif token.is_word("BETWEEN"):
            low = _operand_after(words, index + 1)
            if low is None or low[1] >= len(words) or not words[low[1]].is_word("AND"):
                continue
            high = _operand_after(words, low[1] + 1)
            if high is None:
                continue
            value = span(sql, tokens)
            low_sql, high_sql = span(sql, words[low[0] : low[1]]), span(sql, words[high[0] : high[1]])
            test = f"({COMPARE_FUNCTION}({value}, {low_sql}) >= 0 AND {COMPARE_FUNCTION}({value}, {high_sql}) <= 0)"
            start = tokens[0].start
            end = words[high[1] - 1].start + len(words[high[1] - 1].text)
            edits.append((start, end, f"(NOT {test})" if negated else test))
    for start, end, replacement in sorted(edits, reverse=True):
        sql = sql[:start] + replacement + sql[end:]
    return sql


_END_OF_SET = {"WHERE", "FROM", "RETURNING", "ORDER", "LIMIT", "ON"}


def _assignment_positions(words: list[Token]) -> set[int]:
    """Indexes of the ``=`` of ``SET col = value`` assignments (not comparisons)."""
    positions: set[int] = set()
    depth, set_depth, expect = 0, None, False
    for index, token in enumerate(words):
        if token.is_punct("("):
            depth += 1
        elif token.is_punct(")"):
            depth -= 1
        elif token.is_word("SET"):
            set_depth, expect = depth, True
        elif set_depth == depth and token.kind == "word" and token.upper in _END_OF_SET:
            set_depth = None
        elif set_depth == depth and token.is_punct(","):
            expect = True
        elif set_depth == depth and expect and token.is_punct("="):
            positions.add(index)
            expect = False
    return positions


def _comparison_at(words: list[Token], index: int) -> tuple[str | None, int]:
    if words[index].kind != "punct" or words[index].text not in "<>=!":
        return None, 1
    text = ""
    width = 0
    while index + width < len(words) and words[index + width].kind == "punct" and len(text) < 3:
        candidate = text + words[index + width].text
        if not any(op.startswith(candidate) for op in _COMPARISONS):
            break
        text, width = candidate, width + 1
    return (text, width) if text in _COMPARISONS else (None, max(width, 1))


def _operand_before(words: list[Token], index: int) -> tuple[int, int] | None:
    end = index
    if end == 0:
        return None
    last = words[end - 1]
    if last.is_punct(")"):
        depth, start = 0, end - 1
        while start >= 0:
            if words[start].is_punct(")"):
                depth += 1
            elif words[start].is_punct("("):
                depth -= 1
                if depth == 0:
                    break
            start -= 1
        if start > 0 and words[start - 1].kind == "word":
            start -= 1  # a function call
        return start, end
    start = end - 1
    while start >= 2 and words[start - 1].is_punct(".") and is_name(words[start - 2]):
        start -= 2
    return start, end


def _operand_after(words: list[Token], index: int) -> tuple[int, int] | None:
    if index >= len(words):
        return None
    first = words[index]
    if first.kind == "word" and index + 1 < len(words) and words[index + 1].is_punct("("):
        return index, matching_paren(words, index + 1) + 1
    if first.is_punct("("):
        return index, matching_paren(words, index) + 1
    end = index + 1
    while end + 1 < len(words) and words[end].is_punct(".") and is_name(words[end + 1]):
        end += 2
    return index, end


def _operand_kind(tokens: list[Token]) -> str:
    if tokens and tokens[0].kind == "word" and tokens[0].upper in ("VEC_FROM_TEXT", COMPARE_FUNCTION, STORE_FUNCTION):
        return "call"
    if len(tokens) == 1 and tokens[0].kind == "string" and tokens[0].text[1:].lstrip().startswith("["):
        return "text"
    if tokens and all(is_name(t) or t.is_punct(".") for t in tokens) and tokens[0].kind != "dquoted":
        return "name"
    return "other"


def _is_vector_column(connection: Any, tables: dict[str, TableRef], tokens: list[Token]) -> bool:
    column, candidates = candidate_tables(tables, tokens)
    for schema, table in candidates:
        create_table = create_table_sql(connection, schema, table)
        definition = None if create_table is None else column_definition(create_table, column)
        if definition is not None:
            return len(definition) >= 2 and definition[1].is_word("VECTOR")
    return False
