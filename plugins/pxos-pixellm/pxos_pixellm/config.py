"""The architecture description stored in every model container (public API).

One :class:`ModelConfig` describes every supported decoder: the Llama family
(Llama 2 and 3, TinyLlama, SmolLM; Mistral, optionally with a sliding
window) and Qwen2/Qwen2.5 (biases on the query, key and value projections).
They share one computation; the fields say where they differ. Field names
are Hugging Face's, so a ``config.json`` maps onto them one to one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

from pxos_kernel import FormatError

# Hugging Face model_type -> the class its config.json names. The order is the one error messages list.
ARCHITECTURES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}
TOKENIZER_KINDS = ("bytes", "hf", "none")
ROPE_TYPES = ("default", "linear", "llama3", "freq_factors")

_OPTIONAL = {"rms_norm_eps", "rope_theta", "tie_word_embeddings", "tokenizer", "architecture", "head_dim",
             "rope_scaling", "sliding_window", "qkv_bias", "o_proj_bias"}


def supported_architectures() -> str:
    """The supported list, as error messages name it."""
    return ", ".join(f"{kind} ({cls})" for kind, cls in ARCHITECTURES.items())


@dataclass(frozen=True)
class ModelConfig:
    """A decoder-only transformer of the Llama family or Qwen2, in Hugging Face's field names.

    ``architecture``
        the Hugging Face ``model_type``: ``llama``, ``mistral`` or ``qwen2``.
    ``head_dim``
        the width of one attention head; ``None`` means ``hidden_size // num_attention_heads``.
    ``rope_scaling``
        ``None`` (plain rotary embeddings), ``{"rope_type": "linear", "factor": F}`` or Llama 3's
        ``{"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor",
        "original_max_position_embeddings"}``.
    ``sliding_window``
        Mistral's attention window (each position sees at most this many, itself included), or ``None``.
    ``qkv_bias`` / ``o_proj_bias``
        biases on the query/key/value projections (Qwen2) and on the output projection.
    ``tokenizer``
        ``bytes`` (token id = byte value: the shipped model), ``hf`` (a Hugging Face
        ``tokenizer.json`` stored in the container) or ``none`` (logits only).
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True
    tokenizer: str = "bytes"
    architecture: str = "llama"
    head_dim: Optional[int] = None
    rope_scaling: Optional[dict] = None
    sliding_window: Optional[int] = None
    qkv_bias: bool = False
    o_proj_bias: bool = False

    @property
    def attention_head_dim(self) -> int:
        """The head width in use (``head_dim`` or ``hidden_size // num_attention_heads``)."""
        return self.head_dim or self.hidden_size // self.num_attention_heads

    def parameter_count(self) -> int:
        """How many parameters a model with this config has (tied heads counted once)."""
        from .model import expected_shapes

        return sum(math.prod(shape) for shape in expected_shapes(self).values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "model config") -> "ModelConfig":
        """Validate and build; raise FormatError naming ``where`` and the bad field."""
        if not isinstance(data, Mapping):
            raise FormatError(f"{where}: the config is not an object")
        architecture = data.get("architecture", "llama")
        if architecture not in ARCHITECTURES:
            raise FormatError(f"{where}: unsupported architecture {architecture!r} "
                              f"(supported: {supported_architectures()})")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        missing = sorted(known - set(values) - _OPTIONAL)
        if missing:
            raise FormatError(f"{where}: missing config field(s) {', '.join(missing)}")
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "max_position_embeddings"):
            _positive_int(values[name], name, where)
        for name in ("head_dim", "sliding_window"):
            if values.get(name) is not None:
                _positive_int(values[name], name, where)
        if values.get("rope_scaling") is not None:
            values["rope_scaling"] = _rope_scaling(values["rope_scaling"], where)
        config = cls(**values)
        if config.head_dim is None and config.hidden_size % config.num_attention_heads:
            raise FormatError(f"{where}: hidden_size {config.hidden_size} does not split into "
                              f"{config.num_attention_heads} heads (and no head_dim is given)")
        if config.attention_head_dim % 2:
            raise FormatError(f"{where}: head width {config.attention_head_dim} is odd; rotary embeddings "
                              "need an even one")
        if config.rope_scaling and config.rope_scaling["rope_type"] == "freq_factors" \
                and len(config.rope_scaling["factors"]) != config.attention_head_dim // 2:
            raise FormatError(f"{where}: {len(config.rope_scaling['factors'])} rope frequency factors for heads of "
                              f"width {config.attention_head_dim} (need {config.attention_head_dim // 2})")
        if config.num_attention_heads % config.num_key_value_heads:
            raise FormatError(f"{where}: {config.num_attention_heads} attention heads are not a multiple "
                              f"of {config.num_key_value_heads} key/value heads")
        if config.tokenizer not in TOKENIZER_KINDS:
            raise FormatError(f"{where}: unknown tokenizer kind {config.tokenizer!r} "
                              f"(expected one of {', '.join(TOKENIZER_KINDS)})")
        if config.tokenizer == "bytes" and config.vocab_size < 256:
            raise FormatError(f"{where}: a byte-level model needs vocab_size >= 256, got {config.vocab_size}")
        return config


def _positive_int(value: Any, name: str, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise FormatError(f"{where}: {name} must be a positive integer, got {value!r}")


def _rope_scaling(scaling: Any, where: str) -> Optional[dict]:
    """Normalise a rope scaling entry; refuse the kinds the engine does not compute."""
    if not isinstance(scaling, Mapping):
        raise FormatError(f"{where}: rope_scaling must be an object, got {scaling!r}")
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind not in ROPE_TYPES:
        raise FormatError(f"{where}: unsupported rope scaling {kind!r} (supported: {', '.join(ROPE_TYPES)})")
    if kind == "default":
        return None
    out: dict[str, Any] = {"rope_type": kind}
    if kind == "freq_factors":
        factors = scaling.get("factors")
        if not isinstance(factors, list) or not factors or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in factors):
            raise FormatError(f"{where}: rope scaling freq_factors needs a list of positive factors")
        out["factors"] = [float(v) for v in factors]
        return out
    needed = ["factor"] + (["low_freq_factor", "high_freq_factor", "original_max_position_embeddings"]
                           if kind == "llama3" else [])
    for key in needed:
        value = scaling.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
            raise FormatError(f"{where}: rope scaling {kind} needs a positive {key}, got {value!r}")
        out[key] = value
    return out
