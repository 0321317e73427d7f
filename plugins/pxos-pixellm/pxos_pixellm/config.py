"""The architecture description stored in every model container."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from pxos_kernel.errors import FormatError

ARCHITECTURE = "llama"


@dataclass(frozen=True)
class ModelConfig:
    """A Llama-style decoder-only transformer, in Hugging Face's field names.

    ``tokenizer`` is ``"bytes"`` for byte-level models (token id = byte value,
    which the engine can generate text with) or ``"none"`` for imported models
    whose vocabulary pxOS cannot decode (their logits can still be computed).
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
    architecture: str = ARCHITECTURE

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "model config") -> "ModelConfig":
        """Validate and build; raise FormatError naming ``where`` and the bad field."""
        if not isinstance(data, Mapping):
            raise FormatError(f"{where}: the config is not an object")
        if data.get("architecture", ARCHITECTURE) != ARCHITECTURE:
            raise FormatError(f"{where}: unsupported architecture {data.get('architecture')!r} (only 'llama')")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        missing = sorted(known - set(values) - {"rms_norm_eps", "rope_theta", "tie_word_embeddings",
                                                 "tokenizer", "architecture"})
        if missing:
            raise FormatError(f"{where}: missing config field(s) {', '.join(missing)}")
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "max_position_embeddings"):
            if not isinstance(values[name], int) or isinstance(values[name], bool) or values[name] <= 0:
                raise FormatError(f"{where}: {name} must be a positive integer, got {values[name]!r}")
        config = cls(**values)
        if config.hidden_size % config.num_attention_heads or config.head_dim % 2:
            raise FormatError(f"{where}: hidden_size {config.hidden_size} does not split into "
                              f"{config.num_attention_heads} heads of even size")
        if config.num_attention_heads % config.num_key_value_heads:
            raise FormatError(f"{where}: {config.num_attention_heads} attention heads are not a multiple "
                              f"of {config.num_key_value_heads} key/value heads")
        if config.tokenizer not in ("bytes", "none"):
            raise FormatError(f"{where}: unknown tokenizer {config.tokenizer!r} (expected 'bytes' or 'none')")
        if config.tokenizer == "bytes" and config.vocab_size < 256:
            raise FormatError(f"{where}: a byte-level model needs vocab_size >= 256, got {config.vocab_size}")
        return config
