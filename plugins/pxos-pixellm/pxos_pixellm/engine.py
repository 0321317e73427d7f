"""The ``pixellm`` inference engine: serves the shipped model and any model containers it is given.

Models are named:

``default``
    the model shipped in this package (``pxos_pixellm/data/default.pxi``);
``NAME`` or ``NAME@VERSION``
    a model cartridge of the registry (:mod:`pxos_pixellm.registry`, in the
    engine's state directory): ``NAME`` is its current version;
any file name stem in the engine's model directory
    ``<root>/models/<name>.pxi`` (``root`` is the engine's state directory,
    e.g. ``$PXOS_HOME/inference/pixellm``), where ``model convert`` puts imports;
a path to a ``.pxi`` file
    loaded directly.

Settings (the ``inference.pixellm`` section of the config): ``root``,
``default_model`` (a name or path used when a request names none),
``compute`` (``auto``: the compiled kernels when they build, else numpy;
``native``; ``numpy``) and ``threads`` (default: half the CPUs this process
may use, at least one, as llama.cpp's default).

Besides generating, the engine lets a model look at itself (Genesis G9.2):
:meth:`PixelEngine.describe_self` returns the model's tensor directory with
statistics of every tensor and the container's own hashes, and
:meth:`PixelEngine.read_own_pixels` returns the RGB pixels of the PNG that
hold one tensor's bytes. Agents and guardrails call both through the kernel:
``kernel.engine("pixellm").describe_self()``.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Sequence

from pxos_kernel import FormatError, GenerationChunk, GenerationRequest, InferenceError, NotFoundError

DEFAULT_MODEL = "default"
_resource_files = contextlib.ExitStack()
atexit.register(_resource_files.close)


def _package_file(name: str) -> Path:
    """A data file of this package as a real path (extracted once if the package runs from an archive)."""
    traversable = resources.files("pxos_pixellm").joinpath("data", name)
    if isinstance(traversable, Path):
        return traversable
    return _resource_files.enter_context(resources.as_file(traversable))


def shipped_model_path() -> Path:
    """The default model file inside the installed package."""
    return _package_file("default.pxi")


def shipped_held_out_path() -> Path:
    """The held-out text the shipped model is evaluated on."""
    return _package_file("heldout.txt")


@dataclass
class LoadedEngineModel:
    """One model as the engine holds it: the opened container, its transformer and tokenizer."""

    path: Path
    file: Any  # ModelFile
    transformer: Any
    tokenizer: Any


class PixelEngine:
    """Loads model containers on demand (cached by path) and generates text with them."""

    def __init__(self, settings: Optional[Mapping[str, Any]] = None):
        settings = dict(settings or {})
        self.root = Path(settings["root"]) if settings.get("root") else None
        self.default_model = settings.get("default_model") or DEFAULT_MODEL
        self.compute = settings.get("compute") or os.environ.get("PXOS_PIXELLM_COMPUTE") or "auto"
        self.threads = int(settings.get("threads") or max(1, len(os.sched_getaffinity(0)) // 2))
        self._loaded: dict[Path, LoadedEngineModel] = {}

    @property
    def models_dir(self) -> Optional[Path]:
        return self.root / "models" if self.root else None

    @property
    def registry(self) -> Any:
        """The model registry of this engine's state directory (None for an engine without one)."""
        from .registry import ModelRegistry

        return ModelRegistry(self.root) if self.root else None

    def models(self) -> list[str]:
        """``default`` (when the shipped file is present), registered models with a current version, and
        every container in the models directory."""
        names = [DEFAULT_MODEL] if shipped_model_path().exists() else []
        registry = self.registry
        if registry is not None and registry.path.exists():
            names += [n for n in registry.names() if n != DEFAULT_MODEL and _has_current(registry, n)]
        if self.models_dir and self.models_dir.is_dir():
            names += sorted(p.stem for p in self.models_dir.glob("*.pxi") if p.stem not in names)
        return names

    def resolve(self, model: Optional[str]) -> Path:
        """The container file behind a model name or path; raise NotFoundError naming what was tried."""
        name = model or self.default_model
        if name == DEFAULT_MODEL:
            path = shipped_model_path()
            if path.exists():
                return path
            raise NotFoundError(f"model 'default': the shipped model file {path} is missing from the install")
        registry = self.registry
        if registry is not None and "/" not in name and registry.path.exists() and registry.has(name):
            return registry.resolve(name)
        if self.models_dir is not None and "/" not in name and (self.models_dir / f"{name}.pxi").exists():
            return self.models_dir / f"{name}.pxi"
        candidate = Path(os.path.expanduser(name))
        if candidate.is_file():
            return candidate
        known = ", ".join(self.models()) or "none"
        raise NotFoundError(f"model {name!r}: no such model name or file (known models: {known})")

    def load(self, model: Optional[str] = None) -> LoadedEngineModel:
        """The model behind ``model`` (a name or path), loaded once and cached."""
        from .container import open_model
        from .model import build_transformer

        path = self.resolve(model).resolve()
        if path not in self._loaded:
            # The PNG's chunk CRC-32s and zlib's Adler-32 catch any corruption of the file (a test
            # flips a payload byte to show it); the metadata's sha256 is unkeyed, so it adds nothing
            # against a deliberate edit and costs ~15% of the load time. `describe_self` checks it.
            opened = open_model(path, verify=False)
            transformer = build_transformer(opened, self.compute, where=str(path))
            if transformer.backend == "native":
                from . import native

                native.set_threads(self.threads)
            self._loaded[path] = LoadedEngineModel(path, opened, transformer, opened.tokenizer())
        return self._loaded[path]

    def transformer(self, model: Optional[str] = None) -> Any:
        """The loaded :class:`~pxos_pixellm.model.Transformer` for ``model`` (cached)."""
        return self.load(model).transformer

    def tokenizer(self, model: Optional[str] = None) -> Any:
        """The model's tokenizer (:mod:`pxos_pixellm.tokenizer`), or None when it has none."""
        return self.load(model).tokenizer

    def generate(self, request: GenerationRequest) -> Iterator[GenerationChunk]:
        """Stream a completion; see :func:`pxos_pixellm.generate` for prompt handling."""
        from .generation import generate

        loaded = self.load(request.model)
        for piece in generate(loaded.transformer, request.prompt, tokenizer=loaded.tokenizer,
                              max_tokens=request.max_tokens, temperature=request.temperature, top_k=request.top_k,
                              top_p=request.top_p, seed=request.seed, stop=request.stop):
            yield GenerationChunk(text=piece.text, tokens=piece.tokens, finish_reason=piece.finish_reason)  # type: ignore[arg-type]

    def chat_prompt(self, model: Optional[str], messages: Sequence[Mapping[str, Any]]) -> str:
        """The prompt text for a conversation, rendered with the model's own chat template.

        Raises InferenceError, naming the model, when it has no chat template.
        A prompt rendered here already holds the template's special tokens; pass it
        to :meth:`generate` as is (the tokenizer is told not to add them again).
        """
        from .tokenizer import no_chat_template

        loaded = self.load(model)
        label = f"model {model or self.default_model!r}"
        if loaded.tokenizer is None or not loaded.tokenizer.chat_template:
            raise InferenceError(no_chat_template(label))
        return loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True)

    def chat(self, request: GenerationRequest, messages: Sequence[Mapping[str, Any]]) -> Iterator[GenerationChunk]:
        """Stream the assistant's reply to ``messages`` (the request's prompt is ignored)."""
        from .generation import generate

        loaded = self.load(request.model)
        prompt = self.chat_prompt(request.model, messages)
        for piece in generate(loaded.transformer, prompt, tokenizer=loaded.tokenizer, max_tokens=request.max_tokens,
                              temperature=request.temperature, top_k=request.top_k, top_p=request.top_p,
                              seed=request.seed, stop=request.stop, add_special_tokens=False):
            yield GenerationChunk(text=piece.text, tokens=piece.tokens, finish_reason=piece.finish_reason)  # type: ignore[arg-type]

    # -- self-inspection (Genesis G9.2) ---------------------------------------------------------

    def describe_self(self, model: Optional[str] = None) -> dict:
        """The model's own description, read back from its container.

        Returns a JSON-ready dict: ``model``, ``path``, ``sha256`` (the
        payload's, recomputed here and compared with the recorded one:
        ``verified``), ``file_sha256`` (of the PNG file itself), ``image``
        (width, height), ``config``, ``tokenizer`` and ``tensors``: the tensor
        directory, each entry with ``stats`` (count, min, max, mean, std,
        rms, abs_max, zero_fraction) of the values the engine computes with.
        """
        from .container import open_model

        path = self.resolve(model).resolve()
        opened = open_model(path, verify=True)  # IntegrityError if the pixels no longer match their hash
        tensors = []
        for entry in opened.tensors:
            tensors.append({**entry.to_dict(), "stats": _stats(opened.array(entry.name))})
        tokenizer = opened.tokenizer()
        return {
            "model": model or self.default_model, "path": str(path), "sha256": opened.sha256,
            "verified": True, "file_sha256": _file_sha256(path),
            "image": {"width": opened.meta["width"], "height": opened.meta["height"]},
            "config": opened.config.to_dict(),
            "tokenizer": tokenizer.describe() if tokenizer is not None else {"kind": "none"},
            "parameters": sum(e.count for e in opened.tensors), "compute": self.compute_report(model),
            "tensors": tensors,
        }

    def compute_report(self, model: Optional[str] = None) -> dict:
        """How the engine computes with ``model``: backend, why not native, threads, resident weight bytes."""
        from . import native

        transformer = self.load(model).transformer
        report = {"backend": transformer.backend, "threads": self.threads if transformer.backend == "native" else 1}
        if transformer.backend == "native":
            report.update(resident_weight_bytes=transformer.resident_bytes, decoded_to_fp32=transformer.converted)
        else:
            report["why_not_native"] = native.unavailable_reason() if self.compute != "numpy" else "compute: numpy"
        return report

    def read_own_pixels(self, tensor: str, model: Optional[str] = None) -> dict:
        """The RGB pixels of the model's PNG that hold ``tensor``'s stored bytes.

        Returns ``tensor``, ``encoding``, ``shape``, ``offset`` and ``length``
        (in the payload), ``image_width``, ``first_pixel`` and ``last_pixel``
        (``[x, y]`` in the image), ``lead`` (bytes of the first pixel before
        the tensor starts) and ``pixels``: whole pixels as bytes, three (R, G,
        B) a pixel, so that ``pixels[lead:lead + length]`` are the tensor's bytes.
        """
        loaded = self.load(model)
        opened = loaded.file
        try:
            entry = opened.entry(tensor)
        except FormatError:
            names = [e.name for e in opened.tensors]
            raise NotFoundError(f"model {model or self.default_model!r} has no tensor {tensor!r} "
                                f"({len(names)} tensors, e.g. {', '.join(names[:3])})") from None
        width = opened.meta["width"]
        first, last = entry.offset // 3, (entry.offset + entry.length - 1) // 3
        pixels = bytes(opened.payload[3 * first: 3 * (last + 1)])
        pixels += b"\0" * (3 * (last + 1 - first) - len(pixels))  # the image's zero padding past the payload
        return {"model": model or self.default_model, "tensor": entry.name, "encoding": entry.encoding,
                "shape": list(entry.shape), "offset": entry.offset, "length": entry.length,
                "image_width": width, "first_pixel": [first % width, first // width],
                "last_pixel": [last % width, last // width], "lead": entry.offset - 3 * first, "pixels": pixels}

    def close(self) -> None:
        self._loaded.clear()


def _has_current(registry: Any, name: str) -> bool:
    try:
        registry.get(name)
    except NotFoundError:
        return False
    return True


def _stats(values: Any) -> dict:
    import numpy as np

    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    return {"count": int(flat.size), "min": float(flat.min()), "max": float(flat.max()),
            "mean": float(flat.mean()), "std": float(flat.std()), "rms": float(np.sqrt(np.mean(flat * flat))),
            "abs_max": float(np.abs(flat).max()), "zero_fraction": float(np.mean(flat == 0))}


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create_engine(settings: Mapping[str, Any]) -> PixelEngine:
    """The registration factory."""
    return PixelEngine(settings)
