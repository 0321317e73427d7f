"""Importing Hugging Face Llama checkpoints and GGUF files into pixel model containers, and back.

``convert(source, out)`` picks the direction from what ``source`` is:

* a directory with ``config.json`` and ``*.safetensors`` (what
  ``LlamaForCausalLM.save_pretrained`` writes) -> a ``.pxi`` model container;
* a ``.gguf`` file with ``general.architecture = llama`` -> a ``.pxi``. llama.cpp
  stores the query and key projections with their rows permuted for its
  interleaved rotary layout; they are permuted back to Hugging Face's;
* a ``.pxi`` model -> a Hugging Face directory (``config.json`` +
  ``model.safetensors``, every tensor in the dtype it was imported from).

Anything that is not a plain Llama (biases, rope scaling, another activation,
another architecture) is refused with a FormatError naming the feature.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from pxos_kernel.errors import FormatError, NotFoundError
from pxos_kernel.files import atomic_write

from .config import ModelConfig
from .container import load_model, save_model

TOKENIZER_KEY = "pxos_tokenizer"  # written into exported config.json so a round trip keeps "bytes"


def convert(source: Path, out: Path, *, encoding: str = "fp16", tokenizer: Optional[str] = None,
            level: int = 0) -> dict:
    """Convert ``source`` to ``out``; return a summary (out, format, tensors, parameters)."""
    if not source.exists():
        raise NotFoundError(f"{source}: no such file or directory")
    if source.is_dir():
        config, tensors, dtypes, origin = read_hf_directory(source, tokenizer)
    elif source.suffix == ".gguf":
        config, tensors, dtypes, origin = read_gguf(source, tokenizer)
    elif source.suffix == ".pxi":
        return export_hf_directory(source, out)
    else:
        raise FormatError(f"{source}: not a Hugging Face model directory, a .gguf file or a .pxi model")
    save_model(out, config, tensors, encoding=encoding, dtypes=dtypes, level=level,
               info={"source": origin, "converted_from": str(source)})
    return {"out": str(out), "format": f"pixel model ({encoding})", "tensors": len(tensors),
            "parameters": int(sum(t.size for t in tensors.values()))}


# -- Hugging Face ----------------------------------------------------------------------------


def config_from_hf(hf: Mapping[str, Any], where: str, tokenizer: Optional[str]) -> ModelConfig:
    """A ModelConfig from a Hugging Face ``config.json``; refuse what the engine cannot run."""
    architectures = hf.get("architectures") or []
    if hf.get("model_type") != "llama" or any(a != "LlamaForCausalLM" for a in architectures):
        raise FormatError(f"{where}: unsupported architecture {hf.get('model_type')!r} "
                          f"{architectures} (only Llama, LlamaForCausalLM)")
    for flag in ("attention_bias", "mlp_bias"):
        if hf.get(flag):
            raise FormatError(f"{where}: unsupported Llama variant: {flag} is true")
    if hf.get("hidden_act", "silu") != "silu":
        raise FormatError(f"{where}: unsupported activation {hf.get('hidden_act')!r} (only silu)")
    rope = dict(hf.get("rope_parameters") or {})
    if hf.get("rope_scaling") or rope.get("rope_type", "default") != "default":
        raise FormatError(f"{where}: unsupported rope scaling {hf.get('rope_scaling') or rope}")
    heads = hf.get("num_attention_heads")
    if hf.get("head_dim") not in (None, (hf.get("hidden_size") or 0) // (heads or 1)):
        raise FormatError(f"{where}: head_dim {hf.get('head_dim')} differs from hidden_size / heads")
    return ModelConfig.from_dict({
        "vocab_size": hf.get("vocab_size"), "hidden_size": hf.get("hidden_size"),
        "intermediate_size": hf.get("intermediate_size"), "num_hidden_layers": hf.get("num_hidden_layers"),
        "num_attention_heads": heads, "num_key_value_heads": hf.get("num_key_value_heads") or heads,
        "max_position_embeddings": hf.get("max_position_embeddings"),
        "rms_norm_eps": float(hf.get("rms_norm_eps", 1e-6)),
        "rope_theta": float(rope.get("rope_theta", hf.get("rope_theta", 10000.0))),
        "tie_word_embeddings": bool(hf.get("tie_word_embeddings", False)),
        "tokenizer": tokenizer or hf.get(TOKENIZER_KEY, "none"),
    }, where)


def read_hf_directory(directory: Path, tokenizer: Optional[str]):
    from .safetensors_io import read_safetensors

    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FormatError(f"{directory}: no config.json (not a Hugging Face model directory)")
    try:
        hf = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{config_path}: not valid JSON ({exc})") from None
    config = config_from_hf(hf, str(config_path), tokenizer)
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise FormatError(f"{directory}: no *.safetensors weights (pytorch .bin files are not read: "
                          "they are pickles)")
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for file in files:
        file_tensors, file_dtypes, _ = read_safetensors(file)
        tensors.update(file_tensors)
        dtypes.update(file_dtypes)
    if config.tie_word_embeddings:
        tensors.pop("lm_head.weight", None)
    return config, tensors, dtypes, {"format": "huggingface-safetensors", "files": [f.name for f in files]}


def export_hf_directory(source: Path, out: Path) -> dict:
    """Write ``source`` (.pxi) as a Hugging Face Llama directory at ``out``."""
    from .safetensors_io import write_safetensors

    loaded = load_model(source)
    if out.exists() and not out.is_dir():
        raise FormatError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    c = loaded.config
    hf = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads, "head_dim": c.head_dim,
        "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta, "rope_parameters": {"rope_theta": c.rope_theta, "rope_type": "default"},
        "tie_word_embeddings": c.tie_word_embeddings, "attention_bias": False, "mlp_bias": False,
        TOKENIZER_KEY: c.tokenizer,
    }
    dtypes = {}
    for entry in loaded.directory:
        original = entry.get("dtype", "float32")
        dtypes[entry["name"]] = original if original in ("float32", "float16", "bfloat16") else "float32"
    write_safetensors(out / "model.safetensors", loaded.tensors, dtypes, {"format": "pt"})
    atomic_write(out / "config.json", (json.dumps(hf, indent=2) + "\n").encode("utf-8"))
    return {"out": str(out), "format": "huggingface-safetensors", "tensors": len(loaded.tensors),
            "parameters": int(sum(t.size for t in loaded.tensors.values()))}


# -- GGUF ---------------------------------------------------------------------------------------

GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
GGUF_TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}


def unpermute_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's row permutation of a query/key projection (interleaved -> rotate-half)."""
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def permute_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's permutation (rotate-half -> interleaved), as its converter applies it."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def read_gguf(path: Path, tokenizer: Optional[str]):
    try:
        import gguf
    except ImportError:
        raise FormatError("reading GGUF needs the 'gguf' package: pip install 'pxos-pixellm[convert]'") from None
    try:
        reader = gguf.GGUFReader(os.fspath(path))
    except Exception as exc:  # the gguf package raises ValueError/struct errors for bad files
        raise FormatError(f"{path}: not a readable GGUF file ({exc})") from None

    def field(key: str, default: Any = None) -> Any:
        f = reader.fields.get(key)
        if f is None:
            return default
        value = f.contents()
        return value

    arch = field("general.architecture")
    if arch != "llama":
        raise FormatError(f"{path}: unsupported architecture {arch!r} (only llama)")
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    for t in reader.tensors:
        name = _hf_name(t.name, path)
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        tensors[name] = values
        dtypes[name] = {"F16": "float16", "BF16": "bfloat16"}.get(t.tensor_type.name, "float32")
    embed = tensors.get("model.embed_tokens.weight")
    if embed is None:
        raise FormatError(f"{path}: no token_embd.weight tensor")
    heads = field("llama.attention.head_count")
    kv_heads = field("llama.attention.head_count_kv", heads)
    config = ModelConfig.from_dict({
        "vocab_size": int(field("llama.vocab_size", embed.shape[0])),
        "hidden_size": field("llama.embedding_length"), "intermediate_size": field("llama.feed_forward_length"),
        "num_hidden_layers": field("llama.block_count"), "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "max_position_embeddings": field("llama.context_length"),
        "rms_norm_eps": float(field("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(field("llama.rope.freq_base", 10000.0)),
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "tokenizer": tokenizer or "none",
    }, str(path))
    for name in list(tensors):
        if name.endswith("self_attn.q_proj.weight"):
            tensors[name] = unpermute_rotary(tensors[name], config.num_attention_heads)
        elif name.endswith("self_attn.k_proj.weight"):
            tensors[name] = unpermute_rotary(tensors[name], config.num_key_value_heads)
    return config, tensors, dtypes, {"format": "gguf", "file": path.name}


def _hf_name(gguf_name: str, path: Path) -> str:
    parts = gguf_name.split(".")
    if len(parts) == 2 and parts[0] in GGUF_TOP_NAMES and parts[1] == "weight":
        return f"{GGUF_TOP_NAMES[parts[0]]}.weight"
    if len(parts) == 4 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in GGUF_LAYER_NAMES:
        return f"model.layers.{parts[1]}.{GGUF_LAYER_NAMES[parts[2]]}.weight"
    raise FormatError(f"{path}: unexpected tensor {gguf_name!r} for a llama model")
