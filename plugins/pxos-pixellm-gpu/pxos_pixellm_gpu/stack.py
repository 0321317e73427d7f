"""The forward pass on the GPU: decoder layers (and optionally the embedding and the head) in WGSL.

A :class:`GpuStack` holds the dispatches of one contiguous run of layers,
recorded once when the model loads, over buffers that stay on the GPU: the
weights (:mod:`pxos_pixellm_gpu.weights`), the activations of one step of up
to ``batch`` tokens, and the KV cache (:class:`GpuCache`, one per
generation). A step writes the first position and the token count into one
small uniform buffer, replays the dispatches and reads back the logits (or,
when the CPU runs the layers after, the hidden state).

Each decoder layer is eleven dispatches: RMSNorm; the q, k and v projections
(with Qwen2's biases when the model has them); rotary embeddings of the
queries; rotated keys and the values into the cache; attention over the
cache (grouped key/value heads, causal, Mistral's sliding window); the output
projection added to the residual; RMSNorm; gate and up projections with SiLU
(SwiGLU); and the down projection added to the residual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from pxos_kernel import InferenceError

from .kernels import TOKEN_BLOCK, Dispatch, Kernels, row_groups
from .weights import GpuTensor, Upload, buffer_limit

_STEP_FORMAT = "4I"


@dataclass(frozen=True)
class Dims:
    """The sizes of a model, read from pxos-pixellm's ModelConfig."""

    vocab: int
    width: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    context: int
    eps: float
    window: int  # 0: no sliding window
    tied: bool

    @classmethod
    def of(cls, config: Any) -> "Dims":
        return cls(config.vocab_size, config.hidden_size, config.intermediate_size, config.num_hidden_layers,
                   config.num_attention_heads, config.num_key_value_heads, config.attention_head_dim,
                   config.max_position_embeddings, float(config.rms_norm_eps), config.sliding_window or 0,
                   bool(config.tie_word_embeddings))


class GpuCache:
    """Keys and values of the GPU's layers for ``capacity`` positions, kept on the GPU."""

    def __init__(self, stack: "GpuStack", capacity: int):
        self.capacity = capacity
        self.length = 0
        self.keys = {}
        self.values = {}
        size = stack.dims.kv_heads * capacity * stack.dims.head_dim * 4
        stack.check_size("the KV cache of one layer", size)
        for index in stack.layers:
            self.keys[index] = stack.kernels.storage(size, f"keys.{index}")
            self.values[index] = stack.kernels.storage(size, f"values.{index}")
        self.dispatches = stack.cache_dispatches(self)


class GpuStack:
    """Layers ``layers`` of a model on the GPU, with the embedding (``embed``) and head (``head``) if asked."""

    def __init__(self, kernels: Kernels, config: Any, weights: Upload, layers: range, *, embed: bool, head: bool,
                 rope: tuple[np.ndarray, np.ndarray], batch: int = 32, max_buffer: Optional[int] = None):
        self.kernels = kernels
        self.limit, self.limit_text = buffer_limit(kernels, max_buffer)
        self.dims = dims = Dims.of(config)
        self.weights = weights
        self.layers = layers
        self.embed = embed
        self.head = head
        per_token_scores = dims.heads * dims.context * 4
        self.check_size("the attention scores of one token", per_token_scores)
        self.batch = max(1, min(batch, self.limit // per_token_scores))
        k = kernels
        b = self.batch
        self.step = k.device.create_buffer(label="step", size=16, usage=k.usage.UNIFORM | k.usage.COPY_DST)
        self.ids = k.storage(4 * b, "ids")
        self.x = k.storage(4 * b * dims.width, "x", readable=True)
        self.xn = k.storage(4 * b * dims.width, "xn")
        self.q = k.storage(4 * b * dims.heads * dims.head_dim, "q")
        self.k = k.storage(4 * b * dims.kv_heads * dims.head_dim, "k")
        self.v = k.storage(4 * b * dims.kv_heads * dims.head_dim, "v")
        self.attended = k.storage(4 * b * dims.heads * dims.head_dim, "attended")
        self.hidden = k.storage(4 * b * dims.ffn, "hidden")
        self.scores = k.storage(b * per_token_scores, "scores")
        self.logits = k.storage(4 * b * dims.vocab, "logits", readable=True) if head else None
        cos, sin = rope
        self.cos = k.device.create_buffer_with_data(label="cos", data=np.ascontiguousarray(cos, np.float32),
                                                    usage=k.usage.STORAGE)
        self.sin = k.device.create_buffer_with_data(label="sin", data=np.ascontiguousarray(sin, np.float32),
                                                    usage=k.usage.STORAGE)
        #: bytes written to the GPU besides the weights (the rotary tables), reported by the benchmark
        self.derived_bytes = self.cos.size + self.sin.size
        self.before: list[Dispatch] = []
        self.head_last: list[Dispatch] = []
        self.head_all: list[Dispatch] = []
        if embed:
            self.before += self._embed(self.tensor("model.embed_tokens.weight"))
        self.before_cache: dict[int, list[Dispatch]] = {}
        self.after_cache: dict[int, list[Dispatch]] = {}
        for index in layers:
            self.before_cache[index], self.after_cache[index] = self._layer(index)
        if head:
            name = "model.embed_tokens.weight" if dims.tied else "lm_head.weight"
            for last_only, dispatches in ((True, self.head_last), (False, self.head_all)):
                dispatches += self._norm(self.tensor("model.norm.weight"), self.x, self.xn, last_only=last_only)
                dispatches += self._linear(self.tensor(name), self.xn, self.logits, last_only=last_only)

    # -- building --------------------------------------------------------------------

    def check_size(self, what: str, size: int) -> None:
        if size > self.limit:
            raise InferenceError(f"{what} takes {size} bytes, more than {self.limit_text}; "
                                 "use a model with a shorter context")

    def tensor(self, name: str) -> GpuTensor:
        return self.weights.tensors[name]

    def optional(self, name: str) -> Optional[GpuTensor]:
        return self.weights.tensors.get(name)

    def _linear(self, weight: GpuTensor, x: Any, y: Any, *, bias: Optional[GpuTensor] = None,
                accumulate: bool = False, last_only: bool = False) -> list[Dispatch]:
        """y (=|+=) x @ weight.T (+ bias), one dispatch per chunk of the weight's rows."""
        slots = [("W", weight.encoding)] + ([("B", bias.encoding)] if bias else [])
        pipeline = self.kernels.pipeline("linear", slots=slots, words={
            "VECTOR": "true" if weight.cols % 4 == 0 else "false",
            "BIAS": "+ B_at(p.row0 + row)" if bias else "",
            "ACCUMULATE": "y[out] +" if accumulate else ""})
        out = []
        for chunk in weight.chunks:
            params = self.kernels.params("5I", chunk.rows, weight.cols, weight.rows, chunk.row0, int(last_only))
            bindings = chunk.bindings(0)
            if bias:
                bindings.update(bias.chunks[0].bindings(1))
            gx, gy = row_groups(chunk.rows)
            out.append(self.kernels.dispatch(f"linear {weight.name}", pipeline, [params, self.step, x, y], bindings,
                                             _per_block(gx, gy, last_only)))
        return out

    def _norm(self, weight: GpuTensor, x: Any, y: Any, last_only: bool = False) -> list[Dispatch]:
        pipeline = self.kernels.pipeline("rmsnorm", slots=[("W", weight.encoding)])
        params = self.kernels.params("IfI", self.dims.width, self.dims.eps, int(last_only))
        return [self.kernels.dispatch(f"rmsnorm {weight.name}", pipeline, [params, self.step, x, y],
                                      weight.chunks[0].bindings(0), _per_token(1, 1, last_only))]

    def _embed(self, weight: GpuTensor) -> list[Dispatch]:
        pipeline = self.kernels.pipeline("embed", slots=[("W", weight.encoding)])
        groups = -(-self.dims.width // self.kernels.workgroup)
        out = []
        for chunk in weight.chunks:
            params = self.kernels.params("3I", self.dims.width, chunk.row0, chunk.rows)
            out.append(self.kernels.dispatch("embed", pipeline, [params, self.ids, self.x], chunk.bindings(0),
                                             _per_token(groups, 1, False)))
        return out

    def _layer(self, index: int) -> tuple[list[Dispatch], list[Dispatch]]:
        """The dispatches of layer ``index`` before the KV cache (norm, q/k/v, rope of q) and after (o, MLP)."""
        d, w = self.dims, self.kernels.workgroup
        p = f"model.layers.{index}."
        before = self._norm(self.tensor(p + "input_layernorm.weight"), self.x, self.xn)
        for name, out in (("q", self.q), ("k", self.k), ("v", self.v)):
            before += self._linear(self.tensor(p + f"self_attn.{name}_proj.weight"), self.xn, out,
                                   bias=self.optional(p + f"self_attn.{name}_proj.bias"))
        rotate = self.kernels.pipeline("rotate_queries")
        params = self.kernels.params("2I", d.heads, d.head_dim)
        before.append(self.kernels.dispatch("rotate queries", rotate, [params, self.step, self.cos, self.sin, self.q],
                                            {}, _per_token(-(-d.heads * d.head_dim // 2 // w), 1, False)))
        after = self._linear(self.tensor(p + "self_attn.o_proj.weight"), self.attended, self.x,
                             bias=self.optional(p + "self_attn.o_proj.bias"), accumulate=True)
        after += self._norm(self.tensor(p + "post_attention_layernorm.weight"), self.x, self.xn)
        gate, up = self.tensor(p + "mlp.gate_proj.weight"), self.tensor(p + "mlp.up_proj.weight")
        if len(gate.chunks) != len(up.chunks):
            raise InferenceError(f"layer {index}: gate and up projections split differently")  # same shape: never
        swiglu = self.kernels.pipeline("swiglu", slots=[("G", gate.encoding), ("U", up.encoding)], words={
            "VECTOR": "true" if gate.cols % 4 == 0 else "false"})
        for g, u in zip(gate.chunks, up.chunks):
            params = self.kernels.params("5I", g.rows, gate.cols, gate.rows, g.row0, 0)
            gx, gy = row_groups(g.rows)
            after.append(self.kernels.dispatch(f"swiglu {index}", swiglu, [params, self.step, self.xn, self.hidden],
                                               {**g.bindings(0), **u.bindings(1)}, _per_block(gx, gy, False)))
        after += self._linear(self.tensor(p + "mlp.down_proj.weight"), self.hidden, self.x, accumulate=True)
        return before, after

    def cache_dispatches(self, cache: GpuCache) -> dict[int, list[Dispatch]]:
        """Per layer: the keys and values into ``cache``, then attention over it."""
        d, w = self.dims, self.kernels.workgroup
        store = self.kernels.pipeline("store_keys_values")
        attend = self.kernels.pipeline("attention")
        store_params = self.kernels.params("3I", d.kv_heads, d.head_dim, cache.capacity)
        attend_params = self.kernels.params("5If", d.heads, d.kv_heads, d.head_dim, cache.capacity, d.window,
                                            1.0 / math.sqrt(d.head_dim))
        out = {}
        for index in self.layers:
            keys, values = cache.keys[index], cache.values[index]
            out[index] = [
                self.kernels.dispatch("store keys/values", store, [store_params, self.step, self.cos, self.sin,
                                                                   self.k, self.v, keys, values], {},
                                      _per_token(-(-d.kv_heads * d.head_dim // w), 1, False)),
                self.kernels.dispatch("attention", attend, [attend_params, self.step, self.q, keys, values,
                                                            self.scores, self.attended], {},
                                      _per_token(d.heads, 1, False)),
            ]
        return out

    # -- running ---------------------------------------------------------------------

    def new_cache(self, capacity: Optional[int] = None) -> GpuCache:
        return GpuCache(self, min(capacity or self.dims.context, self.dims.context))

    def logits_step(self, cache: GpuCache, start: int, ids: np.ndarray, rows: str = "last") -> Optional[np.ndarray]:
        """Embed ``ids`` (at most ``batch``) at positions ``start..``, run the layers and the head.

        ``rows`` says which logits come back: ``all`` (n, vocab), ``last``
        (1, vocab) or ``none`` (a prompt step whose logits nobody reads: the
        head is skipped).
        """
        queue = self.kernels.device.queue
        queue.write_buffer(self.ids, 0, np.ascontiguousarray(ids, dtype=np.uint32))
        head = {"all": self.head_all, "last": self.head_last, "none": []}[rows]
        self._run(cache, start, len(ids), head)
        if rows == "none":
            return None
        count = len(ids) if rows == "all" else 1
        data = queue.read_buffer(self.logits, 0, 4 * count * self.dims.vocab)
        return np.frombuffer(data, dtype=np.float32).reshape(count, self.dims.vocab).copy()

    def hidden_step(self, cache: GpuCache, start: int, x: np.ndarray) -> np.ndarray:
        """Run the layers over hidden states ``x`` (n, width) the CPU computed; the hidden states after them."""
        queue = self.kernels.device.queue
        queue.write_buffer(self.x, 0, np.ascontiguousarray(x, dtype=np.float32))
        self._run(cache, start, len(x), [])
        data = queue.read_buffer(self.x, 0, 4 * len(x) * self.dims.width)
        return np.frombuffer(data, dtype=np.float32).reshape(len(x), self.dims.width).copy()

    def _run(self, cache: GpuCache, start: int, n: int, head: list[Dispatch]) -> None:
        """Replay the recorded dispatches for ``n`` tokens at ``start``, in one command buffer."""
        device = self.kernels.device
        device.queue.write_buffer(self.step, 0, np.array([start, n, 0, 0], dtype=np.uint32))
        sequence = list(self.before)
        for index in self.layers:
            sequence += self.before_cache[index] + cache.dispatches[index] + self.after_cache[index]
        encoder = device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        for dispatch in sequence + head:
            compute.set_pipeline(dispatch.pipeline)
            for group, bind_group in enumerate(dispatch.bind_groups):
                compute.set_bind_group(group, bind_group)
            compute.dispatch_workgroups(*dispatch.groups(n))
        compute.end()
        device.queue.submit([encoder.finish()])


def _per_block(gx: int, gy: int, last_only: bool) -> Callable[[int], tuple[int, int, int]]:
    """Workgroup counts of the matrix kernels: (gx, gy) per block of TOKEN_BLOCK tokens, or the last token only."""
    if last_only:
        return lambda n: (gx, gy, 1)
    return lambda n: (gx, gy, -(-n // TOKEN_BLOCK))


def _per_token(gx: int, gy: int, last_only: bool) -> Callable[[int], tuple[int, int, int]]:
    """Workgroup counts: (gx, gy) for every token of the step, or for its last token only."""
    if last_only:
        return lambda n: (gx, gy, 1)
    return lambda n: (gx, gy, n)
