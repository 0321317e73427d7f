"""pxos-pixellm: Llama-family and Qwen2 transformers whose weights, config and tokenizer live in one PNG.

The public API is what this module exports; every other module is private
and may change. Other plugins (the GPU engine, the explorer) use only these
names, imported from ``pxos_pixellm`` itself::

    import pxos_pixellm as pl

    model = pl.open_model("m.pxi")       # a ModelFile: one pass over the PNG, directory validated
    model.config                         # pl.ModelConfig (Hugging Face field names)
    model.tensors                        # [pl.TensorEntry]: name, shape, dtype, encoding, offset, length, scales
    model.raw("model.norm.weight")       # memoryview of the stored bytes, not converted
    model.array("model.norm.weight")     # the values as float32
    model.sha256                         # the payload's recorded sha256
    tok = model.tokenizer()              # a pl.Tokenizer (or None for models without one)
    tok.encode("hi"), tok.decode(ids), tok.stream(), tok.eos_token_ids, tok.chat_template
    pl.read_model_meta("m.pxi")          # config + directory without inflating the payload
    pl.decode_tensor(entry, raw_bytes)   # float32 values of raw bytes in any encoding
    pl.save_model(path, config, {name: array}, encoding="fp16")   # write a container
    pl.tensor_rows(values, width)        # a tensor as an RGB block: red positive, blue negative (model picture)

Computing (what another engine reuses so both give the same answers)::

    engine = pl.PixelEngine(settings)    # model names -> files (engine.resolve), loaded models (engine.load)
    t = engine.transformer("default")    # a pl.Transformer (numpy, float32)
    t.forward(ids, t.new_cache(), last_only=True)       # logits
    x = t.embed_tokens(ids); x = t.run_layers(x, cache, start, range(a, b)); t.logits(x)   # the same, in pieces
    pl.rope_frequencies(config)          # the rotary frequencies (rope scaling applied)
    pl.generate(model, prompt, tokenizer=tok, max_tokens=..., temperature=..., top_k=..., top_p=...,
                seed=..., stop=...)      # streams pl.Piece; ``model`` is anything with config,
                                         # new_cache() and forward(ids, cache, last_only=True)

Stored bytes by encoding (``TensorEntry.encoding``): ``fp32``/``fp16``/``bf16``
little-endian floats (bf16 = the top half of an fp32); ``int8``: blocks of 32
int8 codes, then one little-endian fp16 scale per block (``value = code *
scale``; ``scales`` gives ``{"offset": N, "count": B}``); ``uint8``: the seed's
per-tensor baseline, ``value = min + code * (max - min) / 255``.

Self-inspection goes through the engine: ``kernel.engine("pixellm")`` has
``describe_self(model=None)`` and ``read_own_pixels(tensor, model=None)``.

Importing this package imports nothing heavy; numpy loads with the first
function that needs it.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

_EXPORTS = {
    "ModelConfig": "pxos_pixellm.config",
    "ARCHITECTURES": "pxos_pixellm.config",
    "supported_architectures": "pxos_pixellm.config",
    "ModelFile": "pxos_pixellm.container",
    "TensorEntry": "pxos_pixellm.container",
    "open_model": "pxos_pixellm.container",
    "read_model_meta": "pxos_pixellm.container",
    "decode_tensor": "pxos_pixellm.tensors",
    "ENCODINGS": "pxos_pixellm.tensors",
    "save_model": "pxos_pixellm.container",
    "tensor_rows": "pxos_pixellm.picture",
    "expected_shapes": "pxos_pixellm.model",
    "rope_frequencies": "pxos_pixellm.model",
    "Transformer": "pxos_pixellm.model",
    "generate": "pxos_pixellm.generation",
    "Piece": "pxos_pixellm.generation",
    "PixelEngine": "pxos_pixellm.engine",
    "Tokenizer": "pxos_pixellm.tokenizer",
    "TokenStream": "pxos_pixellm.tokenizer",
    "ByteTokenizer": "pxos_pixellm.tokenizer",
    "HFTokenizer": "pxos_pixellm.tokenizer",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pxos_pixellm' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
