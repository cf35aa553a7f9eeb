"""TiDB's VECTOR semantics in hand-written SQL on the embedded engine.

- ``CREATE TABLE`` with ``VECTOR[(n)]`` columns gets triggers that parse and check what SQL
  writes there (``'[1,2,3]'``) and keep it as float32, as TiDB does; ``VECTOR(16384)`` is refused.
- ``CAST(x AS VECTOR[(n)])`` / ``CONVERT(x, VECTOR[(n)])`` is TiDB's checked conversion, not SQLite's
  numeric cast; a vector cast to CHAR/BINARY is its text, to other types an error.
- Comparisons where a vector is visible compare element-wise, as TiDB does (also ``IN`` lists and
  ``BETWEEN`` of vector texts).
- ``+``/``-``/``*`` on such a vector, or on a VECTOR column next to a vector text, is refused
  (SQLite would silently give 0).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from typing import Any

from ....catalog import get_model, resolve_dim
from ....codec import check_sql_dims
from ....exc import DimensionError, TidbEmbedError, UnsupportedStatementError
from ....sql.scanner import (
    Token,
    is_name,
    matching_paren,
    rewrite_calls,
    significant,
    split_top_level,
    string_value,
    tokenize,
    unquote_name,
)
from .schema import TableRef, candidate_tables, column_definition, create_table_sql, quote, span, table_references
from .values import COMPARE_FUNCTION, STORE_FUNCTION

#: IN / BETWEEN anywhere: read when a vector call (VEC_FROM_TEXT, a cast to VECTOR) is in the statement.
SET_OPERATOR = re.compile(r"\b(?:IN|BETWEEN)\b", re.IGNORECASE)
#: The name of every write-check trigger starts so (the rest is a random tag, the column and the event).
TRIGGER_PREFIX = "tidb_embed_vector_"


def _column_definitions(words: Sequence[Token]) -> tuple[str | None, list[list[Token]]]:
    """The table a CREATE TABLE (significant tokens) makes and its column definitions."""
    words = list(words)
    start = next((i for i, t in enumerate(words) if t.is_punct("(")), None)
    if start is None:
        return None, []
    names = [t for t in words[:start] if is_name(t) and t.upper not in ("CREATE", "TEMP", "TEMPORARY", "TABLE")]
    names = [t for t in names if t.upper not in ("IF", "NOT", "EXISTS")]
    table = unquote_name(names[-1]) if names else None
    return table, split_top_level(words[start + 1 : matching_paren(words, start)])


def _declared_dim(definition: list[Token]) -> int | None:
    if len(definition) >= 5 and definition[2].is_punct("(") and definition[3].kind == "number":
        dim = int(float(definition[3].text))
        check_sql_dims(dim)
        return dim
    return None


def vector_columns(create_table: str | Sequence[Token]) -> tuple[str | None, list[tuple[str, int | None]]]:
    """The table a CREATE TABLE makes and its stored (not generated) VECTOR[(n)] columns with their size.

    ``create_table`` is its text or its significant tokens; ``VECTOR(16384)`` is refused.
    """
    words = significant(tokenize(create_table)) if isinstance(create_table, str) else create_table
    table, definitions = _column_definitions(words)
    columns: list[tuple[str, int | None]] = []
    for definition in definitions:
        if len(definition) < 2 or not is_name(definition[0]) or not definition[1].is_word("VECTOR"):
            continue
        dim = _declared_dim(definition)
        if any(t.is_word("AS", "GENERATED") for t in definition[2:]):
            continue  # a generated column: SQLite computes it, EMBED_TEXT checks it
        columns.append((unquote_name(definition[0]), dim))
    return table, columns


def check_embed_text_dims(words: Sequence[Token]) -> None:
    """Refuse ``v VECTOR(N) GENERATED ALWAYS AS (EMBED_TEXT('model', ...))`` where the model's vectors are not N long.

    TiDB accepts the table and refuses every insert; refusing the CREATE says it earlier. Models
    the registry does not know are let through (their size is the user's word).
    """
    for definition in _column_definitions(words)[1]:
        if len(definition) < 2 or not is_name(definition[0]) or not definition[1].is_word("VECTOR"):
            continue
        dim = _declared_dim(definition)
        call = next((i for i, t in enumerate(definition) if t.is_word("EMBED_TEXT")), None)
        if dim is None or call is None or call + 2 >= len(definition) or not definition[call + 1].is_punct("("):
            continue
        model_token = definition[call + 2]
        if model_token.kind not in ("string", "dquoted"):
            continue
        model = string_value(model_token)
        try:
            resolve_dim(model, dim)
        except DimensionError:
            entry = get_model(model)
            column = unquote_name(definition[0])
            other = f" (or {', '.join(map(str, entry.dims))})" if entry.dims else ""
            raise DimensionError(
                f"column {column!r} is VECTOR({dim}) but {model!r} produces {entry.dim}-dimensional vectors"
                f"{other}: every insert would fail (TiDB refuses them too). Declare it VECTOR({entry.dim}), "
                f"or use a model of {dim} dimensions"
            ) from None
        except TidbEmbedError:
            continue  # not a model the registry knows: its size is the user's word


def vector_triggers(table: str, columns: list[tuple[str, int | None]], tag: str) -> list[str]:
    """Triggers that turn a vector text written by SQL into a checked float32 blob (TiDB's errors otherwise)."""
    return [sql for column in columns for sql in _column_triggers(table, column, tag).values()]


def _column_triggers(table: str, column_dim: tuple[str, int | None], tag: str) -> dict[str, str]:
    """Event ("insert" / "update") -> the CREATE TRIGGER keeping one column's writes checked."""
    column, dim = column_dim
    quoted_table, quoted = quote(table), quote(column)
    size = "NULL" if dim is None else str(dim)
    bad_blob = f"length(NEW.{quoted}) % 4 != 0" if dim is None else f"length(NEW.{quoted}) != {4 * dim}"
    when = f"NEW.{quoted} IS NOT NULL AND (typeof(NEW.{quoted}) != 'blob' OR {bad_blob})"
    body = f"UPDATE {quoted_table} SET {quoted} = {STORE_FUNCTION}(NEW.{quoted}, {size}) WHERE rowid = NEW.rowid;"
    statements = {}
    for event in ("INSERT", f"UPDATE OF {quoted}"):
        short = event.split()[0].lower()
        name = quote(f"{TRIGGER_PREFIX}{tag}_{column}_{short}")
        statements[short] = f"CREATE TRIGGER {name} AFTER {event} ON {quoted_table} WHEN {when} BEGIN {body} END"
    return statements


def _after_name(trigger_sql: str) -> str:
    """A trigger's definition without its name: what two triggers doing the same thing share."""
    at = trigger_sql.find(" AFTER ")
    return trigger_sql[at:] if at >= 0 else trigger_sql


def reconcile_vector_triggers(cursor: Any) -> bool:
    """Make the write-check triggers of every table match its VECTOR columns, as the schema has them now.

    Run after every DDL statement (and script), whatever made the schema so (CREATE TABLE by hand,
    ``create_all``, an Alembic rebuild's create / copy / drop / rename): a trigger whose definition
    no longer fits its table (a body naming a renamed-away table, another VECTOR(N), a column that is
    gone, a duplicate) is dropped, a missing one created, as ``vector_index.schema.reconcile`` does
    for the change logs. Costs a few PRAGMAs when the schema did not change since the last call on
    this connection. ``cursor`` is a plain DBAPI cursor (its statements pass no hook). True if
    anything changed.
    """
    state = cursor.connection
    versions = schema_versions(cursor)
    if getattr(state, "tidb_embed_triggers_at", None) == versions:
        return False
    changed = False
    for schema, _version in versions:
        qschema = quote(schema)
        master = "sqlite_temp_master" if schema == "temp" else f"{qschema}.sqlite_master"
        wanted: dict[str, tuple[str, str, tuple[str, int | None]]] = {}  # definition -> (table, event, column)
        for table, sql in cursor.execute(
            f"SELECT name, sql FROM {master} WHERE type = 'table' AND sql LIKE '%VECTOR%'"
        ).fetchall():
            try:
                _, columns = vector_columns(sql)
            except (TidbEmbedError, ValueError):
                continue
            for column in columns:
                for event, trigger in _column_triggers(table, column, "").items():
                    wanted[_after_name(trigger)] = (table, event, column)
        kept: set[str] = set()
        for name, sql in cursor.execute(
            f"SELECT name, sql FROM {master} WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
            (len(TRIGGER_PREFIX), TRIGGER_PREFIX),
        ).fetchall():
            definition = _after_name(str(sql))
            if definition in wanted and definition not in kept:
                kept.add(definition)
                continue
            cursor.execute(f"DROP TRIGGER IF EXISTS {qschema}.{quote(name)}")
            changed = True
        tags: dict[str, str] = {}  # one tag per table (as one CREATE TABLE used to get)
        for definition, (table, event, column) in wanted.items():
            if definition in kept:
                continue
            trigger = _column_triggers(table, column, tags.setdefault(table, uuid.uuid4().hex[:8]))[event]
            where = "CREATE TEMP TRIGGER " if schema == "temp" else f"CREATE TRIGGER {qschema}."
            cursor.execute(trigger.replace("CREATE TRIGGER ", where, 1))
            changed = True
    if changed:
        versions = schema_versions(cursor)
    state.tidb_embed_triggers_at = versions
    return changed


def schema_versions(cursor: Any) -> tuple[tuple[str, int], ...]:
    """(schema, PRAGMA schema_version) of every database on the connection: changes with any DDL."""
    names = [row[1] for row in cursor.execute("PRAGMA database_list").fetchall()]
    return tuple((name, cursor.execute(f"PRAGMA {quote(name)}.schema_version").fetchone()[0]) for name in names)


def rewrite_casts(sql: str) -> str:
    """TiDB's ``CAST(x AS VECTOR[(n)])`` / ``CONVERT(x, VECTOR[(n)])`` as the engine's checked conversion.

    SQLite would give 0. A visible vector (``VEC_FROM_TEXT(...)``, a cast to VECTOR) cast to CHAR
    or BINARY is its text, as on TiDB; to any other type it is TiDB's refusal, not SQLite's bytes.
    """
    def conversion(function: Token, arguments: list[Token]) -> str | None:
        parts = _conversion_parts(function, arguments)
        return None if parts is None else _conversion(sql, *parts)

    return rewrite_calls(sql, significant(tokenize(sql)), ("CAST", "CONVERT"), conversion)


def _conversion_parts(function: Token, inner: list[Token]) -> tuple[list[Token], list[Token]] | None:
    """(expression, target type) of ``CAST(e AS type)`` or ``CONVERT(e, type)``."""
    if function.is_word("CAST"):
        as_index = max((i for i, t in enumerate(inner) if t.is_word("AS")), default=None)
        if as_index is None or as_index == 0 or as_index + 1 >= len(inner):
            return None
        return inner[:as_index], inner[as_index + 1 :]
    parts = split_top_level(inner)
    return (parts[0], parts[1]) if len(parts) == 2 and parts[0] and parts[1] else None


def _conversion(sql: str, expression: list[Token], target: list[Token]) -> str | None:
    if target[0].is_word("VECTOR"):
        dim = "NULL"
        if len(target) > 1 and target[1].is_punct("<"):
            raise UnsupportedStatementError(f"Only VECTOR is supported for now, not {span(sql, target)}")
        if len(target) == 4 and target[1].is_punct("(") and target[2].kind == "number":
            dim = str(int(float(target[2].text)))
            check_sql_dims(int(dim))
        return f"{STORE_FUNCTION}({rewrite_casts(span(sql, expression))}, {dim})"
    if not _is_vector_expression(expression):
        return None
    if target[0].is_word("CHAR", "BINARY"):
        return f"VEC_AS_TEXT({rewrite_casts(span(sql, expression))})"
    raise UnsupportedStatementError(
        f"cannot convert a VECTOR to {span(sql, target)}: a vector converts only to CHAR or BINARY (its text)"
    )


def _is_vector_expression(tokens: list[Token]) -> bool:
    """A call whose value is certainly a vector: VEC_FROM_TEXT(...), CAST(... AS VECTOR), CONVERT(..., VECTOR)."""
    if len(tokens) < 3 or not tokens[1].is_punct("(") or matching_paren(tokens, 1) != len(tokens) - 1:
        return False
    if tokens[0].is_word("VEC_FROM_TEXT"):
        return True
    if tokens[0].is_word("CAST", "CONVERT"):
        parts = _conversion_parts(tokens[0], tokens[2:-1])
        return parts is not None and parts[1][0].is_word("VECTOR")
    return False


_ARITHMETIC = {"+", "-", "*", "/", "%"}


def refuse_vector_arithmetic(sql: str, connection: Any = None) -> None:
    """TiDB adds, subtracts and multiplies vectors element-wise; SQLite would turn them into 0. Refuse instead.

    A vector is seen as VEC_FROM_TEXT(...) / a cast to VECTOR, or (given ``connection``) a VECTOR
    column next to the operator.
    """
    words = significant(tokenize(sql))
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
        if not _is_vector_expression(words[index : close + 1]):
            continue
        before = words[index - 1] if index else None
        after_call = words[close + 1] if close + 1 < len(words) else None
        if any(t is not None and t.kind == "punct" and t.text in _ARITHMETIC for t in (before, after_call)):
            raise UnsupportedStatementError(_ARITHMETIC_MESSAGE)


_SUMS = ("SUM", "AVG", "TOTAL")


def refuse_vector_sums(sql: str, connection: Any) -> None:
    """SUM / AVG / TOTAL of a VECTOR column: TiDB refuses them, SQLite would give 0."""
    words = significant(tokenize(sql))
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
