"""Tensor encodings: lossless floats exactly, quantized ones within their error bound."""

from __future__ import annotations

import numpy as np
import pytest

from pxos_kernel import FormatError, IntegrityError
from pxos_pixellm.tensors import BLOCK, decode, encode


def roundtrip(values, encoding):
    data, scales = encode(values, encoding)
    return decode(data, {"name": "t", "shape": list(values.shape), "encoding": encoding, "scales": scales})


@pytest.fixture
def values():
    return np.random.default_rng(0).standard_normal((7, 45)).astype(np.float32)  # 315: not whole blocks


def test_fp32_is_exact(values):
    np.testing.assert_array_equal(roundtrip(values, "fp32"), values)


def test_fp16_is_exact_for_fp16_values(values):
    halves = values.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(roundtrip(halves, "fp16"), halves)


def test_bf16_is_exact_for_bf16_values_and_rounds_to_nearest(values):
    torch = pytest.importorskip("torch")
    reference = torch.from_numpy(values).to(torch.bfloat16).float().numpy()  # an independent rounding
    np.testing.assert_array_equal(roundtrip(values, "bf16"), reference)
    np.testing.assert_array_equal(roundtrip(reference, "bf16"), reference)


def test_int8_error_is_at_most_half_a_step_per_block(values):
    decoded = roundtrip(values, "int8")
    flat, out = values.reshape(-1), decoded.reshape(-1)
    for start in range(0, flat.size, BLOCK):
        block = flat[start:start + BLOCK]
        step = np.float32(np.float16(np.abs(block).max() / 127))
        assert np.abs(out[start:start + BLOCK] - block).max() <= step / 2 + 1e-3 * step


def test_uint8_error_is_at_most_half_a_level(values):
    decoded = roundtrip(values, "uint8")
    level = (values.max() - values.min()) / 255
    assert np.abs(decoded - values).max() <= level / 2 + 1e-6


def test_int8_keeps_an_all_zero_block_zero():
    zeros = np.zeros(64, dtype=np.float32)
    np.testing.assert_array_equal(roundtrip(zeros, "int8"), zeros)


def test_nan_weights_are_refused():
    with pytest.raises(FormatError, match="NaN"):
        encode(np.array([1.0, np.nan], dtype=np.float32), "fp16")


def test_nan_scale_is_an_integrity_error(values):
    data, scales = encode(values, "int8")
    broken = bytearray(data)
    broken[scales["offset"]: scales["offset"] + 2] = np.array([np.nan], dtype="<f2").tobytes()
    with pytest.raises(IntegrityError, match="scale of block 0"):
        decode(bytes(broken), {"name": "w", "shape": [7, 45], "encoding": "int8", "scales": scales})


def test_uint8_non_finite_min_max_is_an_integrity_error(values):
    data, _ = encode(values, "uint8")
    with pytest.raises(IntegrityError, match="not finite"):
        decode(data, {"name": "w", "shape": [7, 45], "encoding": "uint8", "scales": {"min": "nan", "max": 1.0}})


def test_wrong_length_for_shape_is_a_format_error(values):
    data, _ = encode(values, "fp16")
    with pytest.raises(FormatError, match="do not hold"):
        decode(data, {"name": "w", "shape": [7, 46], "encoding": "fp16", "scales": None})
