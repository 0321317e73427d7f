"""The ``pixellm`` inference engine: serves the shipped model and any model containers it is given.

Models are named:

``default``
    the model shipped in this package (``pxos_pixellm/data/default.pxi``);
any file name stem in the engine's model directory
    ``<root>/models/<name>.pxi`` (``root`` is the engine's state directory,
    e.g. ``$PXOS_HOME/inference/pixellm``), where ``model convert`` puts imports;
a path to a ``.pxi`` file
    loaded directly.

Settings (the ``inference.pixellm`` section of the config): ``root``,
``default_model`` (a name or path used when a request names none).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from pxos_kernel.errors import NotFoundError
from pxos_kernel.interfaces import GenerationChunk, GenerationRequest

DEFAULT_MODEL = "default"


def shipped_model_path() -> Path:
    """The default model file inside the installed package."""
    return Path(__file__).parent / "data" / "default.pxi"


def shipped_held_out_path() -> Path:
    """The held-out text the shipped model is evaluated on."""
    return Path(__file__).parent / "data" / "heldout.txt"


class PixelEngine:
    """Loads model containers on demand (cached by path) and generates text with them."""

    def __init__(self, settings: Optional[Mapping[str, Any]] = None):
        settings = dict(settings or {})
        self.root = Path(settings["root"]) if settings.get("root") else None
        self.default_model = settings.get("default_model") or DEFAULT_MODEL
        self._loaded: dict[Path, Any] = {}

    @property
    def models_dir(self) -> Optional[Path]:
        return self.root / "models" if self.root else None

    def models(self) -> list[str]:
        """``default`` (when the shipped file is present) and every container in the models directory."""
        names = [DEFAULT_MODEL] if shipped_model_path().exists() else []
        if self.models_dir and self.models_dir.is_dir():
            names += sorted(p.stem for p in self.models_dir.glob("*.pxi") if p.stem != DEFAULT_MODEL)
        return names

    def resolve(self, model: Optional[str]) -> Path:
        """The container file behind a model name or path; raise NotFoundError naming what was tried."""
        name = model or self.default_model
        if name == DEFAULT_MODEL:
            path = shipped_model_path()
            if path.exists():
                return path
            raise NotFoundError(f"model 'default': the shipped model file {path} is missing from the install")
        if self.models_dir is not None and "/" not in name and (self.models_dir / f"{name}.pxi").exists():
            return self.models_dir / f"{name}.pxi"
        candidate = Path(os.path.expanduser(name))
        if candidate.is_file():
            return candidate
        known = ", ".join(self.models()) or "none"
        raise NotFoundError(f"model {name!r}: no such model name or file (known models: {known})")

    def transformer(self, model: Optional[str] = None):
        """The loaded :class:`~pxos_pixellm.model.Transformer` for ``model`` (cached)."""
        from .container import load_model
        from .model import Transformer

        path = self.resolve(model).resolve()
        if path not in self._loaded:
            # The PNG's chunk CRC-32s and zlib's Adler-32 catch any corruption of the file (a test
            # flips a payload byte to show it); the metadata's sha256 is unkeyed, so it adds nothing
            # against a deliberate edit and costs ~15% of the load time. `model eval` and `show` check it.
            loaded = load_model(path, verify=False)
            self._loaded[path] = Transformer(loaded.config, loaded.tensors, where=str(path))
        return self._loaded[path]

    def generate(self, request: GenerationRequest) -> Iterator[GenerationChunk]:
        """Stream a completion; see :func:`pxos_pixellm.generate.generate` for prompt handling."""
        from .generate import generate

        transformer = self.transformer(request.model)
        for piece in generate(transformer, request.prompt, max_tokens=request.max_tokens,
                              temperature=request.temperature, top_k=request.top_k, top_p=request.top_p,
                              seed=request.seed, stop=request.stop):
            yield GenerationChunk(text=piece.text, tokens=piece.tokens, finish_reason=piece.finish_reason)

    def close(self) -> None:
        self._loaded.clear()


def create_engine(settings: Mapping[str, Any]) -> PixelEngine:
    """The registration factory."""
    return PixelEngine(settings)
