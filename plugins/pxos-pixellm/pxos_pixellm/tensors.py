"""How one tensor is laid out as bytes in a model container, and back.

Encodings (the ``encoding`` field of a tensor directory entry):

``fp32``, ``fp16``, ``bf16``
    Little-endian IEEE floats (bf16: the top half of an fp32, rounded to
    nearest even). fp32 is lossless; fp16/bf16 are lossless for weights that
    were trained or stored in that precision.
``int8``
    Symmetric int8 in blocks of 32 values with one fp16 scale a block:
    ``value = q * scale``. The int8 codes come first (padded to a whole
    block), the fp16 scales follow; the entry's ``scales`` gives their
    ``offset`` and ``count``.
``uint8``
    The seed's per-tensor baseline: ``value = min + q * (max - min) / 255``;
    ``scales`` holds ``{"min": ..., "max": ...}``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from pxos_kernel import FormatError, IntegrityError

FLOAT_ENCODINGS = ("fp32", "fp16", "bf16")
QUANTIZED_ENCODINGS = ("int8", "uint8")
ENCODINGS = FLOAT_ENCODINGS + QUANTIZED_ENCODINGS
BLOCK = 32


def encode(values: np.ndarray, encoding: str) -> tuple[bytes, Any]:
    """Encode ``values`` (any float array); return the bytes and the ``scales`` entry (or None)."""
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(flat)):
        raise FormatError("cannot store a tensor holding NaN or infinity")
    if encoding == "fp32":
        return flat.astype("<f4").tobytes(), None
    if encoding == "fp16":
        return flat.astype("<f2").tobytes(), None
    if encoding == "bf16":
        return to_bf16(flat).tobytes(), None
    if encoding == "int8":
        padded = np.zeros(math.ceil(len(flat) / BLOCK) * BLOCK, dtype=np.float32)
        padded[: len(flat)] = flat
        blocks = padded.reshape(-1, BLOCK)
        # The scale is rounded to fp16 first and the codes computed with the
        # rounded scale, so decoding reproduces exactly what was measured.
        scales = (np.abs(blocks).max(axis=1) / 127.0).astype(np.float16)
        safe = np.where(scales == 0, np.float16(1), scales).astype(np.float32)
        codes = np.clip(np.rint(blocks / safe[:, None]), -127, 127).astype(np.int8)
        return codes.tobytes() + scales.astype("<f2").tobytes(), {"offset": codes.size, "count": len(scales)}
    if encoding == "uint8":
        low, high = float(flat.min()), float(flat.max())
        span = high - low or 1.0
        codes = np.clip(np.rint((flat - low) / span * 255.0), 0, 255).astype(np.uint8)
        return codes.tobytes(), {"min": low, "max": high}
    raise FormatError(f"unknown tensor encoding {encoding!r} (expected one of {', '.join(ENCODINGS)})")


def encoded_length(count: int, encoding: str) -> int:
    """How many bytes ``count`` values take in ``encoding``."""
    if encoding == "fp32":
        return 4 * count
    if encoding in ("fp16", "bf16"):
        return 2 * count
    if encoding == "int8":
        blocks = math.ceil(count / BLOCK)
        return blocks * BLOCK + 2 * blocks
    if encoding == "uint8":
        return count
    raise FormatError(f"unknown tensor encoding {encoding!r} (expected one of {', '.join(ENCODINGS)})")


def decode(data: bytes | memoryview, entry: Mapping[str, Any]) -> np.ndarray:
    """Decode one directory entry's bytes into a float32 array of the entry's shape.

    Raises FormatError for a length that does not fit the shape and
    IntegrityError for NaN/infinite scales or values.
    """
    name, encoding, shape = entry["name"], entry["encoding"], tuple(entry["shape"])
    count = math.prod(shape)
    if len(data) != encoded_length(count, encoding):
        raise FormatError(f"tensor {name}: {len(data)} bytes do not hold {shape} values in {encoding} "
                          f"(need {encoded_length(count, encoding)})")
    if encoding == "fp32":
        out = np.frombuffer(data, dtype="<f4").astype(np.float32)
    elif encoding == "fp16":
        out = np.frombuffer(data, dtype="<f2").astype(np.float32)
    elif encoding == "bf16":
        out = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    elif encoding == "int8":
        scales_entry = entry.get("scales") or {}
        blocks = math.ceil(count / BLOCK)
        if scales_entry.get("offset") != blocks * BLOCK or scales_entry.get("count") != blocks:
            raise FormatError(f"tensor {name}: int8 scales entry {scales_entry!r} does not match "
                              f"{blocks} blocks of {BLOCK}")
        codes = np.frombuffer(data, dtype=np.int8, count=blocks * BLOCK).reshape(blocks, BLOCK)
        scales = np.frombuffer(data, dtype="<f2", offset=blocks * BLOCK).astype(np.float32)
        if not np.all(np.isfinite(scales)):
            bad = int(np.flatnonzero(~np.isfinite(scales))[0])
            raise IntegrityError(f"tensor {name}: scale of block {bad} is {scales[bad]} (NaN or infinite)")
        out = (codes.astype(np.float32) * scales[:, None]).reshape(-1)[:count]
    elif encoding == "uint8":
        scales_entry = entry.get("scales") or {}
        low, high = scales_entry.get("min"), scales_entry.get("max")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (low, high)):
            raise IntegrityError(f"tensor {name}: uint8 min/max scales {low!r}, {high!r} are not finite numbers")
        span = (float(high) - float(low)) or 1.0  # type: ignore[arg-type]  # both checked finite numbers above
        out = np.float32(low) + np.frombuffer(data, dtype=np.uint8).astype(np.float32) * np.float32(span / 255.0)
    else:
        raise FormatError(f"tensor {name}: unknown encoding {encoding!r}")
    if not np.all(np.isfinite(out)):
        raise IntegrityError(f"tensor {name}: holds NaN or infinite values")
    return out.reshape(shape)


def decode_tensor(entry: Any, data: bytes | memoryview) -> np.ndarray:
    """Public form of :func:`decode`: a :class:`~pxos_pixellm.container.TensorEntry` (or its dict) and its bytes."""
    return decode(data, entry.to_dict() if hasattr(entry, "to_dict") else entry)


def to_bf16(flat: np.ndarray) -> np.ndarray:
    """Round float32 to bfloat16 (nearest, ties to even), returned as uint16 bit patterns."""
    bits = flat.view(np.uint32).astype(np.uint64)
    rounding = 0x7FFF + ((bits >> 16) & 1)
    return ((bits + rounding) >> 16).astype("<u2")
