"""The transformer forward pass in numpy: a Llama-family / Qwen2 decoder with a KV cache.

One :class:`Transformer` holds the weights and computes next-token logits.
Prefill runs the whole prompt in one batched pass; decoding then feeds one
token at a time, reusing the keys and values cached for earlier positions, so
each new token costs a handful of matrix-vector products instead of a pass
over the whole context.

What differs between the supported architectures is data in
:class:`~pxos_pixellm.config.ModelConfig`: biases on the attention
projections (Qwen2), the head width, rotary scaling (Llama 3's, or linear) and
a sliding attention window (Mistral). The parameter names are Hugging Face's,
so imported checkpoints and the shipped model go through the same code, which
the tests check against ``transformers`` itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from pxos_kernel import FormatError, InferenceError

from .config import ModelConfig


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor a model with ``config`` needs, by Hugging Face name, with its shape."""
    d, f, hd = config.hidden_size, config.intermediate_size, config.attention_head_dim
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
        if config.qkv_bias:
            shapes.update({p + "self_attn.q_proj.bias": (q,), p + "self_attn.k_proj.bias": (kv,),
                           p + "self_attn.v_proj.bias": (kv,)})
        if config.o_proj_bias:
            shapes[p + "self_attn.o_proj.bias"] = (d,)
    shapes["model.norm.weight"] = (d,)
    if not config.tie_word_embeddings:
        shapes["lm_head.weight"] = (config.vocab_size, d)
    return shapes


def check_shapes(config: ModelConfig, shapes: Mapping[str, tuple[int, ...]], where: str) -> None:
    """Raise FormatError naming the first missing, extra or wrongly shaped tensor.

    This is the check behind "a model whose config and tensors disagree": it
    runs on every save and load, before any weight is used.
    """
    wanted = expected_shapes(config)
    for name, shape in wanted.items():
        if name not in shapes:
            raise FormatError(f"{where}: tensor {name} is missing (the config describes a {config.architecture} "
                              f"model with {config.num_hidden_layers} layers)")
        if tuple(shapes[name]) != shape:
            raise FormatError(f"{where}: tensor {name} has shape {tuple(shapes[name])}, the config needs {shape}")
    extra = sorted(set(shapes) - set(wanted))
    if extra:
        raise FormatError(f"{where}: unexpected tensor {extra[0]} (not part of a {config.architecture} model "
                          "with this config)")


def check_tensors(config: ModelConfig, tensors: Mapping[str, Any], where: str) -> None:
    """:func:`check_shapes` on arrays."""
    check_shapes(config, {name: tuple(t.shape) for name, t in tensors.items()}, where)


def rope_frequencies(config: ModelConfig) -> np.ndarray:
    """The rotary inverse frequencies (head_dim / 2), scaled as the config says (Hugging Face's formulas)."""
    hd = config.attention_head_dim
    inv_freq = 1.0 / (config.rope_theta ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    scaling = config.rope_scaling
    if scaling is None:
        return inv_freq
    if scaling["rope_type"] == "freq_factors":
        return inv_freq / np.asarray(scaling["factors"], dtype=np.float64)
    if scaling["rope_type"] == "linear":
        return inv_freq / scaling["factor"]
    # llama3: long wavelengths slowed by `factor`, short ones kept, the band between blended smoothly.
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    scaled = np.where(wavelen > old_context / low, inv_freq / factor, inv_freq)
    smooth = (old_context / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_context / high) & (wavelen <= old_context / low)
    return np.where(medium, smoothed, scaled)


@dataclass
class _Layer:
    """One decoder block's weights as float32, (out, in) like Hugging Face's, multiplied as ``x @ w.T``."""

    attn_norm: np.ndarray
    wq: np.ndarray
    wk: np.ndarray
    wv: np.ndarray
    wo: np.ndarray
    bq: Optional[np.ndarray]
    bk: Optional[np.ndarray]
    bv: Optional[np.ndarray]
    bo: Optional[np.ndarray]
    mlp_norm: np.ndarray
    w_gate: np.ndarray
    w_up: np.ndarray
    w_down: np.ndarray


class KVCache:
    """Keys and values of every layer for the positions seen so far (preallocated)."""

    def __init__(self, config: ModelConfig, capacity: int):
        shape = (config.num_hidden_layers, config.num_key_value_heads, capacity, config.attention_head_dim)
        self.keys = np.zeros(shape, dtype=np.float32)
        self.values = np.zeros(shape, dtype=np.float32)
        self.capacity = capacity
        self.length = 0


class Transformer:
    """Computes logits from token ids. Weights are float arrays keyed by Hugging Face name.

    This is the readable reference; the engine computes with the compiled kernels
    (:mod:`pxos_pixellm.native`, the same function on the stored weights) when they build.
    """

    backend = "numpy"

    def __init__(self, config: ModelConfig, tensors: Mapping[str, np.ndarray], where: str = "model"):
        check_tensors(config, tensors, where)
        self.config = config

        def f32(name: str) -> np.ndarray:
            return np.ascontiguousarray(tensors[name], dtype=np.float32)

        def bias(name: str) -> Optional[np.ndarray]:
            return f32(name) if name in tensors else None

        self.embed = f32("model.embed_tokens.weight")
        self.head = self.embed if config.tie_word_embeddings else f32("lm_head.weight")
        self.final_norm = f32("model.norm.weight")
        self.layers = []
        for i in range(config.num_hidden_layers):
            p = f"model.layers.{i}."
            self.layers.append(_Layer(
                attn_norm=f32(p + "input_layernorm.weight"),
                wq=f32(p + "self_attn.q_proj.weight"), wk=f32(p + "self_attn.k_proj.weight"),
                wv=f32(p + "self_attn.v_proj.weight"), wo=f32(p + "self_attn.o_proj.weight"),
                bq=bias(p + "self_attn.q_proj.bias"), bk=bias(p + "self_attn.k_proj.bias"),
                bv=bias(p + "self_attn.v_proj.bias"), bo=bias(p + "self_attn.o_proj.bias"),
                mlp_norm=f32(p + "post_attention_layernorm.weight"),
                w_gate=f32(p + "mlp.gate_proj.weight"), w_up=f32(p + "mlp.up_proj.weight"),
                w_down=f32(p + "mlp.down_proj.weight"),
            ))
        angles = np.outer(np.arange(config.max_position_embeddings, dtype=np.float64), rope_frequencies(config))
        self.cos = np.cos(angles).astype(np.float32)  # (positions, hd / 2)
        self.sin = np.sin(angles).astype(np.float32)

    def new_cache(self, capacity: int | None = None) -> KVCache:
        """An empty cache for up to ``capacity`` positions (default: the model's context)."""
        return KVCache(self.config, capacity or self.config.max_position_embeddings)

    def forward(self, ids: "np.ndarray | list[int]", cache: KVCache | None = None, *,
                last_only: bool = False) -> np.ndarray:
        """Logits (len(ids), vocab) for ``ids`` placed after what ``cache`` already holds.

        Without a cache the ids are a whole sequence from position 0. With one,
        the ids continue it and the cache is extended in place. ``last_only``
        computes the last row only, (1, vocab): all that generation reads.

        The pass is :meth:`embed_tokens`, :meth:`run_layers` over every layer,
        then :meth:`logits`. An engine that runs some layers elsewhere (the GPU
        engine's ``offload: layers N-M``) calls the three pieces itself.
        """
        x = self.embed_tokens(ids)
        cache = cache if cache is not None else self.new_cache(len(x))
        start = cache.length
        x = self.run_layers(x, cache, start, range(len(self.layers)))
        cache.length = start + len(x)
        return self.logits(x[-1:] if last_only else x)

    def embed_tokens(self, ids: "np.ndarray | list[int]") -> np.ndarray:
        """The hidden states (len(ids), hidden_size) of token ids; InferenceError for ids out of range."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or len(ids) == 0:
            raise InferenceError("forward needs a non-empty 1-D sequence of token ids")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise InferenceError(f"token id out of range 0..{self.config.vocab_size - 1}")
        return self.embed[ids]

    def run_layers(self, x: np.ndarray, cache: KVCache, start: int, layers: range) -> np.ndarray:
        """Decoder ``layers`` over hidden states ``x`` (n, hidden_size) at positions ``start..start + n``.

        Writes those layers' keys and values into ``cache`` at those positions
        and attends over what it holds before them. It does not move
        ``cache.length``: the caller does, once every layer has run.
        """
        cfg = self.config
        n = len(x)
        end = start + n
        if end > min(cache.capacity, cfg.max_position_embeddings):
            raise InferenceError(f"sequence of {end} tokens exceeds the context of "
                                 f"{min(cache.capacity, cfg.max_position_embeddings)}")
        h, kvh, hd = cfg.num_attention_heads, cfg.num_key_value_heads, cfg.attention_head_dim
        group = h // kvh
        cos, sin = self.cos[start:end], self.sin[start:end]
        window = cfg.sliding_window
        first = 0 if window is None else max(0, end - n - window + 1)  # the oldest key any new row sees
        mask = _attention_mask(start, n, first, window)
        scale = np.float32(1.0 / np.sqrt(hd))
        for index in layers:
            layer = self.layers[index]
            normed = self._rms_norm(x, layer.attn_norm)
            q = _linear(normed, layer.wq, layer.bq).reshape(n, h, hd)
            k = _linear(normed, layer.wk, layer.bk).reshape(n, kvh, hd)
            v = _linear(normed, layer.wv, layer.bv).reshape(n, kvh, hd)
            cache.keys[index, :, start:end] = _rope(k, cos, sin).transpose(1, 0, 2)
            cache.values[index, :, start:end] = v.transpose(1, 0, 2)
            keys = cache.keys[index, :, first:end]  # (kvh, visible, hd)
            values = cache.values[index, :, first:end]
            # Group query heads over their shared key/value head: (kvh, group * n, hd).
            qg = _rope(q, cos, sin).reshape(n, kvh, group, hd).transpose(1, 2, 0, 3).reshape(kvh, group * n, hd)
            scores = (qg @ keys.transpose(0, 2, 1)) * scale  # (kvh, group * n, visible)
            if mask is not None:
                scores = (scores.reshape(kvh, group, n, end - first) + mask).reshape(kvh, group * n, end - first)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attended = (scores @ values).reshape(kvh, group, n, hd).transpose(2, 0, 1, 3).reshape(n, h * hd)
            x = x + _linear(attended, layer.wo, layer.bo)
            normed = self._rms_norm(x, layer.mlp_norm)
            gate, up = normed @ layer.w_gate.T, normed @ layer.w_up.T
            with np.errstate(over="ignore"):  # exp(-gate) overflows to inf for very negative gates: silu is then -0
                x = x + (gate / (1.0 + np.exp(-gate)) * up) @ layer.w_down.T
        return x

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The final norm and the output head over hidden states ``x`` (n, hidden_size): (n, vocab)."""
        return self._rms_norm(x, self.final_norm) @ self.head.T

    def _rms_norm(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        variance = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(variance + np.float32(self.config.rms_norm_eps)) * weight


def _linear(x: np.ndarray, weight: np.ndarray, bias: Optional[np.ndarray]) -> np.ndarray:
    out = x @ weight.T
    return out if bias is None else out + bias


def _attention_mask(start: int, n: int, first: int, window: Optional[int]) -> Optional[np.ndarray]:
    """Additive mask (n, visible) for new rows at ``start..start+n`` over keys ``first..start+n``.

    A row sees keys up to its own position (causal) and, with a sliding
    window, only the ``window`` most recent of those, itself included.
    """
    end = start + n
    if n == 1 and (window is None or end - first <= window):
        return None
    rows = np.arange(start, end)[:, None]
    cols = np.arange(first, end)[None, :]
    visible = cols <= rows
    if window is not None:
        visible &= cols > rows - window
    return np.where(visible, np.float32(0), np.float32(-np.inf))


def _rope(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotate (n, heads, hd) by position, in the rotate-half layout Hugging Face's models use."""
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return np.concatenate((first * c - second * s, second * c + first * s), axis=-1)


COMPUTE_CHOICES = ("auto", "native", "numpy")


def build_transformer(opened: Any, compute: str = "auto", where: str = "model") -> Any:
    """The transformer for an opened container: compiled kernels on the stored weights, or numpy.

    ``compute`` is ``auto`` (the kernels when they build, else numpy),
    ``native`` (the kernels or an InferenceError saying why not) or ``numpy``.
    """
    if compute not in COMPUTE_CHOICES:
        raise InferenceError(f"compute must be one of {', '.join(COMPUTE_CHOICES)}, not {compute!r}")
    if compute != "numpy":
        from . import native

        if native.library() is not None:
            return native.NativeTransformer(opened, where=where)
        if compute == "native":
            raise InferenceError(f"compute 'native' asked for, but {native.unavailable_reason()}")
    return Transformer(opened.config, dict(opened.arrays()), where=where)
