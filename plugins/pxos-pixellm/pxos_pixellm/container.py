"""Model containers: a Llama config and its tensors in a pixel container of kind ``model``.

The metadata (the PNG's ``pxos`` iTXt chunk) holds::

    {"kind": "model", "config": {...ModelConfig...},
     "tensors": [{"name", "shape", "dtype", "encoding", "offset", "length", "scales"}, ...],
     "info": {...free-form provenance: source, training record...}}

``offset``/``length`` locate a tensor's bytes in the payload (offsets are
64-byte aligned; the gaps are zeros). ``dtype`` is the dtype the tensor had
before it was stored (what export writes back); ``encoding`` says how it is
stored (see :mod:`pxos_pixellm.tensors`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from pxos_kernel.container import read_container, read_container_meta, write_container
from pxos_kernel.errors import FormatError, IntegrityError

from .config import ModelConfig
from .model import check_tensors
from .tensors import ENCODINGS, QUANTIZED_ENCODINGS, decode, encode, encoded_length

KIND = "model"
ALIGN = 64


@dataclass
class LoadedModel:
    """A model read from a container: config, float32 tensors, directory and provenance."""

    config: ModelConfig
    tensors: dict[str, np.ndarray]
    directory: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def encoding_for(name: str, values: np.ndarray, encoding: str) -> str:
    """The encoding one tensor gets when a model is saved as ``encoding``.

    Quantized encodings apply to matrices only: norm weights are a few
    hundred numbers whose exact values matter, so they stay fp32.
    """
    if encoding in QUANTIZED_ENCODINGS and values.ndim < 2:
        return "fp32"
    return encoding


def save_model(dest: str | os.PathLike, config: ModelConfig, tensors: Mapping[str, np.ndarray], *,
               encoding: str = "fp16", info: Mapping[str, Any] | None = None,
               dtypes: Mapping[str, str] | None = None, level: int = 0) -> dict:
    """Write ``tensors`` (name -> array) as a model container at ``dest``; return the metadata.

    ``dtypes`` names each tensor's original dtype (default: the array's own).
    ``level`` is the PNG's zlib level. The default 0 (stored blocks) is on
    purpose: trained weights are nearly incompressible (level 9 saves about
    8% on fp16) while inflating them costs 2-3x the load time
    (bench/pixellm_load.py).
    """
    if encoding not in ENCODINGS:
        raise FormatError(f"unknown encoding {encoding!r} (expected one of {', '.join(ENCODINGS)})")
    check_tensors(config, tensors, f"model for {os.fspath(dest)}")
    payload = bytearray()
    directory = []
    for name in sorted(tensors, key=_tensor_order):
        values = np.asarray(tensors[name])
        tensor_encoding = encoding_for(name, values, encoding)
        try:
            data, scales = encode(values, tensor_encoding)
        except FormatError as exc:
            raise FormatError(f"tensor {name}: {exc}") from None
        payload.extend(b"\0" * (-len(payload) % ALIGN))
        directory.append({"name": name, "shape": list(values.shape),
                          "dtype": (dtypes or {}).get(name, str(values.dtype)), "encoding": tensor_encoding,
                          "offset": len(payload), "length": len(data), "scales": scales})
        payload.extend(data)
    meta = {"config": config.to_dict(), "tensors": directory, "info": dict(info or {})}
    return write_container(dest, bytes(payload), kind=KIND, meta=meta, level=level)


def load_model(src: str | os.PathLike, *, verify: bool = True) -> LoadedModel:
    """Read and validate a model container; every tensor is decoded to float32.

    ``verify=False`` skips the payload's sha256 (zlib's adler32 and the PNG
    chunk CRCs still catch corruption; only a deliberate re-encoding of the
    pixels would go unnoticed).

    Raises FormatError (naming the file) when the directory does not match the
    payload or the config, IntegrityError for a bad checksum or NaN scales.
    """
    where = os.fspath(src)
    payload, meta = read_container(src, verify=verify)
    if meta.get("kind") != KIND:
        raise FormatError(f"{where}: a container of kind {meta.get('kind')!r}, not a model")
    config = ModelConfig.from_dict(meta.get("config"), where)
    directory = check_directory(meta.get("tensors"), len(payload), where)
    view = memoryview(payload)
    tensors = {}
    for entry in directory:
        try:
            tensors[entry["name"]] = decode(view[entry["offset"]: entry["offset"] + entry["length"]], entry)
        except (FormatError, IntegrityError) as exc:
            raise type(exc)(f"{where}: {exc}") from None
    check_tensors(config, tensors, where)
    return LoadedModel(config=config, tensors=tensors, directory=directory, info=meta.get("info") or {},
                       meta=meta)


def load_model_meta(src: str | os.PathLike) -> dict:
    """The metadata of a model container (config, directory), without decoding its payload."""
    meta = read_container_meta(src)
    if meta.get("kind") != KIND:
        raise FormatError(f"{os.fspath(src)}: a container of kind {meta.get('kind')!r}, not a model")
    return meta


def check_directory(directory: Any, payload_length: int, where: str) -> list[dict[str, Any]]:
    """Validate the tensor directory against the payload; return it."""
    if not isinstance(directory, list) or not directory:
        raise FormatError(f"{where}: the metadata has no tensor directory")
    seen = set()
    for entry in directory:
        if not isinstance(entry, dict) or not {"name", "shape", "encoding", "offset", "length"} <= set(entry):
            raise FormatError(f"{where}: malformed tensor directory entry {entry!r}")
        name = entry["name"]
        if name in seen:
            raise FormatError(f"{where}: tensor {name} is listed twice")
        seen.add(name)
        shape = entry["shape"]
        if not isinstance(shape, list) or not all(isinstance(n, int) and n > 0 for n in shape):
            raise FormatError(f"{where}: tensor {name} has an invalid shape {shape!r}")
        if entry["encoding"] not in ENCODINGS:
            raise FormatError(f"{where}: tensor {name} has unknown encoding {entry['encoding']!r}")
        offset, length = entry["offset"], entry["length"]
        if not (isinstance(offset, int) and isinstance(length, int) and offset >= 0 and length >= 0):
            raise FormatError(f"{where}: tensor {name} has an invalid offset/length {offset!r}/{length!r}")
        if offset + length > payload_length:
            raise FormatError(f"{where}: tensor {name} spans bytes {offset}..{offset + length} but the "
                              f"payload has only {payload_length}")
        needed = encoded_length(math.prod(shape), entry["encoding"])
        if length != needed:
            raise FormatError(f"{where}: tensor {name} has length {length} but shape {shape} in "
                              f"{entry['encoding']} needs {needed}")
    return directory


def _tensor_order(name: str) -> tuple:
    """Embeddings first, then layers in numeric order, then the final norm and head."""
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "layers" and parts[2].isdigit():
        return (1, int(parts[2]), name)
    return (0 if "embed" in name else 2, 0, name)
