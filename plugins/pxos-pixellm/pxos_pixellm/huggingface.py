"""Hugging Face model directories in and out: ``config.json``, ``*.safetensors`` and the tokenizer files.

Import reads what ``save_pretrained`` writes for ``LlamaForCausalLM``,
``MistralForCausalLM`` and ``Qwen2ForCausalLM``: the config, the weight
shards (F32, F16, BF16), ``tokenizer.json`` (read with the ``tokenizers``
library), and the special tokens and chat template of
``tokenizer_config.json`` / ``chat_template.jinja`` / ``generation_config.json``.
Export writes the same files back, so ``transformers`` loads the result.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from pxos_kernel import FormatError, atomic_write

from .config import ARCHITECTURES, ModelConfig, supported_architectures
from .tokenizer import eos_ids_from, tokenizer_section

TOKENIZER_KEY = "pxos_tokenizer"  # written into exported config.json so a round trip keeps "bytes"


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path}: not valid JSON ({exc})") from None


def config_from_hf(hf: Mapping[str, Any], where: str, tokenizer: str) -> ModelConfig:
    """A ModelConfig from a Hugging Face ``config.json``; refuse what the engine cannot run, by name."""
    model_type = hf.get("model_type")
    architectures = hf.get("architectures") or [ARCHITECTURES.get(str(model_type), "?")]
    if model_type not in ARCHITECTURES or any(a != ARCHITECTURES[model_type] for a in architectures):
        raise FormatError(f"{where}: unsupported architecture {model_type!r} {list(architectures)} "
                          f"(supported: {supported_architectures()})")
    if hf.get("mlp_bias"):
        raise FormatError(f"{where}: unsupported {model_type} variant: mlp_bias is true")
    if hf.get("hidden_act", "silu") != "silu":
        raise FormatError(f"{where}: unsupported activation {hf.get('hidden_act')!r} (only silu)")
    if model_type == "qwen2" and hf.get("use_sliding_window"):
        raise FormatError(f"{where}: unsupported qwen2 variant: use_sliding_window is true")
    rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
    theta = rope.get("rope_theta", hf.get("rope_theta", 10000.0))
    if rope.get("partial_rotary_factor", 1.0) != 1.0:
        raise FormatError(f"{where}: unsupported partial rotary factor {rope['partial_rotary_factor']}")
    heads = hf.get("num_attention_heads")
    qkv_bias = model_type == "qwen2" or bool(hf.get("attention_bias"))
    return ModelConfig.from_dict({
        "architecture": model_type,
        "vocab_size": hf.get("vocab_size"), "hidden_size": hf.get("hidden_size"),
        "intermediate_size": hf.get("intermediate_size"), "num_hidden_layers": hf.get("num_hidden_layers"),
        "num_attention_heads": heads, "num_key_value_heads": hf.get("num_key_value_heads") or heads,
        "max_position_embeddings": hf.get("max_position_embeddings"), "head_dim": hf.get("head_dim"),
        "rms_norm_eps": float(hf.get("rms_norm_eps", 1e-6)), "rope_theta": float(theta),
        "rope_scaling": rope if rope.get("rope_type", rope.get("type", "default")) != "default" else None,
        "sliding_window": hf.get("sliding_window") if model_type == "mistral" else None,
        "qkv_bias": qkv_bias, "o_proj_bias": model_type == "llama" and bool(hf.get("attention_bias")),
        "tie_word_embeddings": bool(hf.get("tie_word_embeddings", False)),
        "tokenizer": tokenizer,
    }, where)


def read_hf_tokenizer(directory: Path, hf: Mapping[str, Any]) -> Optional[tuple[dict, bytes]]:
    """The tokenizer section and ``tokenizer.json`` bytes of a model directory, or None without one."""
    path = directory / "tokenizer.json"
    if not path.is_file():
        return None
    blob = path.read_bytes()
    settings = read_json(directory / "tokenizer_config.json") if (directory / "tokenizer_config.json").is_file() else {}
    generation = (read_json(directory / "generation_config.json")
                  if (directory / "generation_config.json").is_file() else {})
    template = settings.get("chat_template")
    if (directory / "chat_template.jinja").is_file():
        template = (directory / "chat_template.jinja").read_text(encoding="utf-8")
    elif (directory / "chat_template.json").is_file():
        template = read_json(directory / "chat_template.json").get("chat_template")
    if isinstance(template, list):  # named templates: keep the default one
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    from tokenizers import Tokenizer

    try:
        library = Tokenizer.from_str(blob.decode("utf-8"))
    except Exception as exc:
        raise FormatError(f"{path}: not a readable tokenizer.json ({str(exc).splitlines()[0] if str(exc) else exc})") \
            from None
    bos, eos = _token_text(settings.get("bos_token")), _token_text(settings.get("eos_token"))
    eos_ids = eos_ids_from([generation.get("eos_token_id"), hf.get("eos_token_id")])
    eos_id = library.token_to_id(eos) if eos is not None else None
    if not eos_ids and eos_id is not None:
        eos_ids = [eos_id]
    if eos is None and eos_ids:
        eos = library.id_to_token(eos_ids[0])
    bos_id = generation.get("bos_token_id", hf.get("bos_token_id"))
    if bos is not None and library.token_to_id(bos) is not None:
        bos_id = library.token_to_id(bos)
    section = tokenizer_section("hf", blob=blob, bos_token=bos, eos_token=eos,
                                bos_token_id=bos_id if isinstance(bos_id, int) else None, eos_token_ids=eos_ids,
                                chat_template=template if isinstance(template, str) and template else None,
                                source="tokenizer.json")
    return section, blob


def _token_text(value: Any) -> Optional[str]:
    if isinstance(value, dict):  # an AddedToken serialised by older transformers
        value = value.get("content")
    return value if isinstance(value, str) else None


def read_hf_directory(directory: Path, tokenizer: Optional[str]):
    """``(config, tensors, dtypes, origin, tokenizer)`` of a Hugging Face model directory."""
    from .safetensors_io import read_safetensors

    config_path = directory / "config.json"
    if not config_path.is_file():
        raise FormatError(f"{directory}: no config.json (not a Hugging Face model directory)")
    hf = read_json(config_path)
    if not isinstance(hf, dict):
        raise FormatError(f"{config_path}: not a JSON object")
    stored = None if tokenizer in ("bytes", "none") else read_hf_tokenizer(directory, hf)
    kind = tokenizer or ("hf" if stored else hf.get(TOKENIZER_KEY, "none"))
    if kind == "hf" and stored is None:
        raise FormatError(f"{directory}: --tokenizer hf needs a tokenizer.json in the directory")
    config = config_from_hf(hf, str(config_path), kind)
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
    for name in [n for n in tensors if n.endswith("rotary_emb.inv_freq")]:
        del tensors[name]  # a buffer older checkpoints saved; recomputed from the config
    origin = {"format": "huggingface-safetensors", "files": [f.name for f in files],
              "model_type": config.architecture}
    return config, tensors, dtypes, origin, stored


def hf_config(config: ModelConfig) -> dict[str, Any]:
    """The ``config.json`` ``transformers`` builds ``config`` from."""
    c = config
    rope: dict[str, Any] = {"rope_theta": c.rope_theta, "rope_type": "default"}
    if c.rope_scaling is not None:
        if c.rope_scaling["rope_type"] == "freq_factors":
            raise FormatError("this model's rotary scaling is a table of frequency factors (imported from a GGUF "
                              "rope_freqs tensor) that Hugging Face configs cannot express: export it to GGUF")
        rope.update(c.rope_scaling)
    out: dict[str, Any] = {
        "architectures": [ARCHITECTURES[c.architecture]], "model_type": c.architecture, "hidden_act": "silu",
        "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads, "head_dim": c.attention_head_dim,
        "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
        "rope_theta": c.rope_theta, "rope_parameters": rope,
        "tie_word_embeddings": c.tie_word_embeddings, TOKENIZER_KEY: c.tokenizer,
    }
    if c.rope_scaling is not None:
        out["rope_scaling"] = dict(c.rope_scaling)
    if c.architecture == "llama":
        out.update(attention_bias=c.qkv_bias, mlp_bias=False)
        if c.qkv_bias != c.o_proj_bias:
            raise FormatError("a llama model with biases on q/k/v but not on o_proj (or the reverse) has no "
                              "Hugging Face equivalent")
    elif c.architecture == "mistral":
        out["sliding_window"] = c.sliding_window
    elif c.architecture == "qwen2":
        out.update(use_sliding_window=False, sliding_window=None)
    return out


def write_hf_directory(out: Path, config: ModelConfig, tensors: Mapping[str, np.ndarray], dtypes: Mapping[str, str],
                       tokenizer: Optional[tuple[Mapping[str, Any], Optional[bytes]]]) -> None:
    """Write ``config.json``, ``model.safetensors`` and (for ``hf`` tokenizers) the tokenizer files."""
    from .safetensors_io import write_safetensors

    if out.exists() and not out.is_dir():
        raise FormatError(f"{out}: exists and is not a directory")
    hf = hf_config(config)
    out.mkdir(parents=True, exist_ok=True)
    generation: dict[str, Any] = {}
    if tokenizer is not None and tokenizer[0].get("kind") == "hf" and tokenizer[1] is not None:
        section, blob = tokenizer[0], tokenizer[1]
        atomic_write(out / "tokenizer.json", blob)
        settings = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": section.get("bos_token"),
                    "eos_token": section.get("eos_token"), "clean_up_tokenization_spaces": False}
        if section.get("chat_template"):
            settings["chat_template"] = section["chat_template"]
        atomic_write(out / "tokenizer_config.json", (json.dumps(settings, indent=2) + "\n").encode("utf-8"))
        eos = list(section.get("eos_token_ids") or [])
        if eos:
            hf["eos_token_id"] = generation["eos_token_id"] = eos[0] if len(eos) == 1 else eos
        if section.get("bos_token_id") is not None:
            hf["bos_token_id"] = generation["bos_token_id"] = section["bos_token_id"]
    write_safetensors(out / "model.safetensors", tensors, dtypes, {"format": "pt"})
    if generation:
        atomic_write(out / "generation_config.json", (json.dumps(generation, indent=2) + "\n").encode("utf-8"))
    atomic_write(out / "config.json", (json.dumps(hf, indent=2) + "\n").encode("utf-8"))
