"""TiDB's ``CAST(x AS VECTOR[(n)])`` / ``CONVERT(x, VECTOR[(n)])`` in hand-written SQL on the embedded engine.

A cast to VECTOR is TiDB's checked conversion (SQLite's numeric cast would give 0); a vector cast to
CHAR/BINARY is its text, to any other type TiDB's refusal.
"""

from __future__ import annotations

from ....codec import check_sql_dims
from ....exc import UnsupportedStatementError
from ....sql.scanner import Token, matching_paren, rewrite_calls, significant, split_top_level, tokenize
from .schema import span
from .values import STORE_FUNCTION


def rewrite_casts(sql: str) -> str:
    """TiDB's ``CAST(x AS VECTOR[(n)])`` / ``CONVERT(x, VECTOR[(n)])`` as the engine's checked conversion.

    SQLite would give 0. A visible vector (``VEC_FROM_TEXT(...)``, a cast to VECTOR) cast to CHAR
    or BINARY is its text, as on TiDB; to any other type it is TiDB's refusal, not SQLite's bytes.
    """
    def conversion(function: Token, arguments: list[Token]) -> str | None:
        parts = conversion_parts(function, arguments)
        return None if parts is None else _conversion(sql, *parts)

    return rewrite_calls(sql, significant(tokenize(sql)), ("CAST", "CONVERT"), conversion)


def conversion_parts(function: Token, inner: list[Token]) -> tuple[list[Token], list[Token]] | None:
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
    if not is_vector_expression(expression):
        return None
    if target[0].is_word("CHAR", "BINARY"):
        return f"VEC_AS_TEXT({rewrite_casts(span(sql, expression))})"
    raise UnsupportedStatementError(
        f"cannot convert a VECTOR to {span(sql, target)}: a vector converts only to CHAR or BINARY (its text)"
    )


def is_vector_expression(tokens: list[Token]) -> bool:
    """A call whose value is certainly a vector: VEC_FROM_TEXT(...), CAST(... AS VECTOR), CONVERT(..., VECTOR)."""
    if len(tokens) < 3 or not tokens[1].is_punct("(") or matching_paren(tokens, 1) != len(tokens) - 1:
        return False
    if tokens[0].is_word("VEC_FROM_TEXT"):
        return True
    if tokens[0].is_word("CAST", "CONVERT"):
        parts = conversion_parts(tokens[0], tokens[2:-1])
        return parts is not None and parts[1][0].is_word("VECTOR")
    return False
