"""The vector codec: exact for every finite float32, strict about everything else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tidb_embed_orm.codec import decode_bytes, decode_text, encode_bytes, encode_text
from tidb_embed_orm.exc import DimensionError, VectorValueError

finite_float32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
vectors = hnp.arrays(np.float32, st.integers(1, 64), elements=finite_float32)


@given(vectors)
def test_text_round_trip_is_bit_exact(vector):
    decoded = decode_text(encode_text(vector))
    assert decoded.dtype == np.float32
    assert decoded.tobytes() == vector.tobytes()  # every bit, signed zeros included


@given(vectors)
def test_bytes_round_trip_is_bit_exact(vector):
    assert decode_bytes(encode_bytes(vector)).tobytes() == vector.tobytes()


def test_text_form_has_no_spaces():
    assert encode_text([0.1, -2.5, 3]) == "[0.1,-2.5,3.0]"  # shortest float32 text: 0.1f reads back as 0.1f
    assert encode_text(np.array([0.5, 0.25], dtype=np.float32)) == "[0.5,0.25]"


def test_reads_the_servers_text_form():
    assert decode_text("[0.3,0.5,-0.1]").tolist() == pytest.approx([0.3, 0.5, -0.1])
    assert decode_text(b"[1,2]").tolist() == [1.0, 2.0]


@given(st.text(max_size=30))
def test_garbage_text_is_rejected(garbage):
    try:
        decoded = decode_text(garbage)
    except VectorValueError as exc:
        assert "vector" in str(exc)
    else:  # the few random strings that really are vectors
        assert garbage.strip().startswith("[") and np.isfinite(decoded).all()


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "not a vector"),
        ("1,2", "not a vector"),
        ("[1,2", "not a vector"),
        ("[]", "at least 1 dimension"),
        ("[1,,2]", "not a vector"),
        ("[1,abc]", "not a vector"),
        ("[1,nan]", "not a vector"),
        ('[1,"2"]', "not a number"),
        ("[1,null]", "not a number"),
        ("[[1,2]]", "not a number"),
        ("[true]", "not a number"),
        ("1.5", "not a vector"),
        ("[1e39]", "NaN and infinite"),
    ],
)
def test_bad_text_messages(text, message):
    with pytest.raises(VectorValueError, match=message):
        decode_text(text)


@pytest.mark.parametrize(
    "value, error, message",
    [
        ([1.0, float("nan")], VectorValueError, "NaN and infinite values are not allowed"),
        ([float("inf")], VectorValueError, "NaN and infinite"),
        ([[1.0, 2.0]], VectorValueError, "1-dimensional"),
        ([], VectorValueError, "at least 1 dimension"),
        (np.zeros(16384), VectorValueError, "at most 16383"),
        ("[1,2]", VectorValueError, "expected a vector"),
        (["a", "b"], VectorValueError, "cannot read"),
    ],
)
def test_bad_values_are_rejected(value, error, message):
    with pytest.raises(error, match=message):
        encode_text(value)


def test_wrong_dimension_uses_tidbs_words():
    with pytest.raises(DimensionError, match=r"vector has 2 dimensions, does not fit VECTOR\(3\)"):
        encode_text([1.0, 2.0], dim=3)


def test_float64_input_is_rounded_to_float32():
    assert decode_text(encode_text([0.1])).tolist() == [np.float32(0.1)]
