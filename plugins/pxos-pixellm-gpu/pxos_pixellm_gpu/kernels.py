"""Compiling the WGSL kernels and recording their dispatches.

Each kernel is a file in ``wgsl/`` (package data, read through
``importlib.resources``). Its text is completed per use: the weight slots get
their decoders (:mod:`pxos_pixellm_gpu.decode`), and a few words are
substituted (``WG`` the workgroup size, ``TB`` the token block of the matrix
kernels; ``VECTOR``, ``BIAS``, ``ACCUMULATE`` in ``linear``). Pipelines are compiled once per distinct text.

Bind group 0 holds a kernel's own parameters (binding 0), the step
parameters shared by every kernel of a forward pass (binding 1, ``Step`` in
``common.wgsl``: first position and token count) and its activations; bind
group 1 its weights.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Mapping, Optional, Sequence

from .adapter import Gpu
from .decode import decoder

#: Threads of one workgroup. Software adapters run a workgroup's threads in
#: SIMD lanes of one CPU thread, and do better with few of them.
HARDWARE_WORKGROUP = 64
SOFTWARE_WORKGROUP = 16
#: Tokens one matrix kernel's workgroup computes together (each weight decoded once for all of them).
TOKEN_BLOCK = 8


def _source(name: str) -> str:
    return resources.files("pxos_pixellm_gpu").joinpath("wgsl", f"{name}.wgsl").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Dispatch:
    """One recorded kernel launch; ``groups(n)`` gives its workgroup counts for a step of ``n`` tokens."""

    label: str
    pipeline: Any
    bind_groups: tuple[Any, ...]
    groups: Callable[[int], tuple[int, int, int]]


class Kernels:
    """The compiled kernels of one device, and helpers to make buffers and dispatches on it."""

    def __init__(self, gpu: Gpu, workgroup: Optional[int] = None):
        self.gpu = gpu
        self.device = gpu.device
        self.usage = gpu.wgpu.BufferUsage
        self.workgroup = workgroup or (SOFTWARE_WORKGROUP if gpu.info.software else HARDWARE_WORKGROUP)
        self._pipelines: dict[tuple[str, str], Any] = {}

    def pipeline(self, kernel: str, entry: str = "main", slots: Sequence[tuple[str, str]] = (),
                 words: Optional[dict[str, str]] = None) -> Any:
        """The pipeline of ``kernel`` with weight ``slots`` ((name, encoding) pairs) and substitutions."""
        text = _source(kernel)
        for word, value in {"WG": f"{self.workgroup}u", "TB": f"{TOKEN_BLOCK}u", **(words or {})}.items():
            text = text.replace(word, value)
        decoders = "\n".join(decoder(slot, index, encoding) for index, (slot, encoding) in enumerate(slots))
        text = _source("common") + decoders + "\n" + text
        key = (text, entry)
        if key not in self._pipelines:
            module = self.device.create_shader_module(label=kernel, code=text)
            self._pipelines[key] = self.device.create_compute_pipeline(
                label=f"{kernel}.{entry}", layout="auto", compute={"module": module, "entry_point": entry})
        return self._pipelines[key]

    # -- buffers -----------------------------------------------------------------------

    def storage(self, size: int, label: str, readable: bool = False) -> Any:
        """A zeroed storage buffer of at least ``size`` bytes (rounded up to 4)."""
        usage = self.usage.STORAGE | self.usage.COPY_DST | (self.usage.COPY_SRC if readable else 0)
        return self.device.create_buffer(label=label, size=max(4, -(-size // 4) * 4), usage=usage)

    def params(self, fmt: str, *values: Any, label: str = "params") -> Any:
        """A uniform buffer holding ``struct.pack(fmt, *values)``, padded to 16 bytes."""
        data = struct.pack("<" + fmt, *values)
        data += b"\0" * (-len(data) % 16)
        return self.device.create_buffer_with_data(label=label, data=data, usage=self.usage.UNIFORM)

    def bind(self, pipeline: Any, group: int, buffers: Mapping[int, Any]) -> Any:
        """A bind group of ``pipeline``'s group ``group``: binding number -> buffer."""
        entries = [{"binding": i, "resource": {"buffer": b, "offset": 0, "size": b.size}}
                   for i, b in sorted(buffers.items())]
        return self.device.create_bind_group(layout=pipeline.get_bind_group_layout(group), entries=entries)

    def dispatch(self, label: str, pipeline: Any, group0: Sequence[Any], weights: Mapping[int, Any],
                 groups: Callable[[int], tuple[int, int, int]]) -> Dispatch:
        """A launch of ``pipeline``: ``group0`` at bindings 0, 1, ..., ``weights`` by binding in group 1."""
        bind_groups = [self.bind(pipeline, 0, dict(enumerate(group0)))]
        if weights:
            bind_groups.append(self.bind(pipeline, 1, weights))
        return Dispatch(label, pipeline, tuple(bind_groups), groups)


def row_groups(rows: int) -> tuple[int, int]:
    """Workgroup counts (x, y) for one workgroup per row; kernels read the row as x + y * 32768."""
    return (min(rows, 32768), -(-rows // 32768))
