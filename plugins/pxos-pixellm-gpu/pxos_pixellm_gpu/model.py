"""A model container on the GPU, split as ``offload`` says, driven like pxos-pixellm's transformer.

:class:`GpuModel` has the three things pxos-pixellm's generation loop uses
(``config``, ``new_cache()`` and ``forward(ids, cache)``), so generation,
sampling, stop strings and streaming are pixellm's own code, run over GPU
logits. A forward pass goes through the GPU in steps of up to
``stack.batch`` tokens; with ``offload: layers N-M`` each step runs the
embedding and the layers before N on the CPU, N..M on the GPU, and the
rest and the head on the CPU again.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np

from pxos_kernel import InferenceError

from . import pixellm
from .adapter import Gpu
from .kernels import Kernels
from .offload import Offload
from .stack import GpuCache, GpuStack
from .weights import Upload, upload


class SplitCache:
    """A KV cache for a split model: the GPU layers' on the GPU, the CPU layers' in pixellm's cache."""

    def __init__(self, capacity: int, gpu: Optional[GpuCache], cpu: Any):
        self.capacity = capacity
        self.gpu = gpu
        self.cpu = cpu
        self.length = 0


def layer_tensors(directory: list[dict[str, Any]], offload: Offload) -> list[str]:
    """The tensors the GPU needs for ``offload``: all of them, or those of its layers."""
    if offload.ends:
        return [e["name"] for e in directory]
    prefixes = tuple(f"model.layers.{i}." for i in offload.layers)
    return [e["name"] for e in directory if e["name"].startswith(prefixes)]


class GpuModel:
    """One model on one GPU, with ``offload`` choosing which layers run there."""

    def __init__(self, source: pixellm.ModelSource, gpu: Gpu, kernels: Kernels, offload: Offload,
                 cpu: Callable[[], Any], *, batch: int = 32, max_buffer: Optional[int] = None):
        self.source = source
        self.config = source.config
        self.gpu = gpu
        self.offload = offload
        self.weights: Optional[Upload] = None
        self.stack: Optional[GpuStack] = None
        self.cpu = None if offload.ends else cpu()
        if offload.on_gpu:
            with gpu.watch("loading the model"):
                self.weights = upload(kernels, source.payload, source.directory,
                                      layer_tensors(source.directory, offload), max_buffer)
                self.stack = GpuStack(kernels, self.config, self.weights, offload.layers, embed=offload.ends,
                                      head=offload.ends, rope=pixellm.rope_tables(self.config), batch=batch,
                                      max_buffer=max_buffer)

    def new_cache(self, capacity: Optional[int] = None) -> SplitCache:
        """An empty cache for up to ``capacity`` positions (default: the model's context)."""
        capacity = min(capacity or self.config.max_position_embeddings, self.config.max_position_embeddings)
        gpu_cache = None
        if self.stack is not None:
            with self.gpu.watch("allocating the KV cache"):
                gpu_cache = self.stack.new_cache(capacity)
        cpu_cache = None if self.cpu is None else self.cpu.new_cache(capacity)
        return SplitCache(capacity, gpu_cache, cpu_cache)

    def forward(self, ids: "np.ndarray | list[int]", cache: Optional[SplitCache] = None, *,
                last_only: bool = False) -> np.ndarray:
        """Logits (len(ids), vocab) for ``ids`` after what ``cache`` holds (the last row only if ``last_only``)."""
        ids = np.asarray(ids, dtype=np.int64)
        vocab = self.config.vocab_size
        if ids.ndim != 1 or len(ids) == 0:
            raise InferenceError("forward needs a non-empty 1-D sequence of token ids")
        if ids.min() < 0 or ids.max() >= vocab:
            raise InferenceError(f"token id out of range 0..{vocab - 1}")
        cache = cache if cache is not None else self.new_cache(len(ids))
        if cache.length + len(ids) > cache.capacity:
            raise InferenceError(f"sequence of {cache.length + len(ids)} tokens exceeds the context of {cache.capacity}")
        step = self.stack.batch if self.stack is not None else len(ids)
        rows = []
        for first in range(0, len(ids), step):
            chunk = ids[first:first + step]
            want = "all" if not last_only else "last" if first + step >= len(ids) else "none"
            out = self._step(chunk, cache, want)
            if out is not None:
                rows.append(out)
            cache.length += len(chunk)
        logits = np.concatenate(rows)
        if not np.all(np.isfinite(logits)):
            raise InferenceError(f"the GPU returned non-finite logits ({self.gpu.info.line()}): refusing to sample "
                                 "from them")
        return logits

    def _step(self, ids: np.ndarray, cache: SplitCache, want: str) -> Optional[np.ndarray]:
        """One step of up to ``stack.batch`` tokens; logits of ``want`` ("all", "last" or "none") of them."""
        start = cache.length
        layers = self.config.num_hidden_layers
        if self.stack is not None and cache.gpu is not None and self.offload.ends:  # offload: all
            with self.gpu.watch("generating"):
                return self.stack.logits_step(cache.gpu, start, ids, want)
        x = pixellm.embed(self.cpu, ids)
        if self.stack is None or cache.gpu is None:  # offload: none
            x = pixellm.run_layers(self.cpu, x, cache.cpu, start, range(layers))
        else:
            x = pixellm.run_layers(self.cpu, x, cache.cpu, start, range(0, self.offload.first))
            with self.gpu.watch("generating"):
                x = self.stack.hidden_step(cache.gpu, start, x)
            x = pixellm.run_layers(self.cpu, x, cache.cpu, start, range(self.offload.last + 1, layers))
        if want == "none":
            return None
        return pixellm.head(self.cpu, x[-1:] if want == "last" else x)
