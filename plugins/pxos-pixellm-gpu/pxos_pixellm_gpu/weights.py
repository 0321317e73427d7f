"""Weights onto the GPU as the PNG stores them: each tensor's payload bytes, unconverted.

Every tensor of the model container's directory becomes one storage buffer
holding its payload bytes (int8 tensors two: the codes, then the fp16
scales). Nothing is decoded, widened or reordered on the host; the kernels
decode on the fly (:mod:`pxos_pixellm_gpu.decode`). The only bytes added are
up to three zeros that round a buffer to a whole 32-bit word.

A matrix larger than the adapter's largest storage binding is split by rows
into chunks of a multiple of 32 rows (so an int8 chunk starts on a block),
each chunk its own buffer of the same payload bytes; kernels run once per
chunk. A vector (a norm or a bias) that does not fit is refused with the sizes.

Every upload is recorded (:class:`UploadRecord`): which payload bytes went
into which buffer, so a test or a genesis check can read the buffers back
from the GPU and compare them with the payload.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from pxos_kernel import InferenceError

from .decode import BLOCK, check_encoding

_VALUE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2}


@dataclass(frozen=True)
class UploadRecord:
    """One buffer's worth of payload bytes: ``payload[offset:offset + length]`` of tensor ``tensor``."""

    tensor: str
    part: str  # "values", "codes" or "scales"
    offset: int
    length: int
    buffer: Any = field(repr=False, compare=False)


@dataclass
class Chunk:
    """Rows ``row0 .. row0 + rows`` of a tensor: its values (or int8 codes) and, for int8, its scales."""

    row0: int
    rows: int
    values: Any
    scales: Optional[Any] = None

    def bindings(self, slot: int) -> dict[int, Any]:
        """This chunk's buffers at the bindings of weight slot ``slot`` (see :mod:`pxos_pixellm_gpu.decode`)."""
        found = {2 * slot: self.values}
        if self.scales is not None:
            found[2 * slot + 1] = self.scales
        return found


@dataclass
class GpuTensor:
    """A tensor in GPU buffers: name, shape, encoding and its row chunks."""

    name: str
    shape: tuple[int, ...]
    encoding: str
    chunks: list[Chunk]

    @property
    def rows(self) -> int:
        return self.shape[0]

    @property
    def cols(self) -> int:
        return math.prod(self.shape[1:]) if len(self.shape) > 1 else 1


@dataclass
class Upload:
    """Every tensor of a model in GPU buffers, and the record of what was written where."""

    tensors: dict[str, GpuTensor]
    records: list[UploadRecord]
    payload_length: int

    @property
    def bytes_uploaded(self) -> int:
        """Payload bytes written to the GPU (the word padding not counted)."""
        return sum(r.length for r in self.records)

    def verify(self, queue: Any, payload: "bytes | memoryview", tensors: Optional[Sequence[str]] = None) -> list[dict]:
        """Read each buffer back from the GPU and compare it with the payload bytes it came from.

        Returns one row per buffer: tensor, part, offset, length, the sha256 of
        the payload slice and of the bytes on the GPU, and whether they match.
        """
        view = memoryview(payload)
        rows = []
        for record in self.records:
            if tensors is not None and record.tensor not in tensors:
                continue
            on_gpu = bytes(queue.read_buffer(record.buffer, 0, record.buffer.size))[: record.length]
            expected = hashlib.sha256(view[record.offset: record.offset + record.length]).hexdigest()
            found = hashlib.sha256(on_gpu).hexdigest()
            rows.append({"tensor": record.tensor, "part": record.part, "offset": record.offset,
                         "length": record.length, "payload_sha256": expected, "gpu_sha256": found,
                         "equal": expected == found})
        return rows


def buffer_limit(kernels: Any, configured: Optional[int]) -> tuple[int, str]:
    """The largest buffer to make (the adapter's binding limit, or the configured one below it), and its name."""
    adapter_limit = kernels.gpu.max_binding
    if configured is not None and configured < adapter_limit:
        return configured, f"the configured max_buffer_bytes ({configured} bytes)"
    return adapter_limit, f"this adapter's largest storage buffer ({adapter_limit} bytes)"


def chunk_rows(name: str, shape: Sequence[int], encoding: str, limit: int, limit_text: str) -> int:
    """Rows per chunk for a tensor in buffers of at most ``limit`` bytes (all rows when it fits).

    ``limit_text`` names the limit in the error for a tensor that cannot fit.
    """
    rows = shape[0]
    cols = math.prod(shape[1:]) if len(shape) > 1 else 1
    row_bytes = cols * _VALUE_BYTES.get(encoding, 1)
    if _buffer_bytes(rows * cols, encoding) <= limit:
        return rows
    if len(shape) < 2:
        raise InferenceError(f"tensor {name} takes {_buffer_bytes(rows * cols, encoding)} bytes, more than "
                             f"{limit_text}, and a vector cannot be split")
    per_chunk = (limit // max(1, row_bytes)) // BLOCK * BLOCK
    if per_chunk == 0:
        raise InferenceError(f"tensor {name}: {BLOCK} rows take {BLOCK * row_bytes} bytes, more than {limit_text}")
    return per_chunk


def _buffer_bytes(count: int, encoding: str) -> int:
    return count * _VALUE_BYTES.get(encoding, 1)


def upload(kernels: Any, payload: "bytes | memoryview", directory: Sequence[Mapping[str, Any]],
           names: Optional[Sequence[str]] = None, limit: Optional[int] = None) -> Upload:
    """Put the payload bytes of the named tensors (default: all) into GPU buffers.

    ``limit`` caps one buffer's size (default: the adapter's binding limit).
    Raises InferenceError for an encoding the kernels cannot read, a tensor
    that cannot fit, or a device that refuses the memory.
    """
    view = memoryview(payload)
    limit, limit_text = buffer_limit(kernels, limit)
    wanted = set(names) if names is not None else None
    entries = [e for e in directory if wanted is None or e["name"] in wanted]
    for entry in entries:
        check_encoding(entry["name"], entry["encoding"])
    tensors: dict[str, GpuTensor] = {}
    records: list[UploadRecord] = []
    for entry in entries:
        name, encoding, shape = entry["name"], entry["encoding"], tuple(entry["shape"])
        rows = shape[0]
        cols = math.prod(shape[1:]) if len(shape) > 1 else 1
        per_chunk = chunk_rows(name, shape, encoding, limit, limit_text)
        chunks = []
        for row0 in range(0, rows, per_chunk):
            row1 = min(rows, row0 + per_chunk)
            if encoding == "int8":
                blocks = math.ceil(rows * cols / BLOCK)
                first, last = row0 * cols, (row1 * cols if row1 < rows else blocks * BLOCK)
                codes = _put(kernels, records, view, name, "codes", entry["offset"] + first, last - first)
                s_first, s_last = first // BLOCK, (last // BLOCK)
                scales = _put(kernels, records, view, name, "scales",
                              entry["offset"] + blocks * BLOCK + 2 * s_first, 2 * (s_last - s_first))
                chunks.append(Chunk(row0, row1 - row0, codes, scales))
            else:
                size = _VALUE_BYTES[encoding]
                values = _put(kernels, records, view, name, "values", entry["offset"] + row0 * cols * size,
                              (row1 - row0) * cols * size)
                chunks.append(Chunk(row0, row1 - row0, values))
        tensors[name] = GpuTensor(name, shape, encoding, chunks)
    return Upload(tensors, records, len(view))


def _put(kernels: Any, records: list, view: memoryview, tensor: str, part: str, offset: int, length: int) -> Any:
    """One storage buffer holding ``view[offset:offset + length]`` (rounded up to whole words with zeros)."""
    data = view[offset: offset + length]
    if length % 4:
        data = memoryview(bytes(data) + b"\0" * (-length % 4))  # the same bytes, padded to a whole word
    usage = kernels.usage.STORAGE | kernels.usage.COPY_SRC
    try:
        buffer = kernels.device.create_buffer_with_data(label=f"{tensor}:{part}", data=data, usage=usage)
    except kernels.gpu.errors() as exc:
        raise InferenceError(f"tensor {tensor}: the GPU refused a {length}-byte buffer ({_first_line(exc)}); "
                             "the model does not fit this adapter's memory") from None
    records.append(UploadRecord(tensor, part, offset, length, buffer))
    return buffer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
