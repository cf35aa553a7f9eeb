"""The one vector codec: Python values <-> TiDB's text form and the embedded engine's float32 bytes.

TiDB sends and accepts ``[0.3,0.5,-0.1]``. ``orjson`` writes each float32 as its shortest
decimal that reads back to the same float32 (Ryu), and parses the server's text, both in native
code: measured in ``benchmarks/bench_codec.py`` against ``tidb-vector`` and ``pytidb``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from .catalog import MAX_VECTOR_DIMENSIONS
from .exc import DimensionError, VectorValueError

Float32Array = npt.NDArray[np.float32]
VectorLike = Float32Array | Sequence[float] | npt.NDArray[Any]


def to_array(value: Any, dim: int | None = None) -> Float32Array:
    """Validate a vector-like value and return it as a 1-D float32 array."""
    if isinstance(value, (str, bytes)):
        raise VectorValueError(f"expected a vector (numpy array or list of floats), got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise VectorValueError(f"cannot read {type(value).__name__} as a float32 vector: {exc}") from None
    if array.ndim != 1:
        raise VectorValueError(f"a vector must be 1-dimensional, got an array of shape {array.shape}")
    check_array(array, dim)
    return array


def check_array(array: Float32Array, dim: int | None) -> None:
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
    return to_array(value, dim).astype("<f4", copy=False).tobytes()


def decode_bytes(blob: bytes | memoryview) -> Float32Array:
    if len(blob) % 4:
        raise VectorValueError(f"a float32 vector blob must be a multiple of 4 bytes, got {len(blob)}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _preview(text: str | bytes | bytearray, limit: int = 40) -> str:
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", errors="replace")
    return repr(text if len(text) <= limit else text[:limit] + "...")
