"""Model containers: a config, a tensor directory, tensors and a tokenizer in one pixel container (public API).

A model is a pixel container (:mod:`pxos_kernel.container`) of kind
``model``: an ordinary RGB PNG. Its metadata (the PNG's ``pxos`` iTXt chunk)
holds::

    {"kind": "model",
     "config": {...ModelConfig...},
     "tensors": [{"name", "shape", "dtype", "encoding", "offset", "length", "scales"}, ...],
     "tokenizer": {"kind": "bytes" | "hf" | "none", ...},
     "info": {...free-form provenance: source, training record...}}

``offset``/``length`` locate a tensor's stored bytes in the payload (offsets
are 64-byte aligned; the gaps are zeros). ``dtype`` is the dtype the tensor
had before it was stored (what export writes back); ``encoding`` says how it
is stored (:mod:`pxos_pixellm.tensors`). A ``hf`` tokenizer's
``tokenizer.json`` is stored in the payload after the tensors, located by
the section's own ``offset``/``length``/``sha256``.

Reading::

    model = open_model("m.pxi")          # one pass over the PNG; directory validated
    model.config, model.tensors           # ModelConfig, [TensorEntry]
    model.raw("model.norm.weight")        # the stored bytes, not converted
    model.array("model.norm.weight")      # float32 values
    model.tokenizer()                     # the stored tokenizer
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

import numpy as np

from pxos_kernel import FormatError, IntegrityError
from pxos_kernel.container import read_container_buffer, read_container_meta, write_container

from .config import ModelConfig
from .model import check_shapes
from .tensors import BLOCK, ENCODINGS, QUANTIZED_ENCODINGS, decode, encode, encoded_length

KIND = "model"
ALIGN = 64


@dataclass(frozen=True)
class TensorEntry:
    """One entry of a model container's tensor directory."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    encoding: str
    offset: int
    length: int
    scales: Any = None

    @property
    def count(self) -> int:
        """Number of values."""
        return math.prod(self.shape)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "encoding": self.encoding,
                "offset": self.offset, "length": self.length, "scales": self.scales}


class ModelFile:
    """An opened model container: its config, tensor directory, tokenizer and payload bytes."""

    def __init__(self, path: str, payload: "bytes | bytearray | memoryview", meta: dict) -> None:
        if meta.get("kind") != KIND:
            raise FormatError(f"{path}: a container of kind {meta.get('kind')!r}, not a model")
        self.path = path
        self.meta = meta
        self.payload = memoryview(payload)
        self.config = ModelConfig.from_dict(meta.get("config"), path)
        self.tensors = check_directory(meta.get("tensors"), len(payload), path)
        self._by_name = {entry.name: entry for entry in self.tensors}
        check_shapes(self.config, {e.name: e.shape for e in self.tensors}, path)
        self.tokenizer_section = tokenizer_section_of(meta, self.config, path)
        span = _span(self.tokenizer_section, len(payload), path)
        self._tokenizer_blob = None if span is None else bytes(self.payload[span[0]:span[1]])
        self._tokenizer: Any = None

    @property
    def sha256(self) -> str:
        """The payload's sha256 as recorded in the container (checked when opened with ``verify``)."""
        return self.meta["sha256"]

    @property
    def info(self) -> dict:
        return self.meta.get("info") or {}

    def entry(self, name: str) -> TensorEntry:
        try:
            return self._by_name[name]
        except KeyError:
            raise FormatError(f"{self.path}: no tensor named {name!r} (see `model info`)") from None

    def raw(self, name: str) -> memoryview:
        """The tensor's bytes exactly as stored (see :mod:`pxos_pixellm.tensors` for each encoding)."""
        entry = self.entry(name)
        return self.payload[entry.offset: entry.offset + entry.length]

    def array(self, name: str) -> np.ndarray:
        """The tensor decoded to float32."""
        entry = self.entry(name)
        try:
            return decode(self.raw(name), entry.to_dict())
        except (FormatError, IntegrityError) as exc:
            raise type(exc)(f"{self.path}: {exc}") from None

    def arrays(self) -> Iterator[tuple[str, np.ndarray]]:
        for entry in self.tensors:
            yield entry.name, self.array(entry.name)

    def tokenizer_json(self) -> Optional[bytes]:
        """The stored ``tokenizer.json`` bytes (``hf`` tokenizers only)."""
        return self._tokenizer_blob

    def tokenizer(self) -> Any:
        """The model's tokenizer (:mod:`pxos_pixellm.tokenizer`), or ``None`` for kind ``none``."""
        if self._tokenizer is None and self.tokenizer_section["kind"] != "none":
            from .tokenizer import check_tokenizer_fits, tokenizer_from_section

            tokenizer = tokenizer_from_section(self.tokenizer_section, self._tokenizer_blob, self.path)
            check_tokenizer_fits(tokenizer, self.config.vocab_size, self.path)
            self._tokenizer = tokenizer
        return self._tokenizer


@dataclass
class LoadedModel:
    """A model read from a container: config, float32 tensors, directory, tokenizer section, provenance."""

    config: ModelConfig
    tensors: dict[str, np.ndarray]
    directory: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    tokenizer: Optional[tuple[dict, Optional[bytes]]] = None


def open_model(src: str | os.PathLike, *, verify: bool = True) -> ModelFile:
    """Read and validate a model container (one pass over the PNG).

    ``verify=False`` skips the payload's sha256 (the PNG chunk CRC-32s and
    zlib's Adler-32 still catch corruption; only a deliberate re-encoding of
    the pixels would go unnoticed).

    Raises FormatError (naming the file) when the directory does not match the
    payload or the config, IntegrityError for a bad checksum.
    """
    where = os.fspath(src)
    # Inflated (or, for stored blocks, copied) into its final buffer, which the engine views in place. numpy's
    # buffer is not zeroed first and gets huge pages: a few page faults instead of one per 4 KiB filled.
    payload, meta = read_container_buffer(src, verify=verify, allocate=_empty_bytes)
    return ModelFile(where, payload, meta)


def _empty_bytes(count: int) -> np.ndarray:
    return np.empty(count, dtype=np.uint8)


def load_model(src: str | os.PathLike, *, verify: bool = True) -> LoadedModel:
    """Read a model container with every tensor decoded to float32 (for conversion, evaluation, export)."""
    model = open_model(src, verify=verify)
    tensors = dict(model.arrays())
    return LoadedModel(config=model.config, tensors=tensors, directory=[e.to_dict() for e in model.tensors],
                       info=model.info, meta=model.meta,
                       tokenizer=(dict(model.tokenizer_section), model.tokenizer_json()))


def read_model_meta(src: str | os.PathLike) -> dict:
    """The metadata of a model container (config, directory, tokenizer section) without inflating its payload."""
    meta = read_container_meta(src)
    if meta.get("kind") != KIND:
        raise FormatError(f"{os.fspath(src)}: a container of kind {meta.get('kind')!r}, not a model")
    return meta


load_model_meta = read_model_meta  # the name earlier releases used


def encoding_for(name: str, values: np.ndarray, encoding: str) -> str:
    """The encoding one tensor gets when a model is saved as ``encoding``.

    Quantized encodings apply to matrices only: norm weights and biases are a
    few hundred numbers whose exact values matter, so they stay fp32. int8
    also needs rows made of whole blocks (the engine computes on the blocks).
    """
    if encoding in QUANTIZED_ENCODINGS and (values.ndim < 2 or (encoding == "int8" and values.shape[-1] % BLOCK)):
        return "fp32"
    return encoding


def save_model(dest: str | os.PathLike, config: ModelConfig, tensors: Mapping[str, np.ndarray], *,
               encoding: str = "fp16", info: Mapping[str, Any] | None = None,
               dtypes: Mapping[str, str] | None = None, level: int = 0,
               tokenizer: Optional[tuple[Mapping[str, Any], Optional[bytes]]] = None) -> dict:
    """Write ``tensors`` (name -> array) as a model container at ``dest``; return the metadata.

    ``tokenizer`` is ``(section, tokenizer.json bytes or None)`` (see
    :func:`pxos_pixellm.tokenizer.tokenizer_section`); without it the section
    is ``{"kind": config.tokenizer}``. ``dtypes`` names each tensor's original
    dtype (default: the array's own). ``level`` is the PNG's zlib level. The
    default 0 (stored blocks) is on purpose: trained weights are nearly
    incompressible (level 9 saves about 8% on fp16) while inflating them
    costs 2-3x the load time (bench/pixellm_load.py).
    """
    where = f"model for {os.fspath(dest)}"
    if encoding not in ENCODINGS:
        raise FormatError(f"unknown encoding {encoding!r} (expected one of {', '.join(ENCODINGS)})")
    check_shapes(config, {name: tuple(np.shape(t)) for name, t in tensors.items()}, where)
    section: dict[str, Any] = dict(tokenizer[0]) if tokenizer else {"kind": config.tokenizer}
    blob = tokenizer[1] if tokenizer else None
    if section.get("kind") != config.tokenizer:
        raise FormatError(f"{where}: the config says tokenizer {config.tokenizer!r} but the tokenizer given is "
                          f"{section.get('kind')!r}")
    if blob is not None:
        from .tokenizer import check_tokenizer_fits, tokenizer_from_section

        check_tokenizer_fits(tokenizer_from_section(section, blob, where), config.vocab_size, where)
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
    if blob is not None:
        payload.extend(b"\0" * (-len(payload) % ALIGN))
        section["offset"], section["length"] = len(payload), len(blob)
        payload.extend(blob)
    meta = {"config": config.to_dict(), "tensors": directory, "tokenizer": section, "info": dict(info or {})}
    return write_container(dest, bytes(payload), kind=KIND, meta=meta, level=level)


def check_directory(directory: Any, payload_length: int, where: str) -> list[TensorEntry]:
    """Validate the tensor directory against the payload; return its entries."""
    if not isinstance(directory, list) or not directory:
        raise FormatError(f"{where}: the metadata has no tensor directory")
    seen = set()
    entries = []
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
        entries.append(TensorEntry(name=name, shape=tuple(shape), dtype=str(entry.get("dtype", "float32")),
                                   encoding=entry["encoding"], offset=offset, length=length,
                                   scales=entry.get("scales")))
    return entries


def tokenizer_section_of(meta: Mapping[str, Any], config: ModelConfig, where: str) -> dict:
    """The container's tokenizer section; containers written before it existed get ``{"kind": config.tokenizer}``."""
    section = meta.get("tokenizer")
    if section is None:
        return {"kind": config.tokenizer}
    if not isinstance(section, dict) or section.get("kind") != config.tokenizer:
        raise FormatError(f"{where}: its tokenizer section {section!r} does not match the config's tokenizer "
                          f"{config.tokenizer!r}")
    return section


def _span(section: Mapping[str, Any], payload_length: int, where: str) -> Optional[tuple[int, int]]:
    if section.get("kind") != "hf":
        return None
    offset, length = section.get("offset"), section.get("length")
    if not (isinstance(offset, int) and isinstance(length, int) and offset >= 0 and length > 0
            and offset + length <= payload_length):
        raise FormatError(f"{where}: its stored tokenizer.json span {offset!r}+{length!r} lies outside the "
                          f"payload of {payload_length} bytes")
    return offset, offset + length


def _tensor_order(name: str) -> tuple:
    """Embeddings first, then layers in numeric order, then the final norm and head."""
    parts = name.split(".")
    if len(parts) > 2 and parts[1] == "layers" and parts[2].isdigit():
        return (1, int(parts[2]), name)
    return (0 if "embed" in name else 2, 0, name)
