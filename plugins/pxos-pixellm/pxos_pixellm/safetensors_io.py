"""Reading and writing the safetensors format with numpy alone.

The format is an 8-byte little-endian header length, a JSON header mapping
each tensor name to ``{"dtype", "shape", "data_offsets"}`` (plus an optional
``__metadata__`` of strings), then the raw little-endian tensor bytes.
numpy has no bfloat16, and the ``safetensors`` package's numpy API refuses
BF16 files, so this module reads BF16 itself (to float32) and writes it from
float32 with round-to-nearest-even.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Mapping

import numpy as np

from pxos_kernel import FormatError, atomic_writer

from .tensors import to_bf16

NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I8": "i1", "U8": "u1"}
DTYPE_CODES = {"float32": "F32", "float16": "F16", "bfloat16": "BF16", "float64": "F64"}
MAX_HEADER = 100 << 20


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str], dict[str, str]]:
    """Return (tensors as float32 where floating, original dtype names, the ``__metadata__``)."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise FormatError(f"{path}: too short to be a safetensors file")
        (header_len,) = struct.unpack("<Q", raw)
        if header_len > MAX_HEADER:
            raise FormatError(f"{path}: safetensors header of {header_len} bytes is not plausible")
        try:
            header = json.loads(f.read(header_len))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: unreadable safetensors header ({exc})") from None
        data = f.read()
    metadata = header.pop("__metadata__", None) or {}
    tensors, dtypes = {}, {}
    for name, spec in header.items():
        try:
            code, shape, (start, end) = spec["dtype"], tuple(spec["shape"]), spec["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"{path}: malformed header entry for tensor {name}") from None
        if not 0 <= start <= end <= len(data):
            raise FormatError(f"{path}: tensor {name} lies outside the file")
        chunk = data[start:end]
        if code == "BF16":
            array = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
            dtypes[name] = "bfloat16"
        elif code in NUMPY_DTYPES:
            array = np.frombuffer(chunk, dtype=NUMPY_DTYPES[code])
            dtypes[name] = np.dtype(NUMPY_DTYPES[code]).name
            if array.dtype.kind == "f":
                array = array.astype(np.float32)
        else:
            raise FormatError(f"{path}: tensor {name} has unsupported dtype {code}")
        if array.size != math.prod(shape):
            raise FormatError(f"{path}: tensor {name} has {array.size} values but shape {list(shape)}")
        tensors[name] = array.reshape(shape)
    return tensors, dtypes, metadata


def write_safetensors(path: Path, tensors: Mapping[str, np.ndarray], dtypes: Mapping[str, str],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write float tensors, each in ``dtypes[name]`` (float32, float16 or bfloat16), atomically."""
    header: dict = {"__metadata__": dict(metadata or {})} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        dtype = dtypes.get(name, "float32")
        values = np.ascontiguousarray(tensors[name], dtype=np.float32)
        if dtype == "bfloat16":
            blob = to_bf16(values.reshape(-1)).tobytes()
        elif dtype in ("float32", "float16", "float64"):
            blob = values.astype(np.dtype(dtype).newbyteorder("<")).tobytes()
        else:
            raise FormatError(f"cannot export tensor {name} as {dtype}")
        header[name] = {"dtype": DTYPE_CODES[dtype], "shape": list(values.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    encoded += b" " * (-len(encoded) % 8)  # the data starts 8-byte aligned
    with atomic_writer(os.fspath(path)) as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for blob in blobs:
            out.write(blob)
