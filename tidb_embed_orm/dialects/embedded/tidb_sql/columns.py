"""VECTOR columns as a hand-written CREATE TABLE declares them.

Which columns are stored (not generated) vectors and of what size (``VECTOR(16384)`` is refused, as
on TiDB), and whether a ``VECTOR(N) GENERATED ALWAYS AS (EMBED_TEXT('model', ...))`` fits its model.
"""

from __future__ import annotations

from collections.abc import Sequence

from ....catalog import get_model, resolve_dim
from ....codec import check_sql_dims
from ....exc import DimensionError, TidbEmbedError
from ....sql.scanner import Token, create_table_items, is_name, significant, string_value, tokenize, unquote_name

_CREATE_WORDS = ("CREATE", "TEMP", "TEMPORARY", "TABLE", "IF", "NOT", "EXISTS")


def _column_definitions(words: Sequence[Token]) -> tuple[str | None, list[list[Token]]]:
    """The table a CREATE TABLE (significant tokens) makes and its column definitions."""
    table_items = create_table_items(words)
    if table_items is None:
        return None, []
    start, _, items = table_items
    names = [t for t in words[:start] if is_name(t) and t.upper not in _CREATE_WORDS]
    return (unquote_name(names[-1]) if names else None), items


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


def _added_definitions(words: Sequence[Token]) -> list[list[Token]]:
    """The column definitions a CREATE TABLE, or an ``ALTER TABLE ... ADD [COLUMN]``, declares."""
    add = next((i for i, t in enumerate(words) if t.is_word("ADD")), None)
    if words and words[0].is_word("ALTER"):
        if add is None:
            return []
        start = add + 2 if add + 1 < len(words) and words[add + 1].is_word("COLUMN") else add + 1
        return [list(words[start:])]
    return _column_definitions(words)[1]


def check_embed_text_dims(words: Sequence[Token]) -> None:
    """Refuse ``v VECTOR(N) GENERATED ALWAYS AS (EMBED_TEXT('model', ...))`` where the model's vectors are not N long.

    TiDB accepts the table and refuses every insert; refusing the CREATE says it earlier. Models
    the registry does not know are let through (their size is the user's word).
    """
    for definition in _added_definitions(words):
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
