"""Model conversion: Hugging Face directories and GGUF files into pixel model containers, and back out.

``convert(source, out)`` picks the direction from what ``source`` is:

* a directory with ``config.json`` and ``*.safetensors`` (what ``save_pretrained``
  writes for Llama, Mistral or Qwen2) -> a ``.pxi`` model container holding the
  weights, the config and the tokenizer (:mod:`pxos_pixellm.huggingface`);
* a ``.gguf`` file -> a ``.pxi`` (:mod:`pxos_pixellm.gguf_io`);
* a ``.pxi`` model -> a Hugging Face directory (``config.json``,
  ``model.safetensors``, ``tokenizer.json``...: every tensor in the dtype it was
  imported from), or, when ``out`` ends in ``.gguf``, a GGUF file.

Anything else (another architecture, biases on the MLP, another activation,
an unknown rope scaling) is refused with a FormatError naming it and the
supported list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pxos_kernel import FormatError, NotFoundError, progress

from .container import load_model, open_model, save_model

# Re-exported for the tests and tools that permute GGUF projections.
from .gguf_io import permute_rotary, unpermute_rotary  # noqa: F401


def read_source(source: Path, tokenizer: Optional[str] = None):
    """``(config, tensors, dtypes, origin, tokenizer)`` of a Hugging Face directory or a GGUF file."""
    if not source.exists():
        raise NotFoundError(f"{source}: no such file or directory")
    if source.is_dir():
        from .huggingface import read_hf_directory

        return read_hf_directory(source, tokenizer)
    if source.suffix == ".gguf":
        from .gguf_io import read_gguf

        return read_gguf(source, tokenizer)
    raise FormatError(f"{source}: not a Hugging Face model directory or a .gguf file")


def convert(source: Path, out: Path, *, encoding: str = "fp16", tokenizer: Optional[str] = None,
            level: int = 0) -> dict:
    """Convert ``source`` to ``out``; return a summary (out, format, tensors, parameters).

    On a terminal, a bar shows the step it is in (reading, then writing).
    """
    if not source.exists():
        raise NotFoundError(f"{source}: no such file or directory")
    if source.is_file() and source.suffix == ".pxi":
        with progress(description="model convert", total=1, unit="step") as bar:
            bar.phase(f"writing {out.name}")
            return export(source, out)
    with progress(description="model convert", total=2, unit="step") as bar:
        bar.phase(f"reading {source.name}")
        config, tensors, dtypes, origin, stored = read_source(source, tokenizer)
        bar.phase(f"writing {out.name} ({encoding})")
        save_model(out, config, tensors, encoding=encoding, dtypes=dtypes, level=level, tokenizer=stored,
                   info={"source": origin, "converted_from": str(source)})
    return {"out": str(out), "format": f"pixel model ({encoding})", "tensors": len(tensors),
            "parameters": int(sum(t.size for t in tensors.values())), "architecture": config.architecture,
            "tokenizer": config.tokenizer}


def export(source: Path, out: Path) -> dict:
    """Write the model container ``source`` as a GGUF file (``out`` ends in .gguf) or a Hugging Face directory."""
    if out.suffix == ".gguf":
        from .gguf_io import write_gguf

        return write_gguf(out, open_model(source))
    return export_hf_directory(source, out)


def export_hf_directory(source: Path, out: Path) -> dict:
    """Write ``source`` (.pxi) as a Hugging Face directory at ``out``."""
    from .huggingface import write_hf_directory

    loaded = load_model(source)
    dtypes = {}
    for entry in loaded.directory:
        original = entry.get("dtype", "float32")
        dtypes[entry["name"]] = original if original in ("float32", "float16", "bfloat16") else "float32"
    write_hf_directory(out, loaded.config, loaded.tensors, dtypes, loaded.tokenizer)
    return {"out": str(out), "format": "huggingface-safetensors", "tensors": len(loaded.tensors),
            "parameters": int(sum(t.size for t in loaded.tensors.values()))}
