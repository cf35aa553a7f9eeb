"""TiDB's VECTOR values on the embedded engine: parsed, validated and printed as TiDB does.

TiDB (``pkg/types/vector.go``) parses ``'[1, 2.5]'`` as a JSON array of numbers (``[]`` is the
empty vector), refuses NaN and infinities, keeps at most 16383 float32 elements, and prints each
element as its shortest float32 decimal without an exponent (``[1,2.5]``). Stored vectors are
little-endian float32 blobs (sqlite-vec's format).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ....catalog import MAX_VECTOR_DIMENSIONS
from ....codec import Float32Array
from ....exc import DimensionError, VectorTextError

#: The SQL function that checks and converts a value written into a VECTOR column (see tidb_sql.py).
STORE_FUNCTION = "TIDB_EMBED_VECTOR_STORE"
#: The SQL function comparing two vectors as TiDB does (-1, 0, 1), for rewritten comparisons.
COMPARE_FUNCTION = "TIDB_EMBED_VECTOR_COMPARE"


def parse_text(text: str | bytes) -> Float32Array:
    """``'[1, 2.5]'`` as float32, or TiDB's error."""
    source = text.decode("utf-8", "replace") if isinstance(text, (bytes, bytearray, memoryview)) else str(text)
    try:  # every number as a float64 (so -0 stays -0); NaN/Infinity are not JSON
        parsed = json.loads(source, parse_int=float, parse_constant=_not_json)
    except ValueError:
        raise VectorTextError(f"Invalid vector text: {source}") from None
    if not isinstance(parsed, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in parsed):
        raise VectorTextError(f"Invalid vector text: {source}")
    for value in parsed:
        if math.isnan(value):
            raise VectorTextError("NaN not allowed in vector")
        if math.isinf(value):
            raise VectorTextError("infinite value not allowed in vector")
    check_dims_valid(len(parsed))
    with np.errstate(over="ignore"):
        array = np.array(parsed, dtype=np.float64).astype(np.float32)
    if not np.isfinite(array).all():
        raise VectorTextError("infinite value not allowed in vector (beyond float32)")
    return array


def _not_json(constant: str) -> float:
    raise ValueError(constant)


def check_dims_valid(dims: int) -> None:
    if dims > MAX_VECTOR_DIMENSIONS:
        raise VectorTextError(f"vector cannot have more than {MAX_VECTOR_DIMENSIONS} dimensions")


def check_fits(array: Float32Array, dim: int | None) -> None:
    if dim is not None and dim >= 0 and array.shape[0] != dim:
        raise DimensionError(f"vector has {array.shape[0]} dimensions, does not fit VECTOR({dim})")


def from_value(value: Any) -> Float32Array:
    """A stored blob or a vector text as float32 (what TiDB's implicit cast accepts)."""
    if isinstance(value, (bytes, memoryview)):
        blob = bytes(value)
        if len(blob) % 4:
            raise VectorTextError(f"a float32 vector blob must be a multiple of 4 bytes, got {len(blob)}")
        return np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if isinstance(value, str):
        return parse_text(value)
    raise VectorTextError(f"Invalid vector text: {value}")


def to_blob(array: Float32Array) -> bytes:
    return array.astype("<f4", copy=False).tobytes()


def as_text(array: Float32Array) -> str:
    """TiDB's text form: ``strconv.AppendFloat(v, 'f', -1, 32)`` for each element."""
    return "[" + ",".join(np.format_float_positional(v, unique=True, trim="-") for v in array) + "]"


def store(value: Any, dim: int | None) -> bytes | None:
    """What a VECTOR(dim) column keeps for ``value`` written by SQL: a checked float32 blob."""
    if value is None:
        return None
    array = from_value(value)
    check_fits(array, dim)
    return to_blob(array)


def compare(left: Any, right: Any) -> int | None:
    """TiDB's order: element-wise numerically; a prefix (and the empty vector) sorts first."""
    if left is None or right is None:
        return None
    a, b = from_value(left).tolist(), from_value(right).tolist()
    for x, y in zip(a, b, strict=False):
        if x != y:
            return -1 if x < y else 1
    return (len(a) > len(b)) - (len(a) < len(b))
