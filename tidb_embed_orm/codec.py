"""The one vector codec: Python values <-> TiDB's text form and the embedded engine's float32 bytes.

TiDB sends and accepts ``[0.3,0.5,-0.1]``. We write each float32 with at most 9 significant
digits (``%.9g``), which is the shortest fixed width that round-trips every float32 exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import DimensionError, VectorValueError
from .models import MAX_VECTOR_DIMENSIONS

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


_formats: dict[int, str] = {}


def encode_text(value: Any, dim: int | None = None) -> str:
    """``[0.1,-2.5,...]``: the text TiDB parses, exact for float32."""
    array = to_array(value, dim)
    n = array.shape[0]
    template = _formats.get(n)
    if template is None:
        template = _formats[n] = "[" + ",".join(["%.9g"] * n) + "]"
    return template % tuple(array.tolist())


def decode_text(text: str | bytes, dim: int | None = None) -> Float32Array:
    """Parse TiDB's text form; garbage is a clear error, never a silent partial vector."""
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = bytes(text).decode("ascii", errors="replace")
    if not isinstance(text, str):
        raise VectorValueError(f"expected vector text like '[0.1,0.2]', got {type(text).__name__}")
    stripped = text.strip()
    if len(stripped) < 2 or stripped[0] != "[" or stripped[-1] != "]":
        raise VectorValueError(f"not a vector: {_preview(text)} (expected text like '[0.1,0.2]')")
    body = stripped[1:-1]
    if not body.strip():
        raise VectorValueError("a vector must have at least 1 dimension, got '[]'")
    parts = body.split(",")
    try:
        array = np.array(parts, dtype=np.float32)
    except ValueError:
        raise VectorValueError(f"not a vector: {_preview(text)} holds a value that is not a number") from None
    check_array(array, dim)
    return array


def encode_bytes(value: Any, dim: int | None = None) -> bytes:
    """Little-endian float32 bytes: the embedded engine's (and sqlite-vec's) storage form."""
    return to_array(value, dim).astype("<f4", copy=False).tobytes()


def decode_bytes(blob: bytes | memoryview) -> Float32Array:
    if len(blob) % 4:
        raise VectorValueError(f"a float32 vector blob must be a multiple of 4 bytes, got {len(blob)}")
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def _preview(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
