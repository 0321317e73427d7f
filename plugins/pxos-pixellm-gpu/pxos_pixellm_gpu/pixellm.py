"""Everything this engine takes from pxos-pixellm, in one place, all of it pxos-pixellm's public API.

The GPU engine computes; pxos-pixellm owns the rest, and this engine uses it
so both give the same answers: where models are found (model names and the
model directory), the container's config, tensor directory and payload bytes,
the tokenizer, the rotary frequencies, the CPU transformer (for the layers the
GPU does not run) and the generation loop (sampling, end of sequence, stop
strings, streaming).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np


@dataclass
class ModelSource:
    """An opened model container: config, tensor directory (dicts), payload bytes as stored, tokenizer."""

    path: Path
    config: Any
    directory: list[dict[str, Any]]
    payload: memoryview
    sha256: str
    tokenizer: Any


def pixel_engine(settings: Mapping[str, Any]) -> Any:
    """pxos-pixellm's engine over pixellm's own state directory: it resolves model names for this one.

    The kernel gives this engine ``root = $PXOS_HOME/inference/pixellm-gpu``;
    ``model convert`` puts models under pixellm's root beside it, so the GPU
    engine serves the same names (``pixellm_root`` overrides).
    """
    import pxos_pixellm

    root = settings.get("pixellm_root")
    if root is None and settings.get("root"):
        root = str(Path(settings["root"]).parent / "pixellm")
    return pxos_pixellm.PixelEngine({"root": root, "default_model": settings.get("default_model")})


def open_source(path: Path) -> ModelSource:
    """Read the container once and validate it; the payload stays as stored (no tensor is decoded)."""
    import pxos_pixellm

    # The PNG's chunk CRC-32s and zlib's Adler-32 catch corruption; pixellm's engine skips the
    # unkeyed sha256 on load for the same reason (and `verify_upload` compares the GPU's bytes anyway).
    opened = pxos_pixellm.open_model(path, verify=False)
    return ModelSource(Path(path), opened.config, [e.to_dict() for e in opened.tensors], opened.payload,
                       opened.sha256, opened.tokenizer())


def cpu_transformer(engine: Any, path: Path) -> Any:
    """pxos-pixellm's numpy transformer for the model at ``path`` (the CPU side of a split)."""
    return engine.transformer(str(path))


def rope_tables(config: Any) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of every (position, frequency), float32, exactly as pxos-pixellm's transformer makes them."""
    import pxos_pixellm

    angles = np.outer(np.arange(config.max_position_embeddings, dtype=np.float64),
                      pxos_pixellm.rope_frequencies(config))
    return np.cos(angles).astype(np.float32), np.sin(angles).astype(np.float32)


def generate(model: Any, prompt: "str | bytes", **options: Any) -> Iterator[Any]:
    """pxos-pixellm's generation loop, driving ``model`` (config, new_cache, forward) with its tokenizer."""
    import pxos_pixellm

    return pxos_pixellm.generate(model, prompt, tokenizer=model.source.tokenizer, **options)


def embed(cpu: Any, ids: np.ndarray) -> np.ndarray:
    """The CPU transformer's embedding of ``ids``: (n, hidden_size)."""
    return cpu.embed_tokens(ids)


def run_layers(cpu: Any, x: np.ndarray, cache: Any, start: int, layers: range) -> np.ndarray:
    """The CPU transformer's decoder ``layers`` over ``x`` at positions ``start..``, into its ``cache``."""
    return cpu.run_layers(x, cache, start, layers)


def head(cpu: Any, x: np.ndarray) -> np.ndarray:
    """The CPU transformer's final norm and output head: logits (n, vocab)."""
    return cpu.logits(x)
