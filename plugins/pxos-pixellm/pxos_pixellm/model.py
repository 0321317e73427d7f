"""The transformer forward pass in numpy: a Llama-style decoder with a KV cache.

One :class:`Transformer` holds float32 weights (decoded from the container
once, at load time) and computes next-token logits. Prefill runs the whole
prompt in one batched pass; decoding then feeds one token at a time, reusing
the keys and values cached for earlier positions, so each new token costs a
handful of matrix-vector products instead of a pass over the whole context.

The parameter names are Hugging Face's ``LlamaForCausalLM`` names, so imported
checkpoints and the shipped model go through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from pxos_kernel.errors import FormatError, InferenceError

from .config import ModelConfig


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a model with ``config`` needs, by Hugging Face name, with its shape."""
    d, f, hd = config.hidden_size, config.intermediate_size, config.head_dim
    q, kv = config.num_attention_heads * hd, config.num_key_value_heads * hd
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (config.vocab_size, d)}
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (d,),
            p + "self_attn.q_proj.weight": (q, d),
            p + "self_attn.k_proj.weight": (kv, d),
            p + "self_attn.v_proj.weight": (kv, d),
            p + "self_attn.o_proj.weight": (d, q),
            p + "post_attention_layernorm.weight": (d,),
            p + "mlp.gate_proj.weight": (f, d),
            p + "mlp.up_proj.weight": (f, d),
            p + "mlp.down_proj.weight": (d, f),
        })
    shapes["model.norm.weight"] = (d,)
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, d)
    return shapes


def check_tensors(config: ModelConfig, tensors: Mapping[str, np.ndarray], where: str) -> None:
    """Raise FormatError naming the first missing, extra or wrongly shaped tensor."""
    shapes = expected_shapes(config)
    for name, shape in shapes.items():
        if name not in tensors:
            raise FormatError(f"{where}: tensor {name} is missing")
        if tuple(tensors[name].shape) != shape:
            raise FormatError(f"{where}: tensor {name} has shape {tuple(tensors[name].shape)}, "
                              f"the config needs {shape}")
    extra = sorted(set(tensors) - set(shapes))
    if extra:
        raise FormatError(f"{where}: unexpected tensor {extra[0]} (not part of a {config.architecture} model)")


@dataclass
class _Layer:
    """One decoder block's weights, pre-transposed so activations multiply on the left."""

    attn_norm: np.ndarray
    wqkv: np.ndarray  # (d, q + 2 * kv): the three projections fused into one matmul
    wo: np.ndarray
    mlp_norm: np.ndarray
    w_gate_up: np.ndarray  # (d, 2 * f)
    w_down: np.ndarray


class KVCache:
    """Keys and values of every layer for the positions seen so far (preallocated)."""

    def __init__(self, config: ModelConfig, capacity: int):
        shape = (config.num_hidden_layers, config.num_key_value_heads, capacity, config.head_dim)
        self.keys = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.capacity = capacity
        self.length = 0


class Transformer:
    """Computes logits from token ids. Weights are float32 arrays keyed by Hugging Face name."""

    def __init__(self, config: ModelConfig, tensors: Mapping[str, np.ndarray], where: str = "model"):
        check_tensors(config, tensors, where)
        self.config = config
        f32 = {name: np.ascontiguousarray(t, dtype=np.float32) for name, t in tensors.items()}
        self.embed = f32["model.embed_tokens.weight"]
        self.head_t = np.ascontiguousarray((self.embed if config.tie_word_embeddings else f32["lm_head.weight"]).T)
        self.final_norm = f32["model.norm.weight"]
        self.layers = []
        for i in range(config.num_hidden_layers):
            p = f"model.layers.{i}."
            self.layers.append(_Layer(
                attn_norm=f32[p + "input_layernorm.weight"],
                wqkv=np.ascontiguousarray(np.concatenate(
                    [f32[p + "self_attn.q_proj.weight"], f32[p + "self_attn.k_proj.weight"],
                     f32[p + "self_attn.v_proj.weight"]]).T),
                wo=np.ascontiguousarray(f32[p + "self_attn.o_proj.weight"].T),
                mlp_norm=f32[p + "post_attention_layernorm.weight"],
                w_gate_up=np.ascontiguousarray(np.concatenate(
                    [f32[p + "mlp.gate_proj.weight"], f32[p + "mlp.up_proj.weight"]]).T),
                w_down=np.ascontiguousarray(f32[p + "mlp.down_proj.weight"].T),
            ))
        hd = config.head_dim
        inv_freq = 1.0 / (config.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        angles = np.outer(np.arange(config.max_position_embeddings, dtype=np.float64), inv_freq)
        self.cos = np.cos(angles).astype(np.float32)  # (positions, hd / 2)
        self.sin = np.sin(angles).astype(np.float32)

    def new_cache(self, capacity: int | None = None) -> KVCache:
        """An empty cache for up to ``capacity`` positions (default: the model's context)."""
        return KVCache(self.config, capacity or self.config.max_position_embeddings)

    def forward(self, ids: "np.ndarray | list[int]", cache: KVCache | None = None) -> np.ndarray:
        """Logits (len(ids), vocab) for ``ids`` placed after what ``cache`` already holds.

        Without a cache the ids are a whole sequence from position 0. With one,
        the ids continue it and the cache is extended in place.
        """
        ids = np.asarray(ids, dtype=np.int64)
        cfg = self.config
        if ids.ndim != 1 or len(ids) == 0:
            raise InferenceError("forward needs a non-empty 1-D sequence of token ids")
        if ids.min() < 0 or ids.max() >= cfg.vocab_size:
            raise InferenceError(f"token id out of range 0..{cfg.vocab_size - 1}")
        cache = cache if cache is not None else self.new_cache(len(ids))
        start, n = cache.length, len(ids)
        if start + n > min(cache.capacity, cfg.max_position_embeddings):
            raise InferenceError(f"sequence of {start + n} tokens exceeds the context of "
                                 f"{min(cache.capacity, cfg.max_position_embeddings)}")
        h, kvh, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim
        q_width, kv_width = h * hd, kvh * hd
        group = h // kvh
        cos, sin = self.cos[start:start + n], self.sin[start:start + n]
        end = start + n
        # Causal mask for the new rows against every cached + new column.
        mask = None
        if n > 1:
            mask = np.triu(np.full((n, end), -np.inf, dtype=np.float32), k=start + 1)
        x = self.embed[ids]
        scale = np.float32(1.0 / np.sqrt(hd))
        for index, layer in enumerate(self.layers):
            qkv = self._rms_norm(x, layer.attn_norm) @ layer.wqkv
            q = _rope(qkv[:, :q_width].reshape(n, h, hd), cos, sin)
            k = _rope(qkv[:, q_width:q_width + kv_width].reshape(n, kvh, hd), cos, sin)
            v = qkv[:, q_width + kv_width:].reshape(n, kvh, hd)
            cache.keys[index, :, start:end] = k.transpose(1, 0, 2)
            cache.values[index, :, start:end] = v.transpose(1, 0, 2)
            keys = cache.keys[index, :, :end]  # (kvh, end, hd)
            values = cache.values[index, :, :end]
            # Group query heads over their shared key/value head: (kvh, group * n, hd).
            qg = q.reshape(n, kvh, group, hd).transpose(1, 2, 0, 3).reshape(kvh, group * n, hd)
            scores = (qg @ keys.transpose(0, 2, 1)) * scale  # (kvh, group * n, end)
            if mask is not None:
                scores = scores.reshape(kvh, group, n, end) + mask
                scores = scores.reshape(kvh, group * n, end)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ values).reshape(kvh, group, n, hd).transpose(2, 0, 1, 3).reshape(n, q_width)
            x = x + attended @ layer.wo
            gate_up = self._rms_norm(x, layer.mlp_norm) @ layer.w_gate_up
            gate, up = gate_up[:, :cfg.intermediate_size], gate_up[:, cfg.intermediate_size:]
            x = x + (gate / (1.0 + np.exp(-gate)) * up) @ layer.w_down
        cache.length = end
        return self._rms_norm(x, self.final_norm) @ self.head_t

    def _rms_norm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        variance = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(variance + np.float32(self.config.rms_norm_eps)) * weight


def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate (n, heads, hd) by position, in the rotate-half layout Hugging Face's Llama uses."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate((first * c - second * s, second * c + first * s), axis=-1)
