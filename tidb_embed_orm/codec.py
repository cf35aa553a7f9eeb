"""The one vector codec: Python values <-> TiDB's text form and the embedded engine's float32 bytes.

TiDB sends and accepts ``[0.3,0.5,-0.1]``. ``orjson`` writes each float32 as its shortest
decimal that reads back to the same float32 (Ryu), and parses the server's text, both in native
code: measured in ``benchmarks/bench_codec.py`` against ``tidb-vector`` and ``pytidb``.

Two sets of rules, one module:

- values bound from Python (``encode_*`` / ``decode_*``, ``decode_stored``): this library's own
  messages (:class:`VectorValueError`, :class:`DimensionError`);
- vector text written by hand in SQL on the embedded engine (``parse_sql_text``,
  ``sql_value``, ``format_sql_text``): TiDB's rules and TiDB's own messages
  (``pkg/types/vector.go``: ``'[1, 2.5]'`` is a JSON array of numbers, ``[]`` the empty vector, NaN and
  infinities refused, at most 16383 float32 elements, printed as the shortest float32 decimal
  without an exponent), as :class:`VectorTextError`.

Every other module (the dialects' wire formats, the embedded engine's SQL functions, its vector
index) is a thin adapter over these functions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from .catalog import MAX_VECTOR_DIMENSIONS
from .exc import DimensionError, VectorTextError, VectorValueError

Float32Array = npt.NDArray[np.float32]
VectorLike = Float32Array | Sequence[float] | npt.NDArray[Any]


def to_array(value: Any, dim: int | None = None) -> Float32Array:
    """Validate a vector-like value and return it as a 1-D float32 array."""
    if isinstance(value, (str, bytes)):
        raise VectorValueError(f"expected a vector (numpy array or list of floats), got {type(value).__name__}")
    try:
        with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below with TiDB's message
            array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise VectorValueError(f"cannot read {type(value).__name__} as a float32 vector: {exc}") from None
    if array.ndim != 1:
        raise VectorValueError(f"a vector must be 1-dimensional, got an array of shape {array.shape}")
    check_array(array, dim)
    return array


def check_array(array: Float32Array, dim: int | None) -> None:
    """Refuse what TiDB would: empty, over 16383 dimensions, a wrong dimension, NaN or infinity."""
    n = array.shape[0]
    if n == 0:
        raise VectorValueError("a vector must have at least 1 dimension, got an empty one")
    if n > MAX_VECTOR_DIMENSIONS:
        raise VectorValueError(f"a vector has at most {MAX_VECTOR_DIMENSIONS} dimensions, got {n}")
    if dim is not None and n != dim:
        raise DimensionError(f"vector has {n} dimensions, does not fit VECTOR({dim})")
    if not np.isfinite(array).all():
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise VectorValueError(
            f"vector holds {array[bad]} at index {bad}: NaN and infinite values are not allowed in TiDB vectors"
        )


_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def encode_text(value: Any, dim: int | None = None) -> str:
    """``[0.1,-2.5,...]``: the text TiDB parses, shortest and exact for float32."""
    array = np.ascontiguousarray(to_array(value, dim))
    return orjson.dumps(array, option=_NUMPY).decode("ascii")


def decode_text(text: str | bytes, dim: int | None = None) -> Float32Array:
    """Parse TiDB's text form; garbage is a clear error, never a silent partial vector."""
    if isinstance(text, memoryview):
        text = bytes(text)
    if not isinstance(text, (str, bytes, bytearray)):
        raise VectorValueError(f"expected vector text like '[0.1,0.2]', got {type(text).__name__}")
    try:
        parsed = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise VectorValueError(f"not a vector: {_preview(text)} (expected text like '[0.1,0.2]')") from None
    if not isinstance(parsed, list):
        raise VectorValueError(f"not a vector: {_preview(text)} (expected text like '[0.1,0.2]')")
    numbers = np.array(parsed)
    if numbers.ndim != 1 or numbers.dtype.kind not in "fiu":
        raise VectorValueError(f"not a vector: {_preview(text)} holds a value that is not a number")
    with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused below
        array = numbers.astype(np.float32)
    check_array(array, dim)
    return array


def encode_bytes(value: Any, dim: int | None = None) -> bytes:
    """Little-endian float32 bytes: the embedded engine's (and sqlite-vec's) storage form."""
    return float32_bytes(to_array(value, dim))


def decode_bytes(blob: bytes | memoryview, error: type[VectorValueError] = VectorValueError) -> Float32Array:
    """A float32 array from the embedded engine's little-endian float32 bytes."""
    if len(blob) % 4:
        raise error(f"a float32 vector blob must be a multiple of 4 bytes, got {len(blob)}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def decode_stored(value: str | bytes | memoryview) -> Float32Array:
    """A vector as the embedded engine keeps it: a float32 blob, or (written by hand) its text."""
    return decode_bytes(value) if isinstance(value, (bytes, memoryview)) else decode_text(value)


# --- TiDB's rules for vector text written in SQL ------------------------------------------------


def parse_sql_text(text: str | bytes) -> Float32Array:
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
    check_sql_dims(len(parsed))
    with np.errstate(over="ignore"):
        array = np.array(parsed, dtype=np.float64).astype(np.float32)
    if not np.isfinite(array).all():
        raise VectorTextError("infinite value not allowed in vector (beyond float32)")
    return array


def _not_json(constant: str) -> float:
    raise ValueError(constant)


def check_sql_dims(dims: int) -> None:
    """TiDB's refusal of a VECTOR(n) type or a vector text longer than it allows."""
    if dims > MAX_VECTOR_DIMENSIONS:
        raise VectorTextError(f"vector cannot have more than {MAX_VECTOR_DIMENSIONS} dimensions")


def check_sql_fits(array: Float32Array, dim: int | None) -> None:
    """TiDB's refusal of a vector written into a VECTOR(dim) column of another size."""
    if dim is not None and dim >= 0 and array.shape[0] != dim:
        raise DimensionError(f"vector has {array.shape[0]} dimensions, does not fit VECTOR({dim})")


def sql_value(value: Any) -> Float32Array:
    """A stored blob or a vector text as float32 (what TiDB's implicit cast accepts), TiDB's errors otherwise."""
    if isinstance(value, (bytes, memoryview)):
        return decode_bytes(bytes(value), VectorTextError)
    if isinstance(value, str):
        return parse_sql_text(value)
    raise VectorTextError(f"Invalid vector text: {value}")


def float32_bytes(array: Float32Array) -> bytes:
    """An already checked float32 array as little-endian bytes (``encode_bytes`` without the checks)."""
    return array.astype("<f4", copy=False).tobytes()


def format_sql_text(array: Float32Array) -> str:
    """TiDB's text form: ``strconv.AppendFloat(v, 'f', -1, 32)`` for each element."""
    return "[" + ",".join(np.format_float_positional(v, unique=True, trim="-") for v in array) + "]"


def _preview(text: str | bytes | bytearray, limit: int = 40) -> str:
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", errors="replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")
