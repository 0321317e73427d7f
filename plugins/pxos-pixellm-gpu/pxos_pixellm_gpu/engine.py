"""The ``pixellm-gpu`` inference engine: pixellm's models, computed in WGSL on a WebGPU device.

It serves the same models as ``pixellm`` under the same names (``default``,
the converted models of pixellm's model directory, or a ``.pxi`` path), and
generates with pixellm's own loop, so the options mean the same: temperature,
top-k, top-p, seed, stop strings, streaming.

Settings (the ``inference.pixellm-gpu`` section of the config):

``offload``
    ``all`` (default), ``none`` or ``layers N-M``: which layers run on the
    GPU (:mod:`pxos_pixellm_gpu.offload`).
``adapter``
    ``auto``, ``hardware`` or ``software`` (:mod:`pxos_pixellm_gpu.adapter`).
``batch``
    prompt tokens per GPU step (default 32).
``max_buffer_bytes``
    the largest weight buffer to make (default: the adapter's limit); larger
    matrices are split by rows.
``workgroup``
    threads per workgroup, a power of two from 8 to 256 (default 64 on a
    hardware adapter, 16 on a software one).
``default_model``, ``pixellm_root``
    as for pixellm (``pixellm_root`` defaults to pixellm's state directory
    beside this engine's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from pxos_kernel import ConfigError, GenerationChunk, GenerationRequest, InferenceError, did_you_mean

from . import pixellm

NAME = "pixellm-gpu"
#: Every setting the engine reads (``root`` comes from the kernel).
SETTINGS = ("root", "offload", "adapter", "batch", "max_buffer_bytes", "workgroup", "default_model", "pixellm_root")


class GpuEngine:
    """Loads pixellm's model containers onto one GPU (cached by path and offload) and generates with them."""

    def __init__(self, settings: Optional[Mapping[str, Any]] = None):
        self.settings = dict(settings or {})
        for key in self.settings:
            if key not in SETTINGS:
                raise ConfigError(f"inference.{NAME}.{key}: not a setting of this engine{did_you_mean(key, SETTINGS)} "
                                  f"(it has: {', '.join(SETTINGS[1:])})")
        self.offload = str(self.settings.get("offload") or "all")
        self.batch = _positive(self.settings, "batch", 32)
        self.max_buffer = _positive(self.settings, "max_buffer_bytes", None)
        self.workgroup = _positive(self.settings, "workgroup", None)
        if self.workgroup is not None and (self.workgroup not in (8, 16, 32, 64, 128, 256)):
            raise ConfigError(f"inference.{NAME}.workgroup must be a power of two from 8 to 256, got {self.workgroup}")
        self.models_engine = pixellm.pixel_engine(self.settings)
        self._gpu: Any = None
        self._kernels: Any = None
        self._loaded: dict[tuple[Path, str], Any] = {}

    # -- the device ------------------------------------------------------------------

    @property
    def gpu(self) -> Any:
        """The device (opened on first use); InferenceError naming what to install when there is none."""
        if self._gpu is None:
            from .adapter import open_gpu
            from .kernels import Kernels

            self._gpu = open_gpu(self.settings)
            self._kernels = Kernels(self._gpu, self.workgroup)
        return self._gpu

    def describe(self) -> dict[str, Any]:
        """The adapter in use, its limits and the models loaded: what ``inspect`` and ``model info`` show.

        ``summary`` holds the same as lines of text for a terminal.
        """
        from .decode import GPU_ENCODINGS

        info = self.gpu.info
        loaded = []
        for (path, _), model in self._loaded.items():
            weights = model.weights
            plan, layers = model.offload, range(model.config.num_hidden_layers)
            loaded.append({"path": str(path), "offload": plan.describe(len(layers)),
                           "gpu": {"embedding": plan.ends, "layers": list(plan.layers), "head": plan.ends},
                           "cpu": {"embedding": not plan.ends, "layers": [i for i in layers if i not in plan.layers],
                                   "head": not plan.ends, "sampling": True},
                           "weight_bytes_on_gpu": weights.bytes_uploaded if weights else 0,
                           "payload_bytes": len(model.source.payload)})
        limits = info.limits
        summary = [f"engine {NAME} on {info.line()}",
                   f"  limits: storage buffer {_size(limits.get('max-storage-buffer-binding-size', 0))}, "
                   f"buffer {_size(limits.get('max-buffer-size', 0))}, "
                   f"{limits.get('max-storage-buffers-per-shader-stage', '?')} storage buffers a kernel, "
                   f"workgroup memory {_size(limits.get('max-compute-workgroup-storage-size', 0))}",
                   f"  offload: {self.offload}; weights read as stored: {', '.join(GPU_ENCODINGS)}"]
        summary += [f"  loaded {m['path']}: {m['weight_bytes_on_gpu']} weight bytes on the GPU of a "
                    f"{m['payload_bytes']}-byte payload ({m['offload']})" for m in loaded]
        return {"engine": NAME, "adapter": info.to_dict(), "offload": self.offload, "encodings": list(GPU_ENCODINGS),
                "workgroup": self._kernels.workgroup, "loaded": loaded, "summary": summary}

    # -- models ----------------------------------------------------------------------

    def models(self) -> list[str]:
        """pixellm's model names; raises InferenceError when there is no GPU to run them on."""
        self.gpu
        return self.models_engine.models()

    def resolve(self, model: Optional[str]) -> Path:
        return self.models_engine.resolve(model)

    def load(self, model: Optional[str] = None, offload: Optional[str] = None) -> Any:
        """The :class:`~pxos_pixellm_gpu.model.GpuModel` for ``model`` under ``offload`` (loaded once)."""
        from .model import GpuModel
        from .offload import parse_offload

        path = self.resolve(model).resolve()
        spec = offload or self.offload
        key = (path, spec)
        if key not in self._loaded:
            gpu = self.gpu
            source = pixellm.open_source(path)
            plan = parse_offload(spec, source.config.num_hidden_layers)
            self._loaded[key] = GpuModel(source, gpu, self._kernels, plan,
                                         lambda: pixellm.cpu_transformer(self.models_engine, path),
                                         batch=self.batch, max_buffer=self.max_buffer)
        return self._loaded[key]

    def transformer(self, model: Optional[str] = None) -> Any:
        """What pixellm's ``model generate`` drives: the loaded model (config, new_cache, forward)."""
        return self.load(model)

    def verify_upload(self, model: Optional[str] = None) -> list[dict]:
        """Every weight buffer read back from the GPU and compared with the payload bytes it came from."""
        loaded = self.load(model)
        if loaded.weights is None:
            return []
        with self.gpu.watch("reading the weights back"):
            return loaded.weights.verify(self.gpu.device.queue, loaded.source.payload)

    def tokenizer(self, model: Optional[str] = None) -> Any:
        """The model's own tokenizer (stored in its container), or None when it has none."""
        return self.load(model).source.tokenizer

    def generate(self, request: GenerationRequest) -> Iterator[GenerationChunk]:
        """Stream a completion with pixellm's generation loop over this engine's logits."""
        return self._stream(self.load(request.model), request.prompt, request)

    def chat_prompt(self, model: Optional[str], messages: Sequence[Mapping[str, Any]]) -> str:
        """The conversation rendered with the model's own chat template (InferenceError when it has none)."""
        tokenizer = self.tokenizer(model)
        if tokenizer is None:
            raise InferenceError(f"model {model or self.models_engine.default_model!r} has no tokenizer, "
                                 "so no chat template")
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True)

    def chat(self, request: GenerationRequest, messages: Sequence[Mapping[str, Any]]) -> Iterator[GenerationChunk]:
        """Stream the assistant's reply to ``messages`` (the request's prompt is ignored), as pixellm does."""
        prompt = self.chat_prompt(request.model, messages)
        return self._stream(self.load(request.model), prompt, request, add_special_tokens=False)

    def _stream(self, model: Any, prompt: str, request: GenerationRequest, **extra: Any) -> Iterator[GenerationChunk]:
        for piece in pixellm.generate(model, prompt, max_tokens=request.max_tokens, temperature=request.temperature,
                                      top_k=request.top_k, top_p=request.top_p, seed=request.seed,
                                      stop=request.stop, **extra):
            yield GenerationChunk(text=piece.text, tokens=piece.tokens, finish_reason=piece.finish_reason)

    def close(self) -> None:
        self._loaded.clear()
        self._gpu = None
        self._kernels = None


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.4g} {unit}"
    return f"{count} bytes"


def _positive(settings: Mapping[str, Any], key: str, default: Optional[int]) -> Any:
    value = settings.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"inference.{NAME}.{key} must be a positive integer, got {value!r}")
    return value


def create_engine(settings: Mapping[str, Any]) -> GpuEngine:
    """The registration factory."""
    return GpuEngine(settings)
