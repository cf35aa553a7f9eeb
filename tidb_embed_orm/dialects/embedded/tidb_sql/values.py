"""TiDB's VECTOR values written by SQL on the embedded engine: the SQL functions' side of the codec.

Parsing, checking and printing follow TiDB's rules in :mod:`tidb_embed_orm.codec` (``parse_sql_text``,
``sql_value``, ``format_sql_text``); this module only adds what the statement rewrites and triggers
call: the conversion of a written value into a VECTOR(n) column's blob, and TiDB's vector order.
"""

from __future__ import annotations

from typing import Any

from ....codec import check_sql_fits, float32_bytes, sql_value

#: The SQL function that checks and converts a value written into a VECTOR column (see triggers.py).
STORE_FUNCTION = "TIDB_EMBED_VECTOR_STORE"
#: The SQL function comparing two vectors as TiDB does (-1, 0, 1), for rewritten comparisons.
COMPARE_FUNCTION = "TIDB_EMBED_VECTOR_COMPARE"


def store(value: Any, dim: int | None) -> bytes | None:
    """What a VECTOR(dim) column keeps for ``value`` written by SQL: a checked float32 blob."""
    if value is None:
        return None
    array = sql_value(value)
    check_sql_fits(array, dim)
    return float32_bytes(array)


def compare(left: Any, right: Any) -> int | None:
    """TiDB's order: element-wise numerically; a prefix (and the empty vector) sorts first."""
    if left is None or right is None:
        return None
    a, b = sql_value(left).tolist(), sql_value(right).tolist()
    for x, y in zip(a, b, strict=False):
        if x != y:
            return -1 if x < y else 1
    return (len(a) > len(b)) - (len(a) < len(b))
