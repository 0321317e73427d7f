"""The compiled forward pass: ``pixellm_kernels.c`` built on first use with the machine's C compiler.

The C source ships in this package. :func:`library` compiles it once per
source, compiler and machine (``cc -O3 -march=native -fopenmp``) into a
cache directory (``$PXOS_NATIVE_CACHE``, else ``$XDG_CACHE_HOME/pxos`` or
``~/.cache/pxos``), content-addressed, and loads it with ctypes. When no
compiler is found, or the build fails, :func:`library` returns ``None`` with
the reason in :func:`unavailable_reason`, and the engine computes with the
numpy reference (:mod:`pxos_pixellm.model`), saying so in ``describe_self``.

:class:`NativeTransformer` computes on the weights where they lie in the
model container's payload, in their stored encoding (fp32, fp16, bf16, or
int8 blocks), so an int8 model stays int8 in memory.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
import threading
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Optional

import numpy as np

from pxos_kernel import InferenceError

ABI = 2
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", "-std=c11"]
TYPES = {"fp32": 0, "fp16": 1, "int8": 2, "bf16": 3}
_lock = threading.Lock()
_state: dict[str, Any] = {}


class Matrix(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("scales", ctypes.c_void_p), ("bias", ctypes.c_void_p),
                ("type", ctypes.c_int32), ("rows", ctypes.c_int32), ("cols", ctypes.c_int32), ("pad", ctypes.c_int32)]


class Layer(ctypes.Structure):
    _fields_ = [("attn_norm", ctypes.c_void_p), ("mlp_norm", ctypes.c_void_p)] + \
        [(name, Matrix) for name in ("q", "k", "v", "o", "gate", "up", "down")]


class Model(ctypes.Structure):
    _fields_: ClassVar[Any] = [(name, ctypes.c_int32) for name in ("dim", "hidden", "layers", "heads", "kv_heads", "head_dim", "vocab",
                                                    "max_pos", "window", "pad0")] + \
        [("eps", ctypes.c_float), ("pad1", ctypes.c_int32), ("embed", Matrix), ("head", Matrix),
         ("final_norm", ctypes.c_void_p), ("cos", ctypes.c_void_p), ("sin", ctypes.c_void_p),
         ("layer", ctypes.POINTER(Layer))]


def _cache_dir() -> Path:
    if os.environ.get("PXOS_NATIVE_CACHE"):
        return Path(os.environ["PXOS_NATIVE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pxos" / "pixellm-native"


def _compiler() -> Optional[str]:
    for candidate in (os.environ.get("CC"), (sysconfig.get_config_var("CC") or "").split(" ")[0], "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def library() -> Optional[ctypes.CDLL]:
    """The compiled kernels (built on the first call), or None: see :func:`unavailable_reason`."""
    with _lock:
        if "lib" not in _state:
            _state["lib"], _state["reason"] = _build()
        return _state["lib"]


def unavailable_reason() -> Optional[str]:
    library()
    return _state.get("reason")


def _build() -> tuple[Optional[ctypes.CDLL], Optional[str]]:
    if os.environ.get("PXOS_PIXELLM_COMPUTE") == "numpy":
        return None, "PXOS_PIXELLM_COMPUTE=numpy"
    source = resources.files(__name__).joinpath("pixellm_kernels.c").read_bytes()
    compiler = _compiler()
    if compiler is None:
        return None, "no C compiler found (install gcc, or set CC): computing with numpy"
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"C compiler {compiler} does not run ({exc}): computing with numpy"
    key = hashlib.sha256(source + version + " ".join(FLAGS).encode() + platform.machine().encode()
                         + _cpu_flags().encode()).hexdigest()[:24]
    target = _cache_dir() / key / "libpixellm.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            src = Path(tmp) / "pixellm_kernels.c"
            src.write_bytes(source)
            out = Path(tmp) / "libpixellm.so"
            try:
                built = subprocess.run([compiler, *FLAGS, "-o", str(out), str(src), "-lm"], capture_output=True,
                                       text=True, timeout=300)
            except (OSError, subprocess.SubprocessError) as exc:
                return None, f"building the C kernels failed ({exc}): computing with numpy"
            if built.returncode != 0:
                first = (built.stderr.strip().splitlines() or ["?"])[0]
                return None, f"building the C kernels failed ({first}): computing with numpy"
            os.replace(out, target)
    try:
        lib = ctypes.CDLL(str(target))
    except OSError as exc:
        return None, f"loading {target} failed ({exc}): computing with numpy"
    if lib.pxl_abi_version() != ABI:
        return None, f"{target} has ABI {lib.pxl_abi_version()}, not {ABI}"
    lib.pxl_forward.restype = ctypes.c_int
    lib.pxl_forward.argtypes = [ctypes.POINTER(Model), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lib.pxl_embed.restype = lib.pxl_layers.restype = lib.pxl_logits.restype = ctypes.c_int
    lib.pxl_embed.argtypes = [ctypes.POINTER(Model), ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.pxl_layers.argtypes = [ctypes.POINTER(Model), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                               ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.pxl_logits.argtypes = [ctypes.POINTER(Model), ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.pxl_set_threads.restype = ctypes.c_int
    lib.pxl_set_threads.argtypes = [ctypes.c_int]
    lib.pxl_set_threads(default_threads())
    return lib, None


def default_threads() -> int:
    """Half the CPUs this process may use, at least one: llama.cpp's default (one thread a physical core on
    the usual two-way SMT machine), and what keeps OpenMP's spinning barriers from fighting other work."""
    return max(1, len(os.sched_getaffinity(0)) // 2)


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def set_threads(threads: int) -> int:
    lib = library()
    return lib.pxl_set_threads(int(threads)) if lib is not None else 1


class NativeTransformer:
    """The :class:`~pxos_pixellm.model.Transformer` interface, computed by the C kernels on stored weights.

    ``opened`` is a :class:`~pxos_pixellm.container.ModelFile`; its payload is
    kept alive and used in place. Tensors whose encoding the kernels do not
    read (uint8, or int8 rows not made of whole blocks) are decoded to fp32;
    ``converted`` names them.
    """

    backend = "native"

    def __init__(self, opened: Any, where: str = "model") -> None:
        from ..model import KVCache, rope_frequencies

        lib = library()
        if lib is None:
            raise InferenceError(f"the compiled kernels are unavailable: {unavailable_reason()}")
        self._lib = lib
        self._cache_class = KVCache
        self.config = config = opened.config
        self._keep: list[Any] = [opened.payload]
        self.converted: list[str] = []
        self.resident_bytes = 0
        names = {e.name for e in opened.tensors}
        # The kernels read each stored tensor at its offset in the payload, which stays alive in self._keep:
        # one address taken here instead of a numpy view and its ctypes address per tensor.
        base = np.frombuffer(opened.payload, dtype=np.uint8).ctypes.data

        def matrix(name: str, bias: Optional[str] = None) -> Matrix:
            entry = opened.entry(name)
            rows, cols = entry.shape
            m = Matrix(type=0, rows=rows, cols=cols)
            if entry.encoding in ("fp32", "fp16", "bf16"):
                m.type, m.data = TYPES[entry.encoding], base + entry.offset
                self.resident_bytes += entry.length
            elif entry.encoding == "int8" and cols % 32 == 0:
                # the int8 codes of whole blocks, then one fp16 scale a block (pxos_pixellm.tensors)
                m.type, m.data, m.scales = TYPES["int8"], base + entry.offset, base + entry.offset + rows * cols
                self.resident_bytes += entry.length
            else:
                array = self._own(opened.array(name))
                m.data = array.ctypes.data
                self.converted.append(name)
            if bias is not None and bias in names:
                m.bias = self._own(opened.array(bias)).ctypes.data
            return m

        def vector(name: str) -> int:
            return self._own(opened.array(name)).ctypes.data

        hd = config.attention_head_dim
        angles = np.outer(np.arange(config.max_position_embeddings, dtype=np.float64), rope_frequencies(config))
        layers = (Layer * config.num_hidden_layers)()
        for i in range(config.num_hidden_layers):
            p = f"model.layers.{i}."
            layers[i] = Layer(attn_norm=vector(p + "input_layernorm.weight"),
                              mlp_norm=vector(p + "post_attention_layernorm.weight"),
                              q=matrix(p + "self_attn.q_proj.weight", p + "self_attn.q_proj.bias"),
                              k=matrix(p + "self_attn.k_proj.weight", p + "self_attn.k_proj.bias"),
                              v=matrix(p + "self_attn.v_proj.weight", p + "self_attn.v_proj.bias"),
                              o=matrix(p + "self_attn.o_proj.weight", p + "self_attn.o_proj.bias"),
                              gate=matrix(p + "mlp.gate_proj.weight"), up=matrix(p + "mlp.up_proj.weight"),
                              down=matrix(p + "mlp.down_proj.weight"))
        self._keep.append(layers)
        embed = matrix("model.embed_tokens.weight")
        self._model = Model(
            dim=config.hidden_size, hidden=config.intermediate_size, layers=config.num_hidden_layers,
            heads=config.num_attention_heads, kv_heads=config.num_key_value_heads, head_dim=hd,
            vocab=config.vocab_size, max_pos=config.max_position_embeddings, window=config.sliding_window or 0,
            eps=config.rms_norm_eps, embed=embed,
            head=embed if config.tie_word_embeddings else matrix("lm_head.weight"),
            final_norm=vector("model.norm.weight"),
            cos=self._own(np.cos(angles), weights=False).ctypes.data,
            sin=self._own(np.sin(angles), weights=False).ctypes.data,
            layer=ctypes.cast(layers, ctypes.POINTER(Layer)))
        self._logits_one = np.empty(config.vocab_size, dtype=np.float32)

    def _own(self, array: np.ndarray, weights: bool = True) -> np.ndarray:
        array = np.ascontiguousarray(array, dtype=np.float32)
        self._keep.append(array)
        if weights:  # the rotary tables are computed, not weights
            self.resident_bytes += array.nbytes
        return array

    def new_cache(self, capacity: int | None = None) -> Any:
        return self._cache_class(self.config, capacity or self.config.max_position_embeddings)

    def _ids(self, ids: Any) -> np.ndarray:
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        if ids.ndim != 1 or len(ids) == 0:
            raise InferenceError("forward needs a non-empty 1-D sequence of token ids")
        if ids.min() < 0 or ids.max() >= self.config.vocab_size:
            raise InferenceError(f"token id out of range 0..{self.config.vocab_size - 1}")
        return ids

    def _check_room(self, cache: Any, end: int) -> None:
        limit = min(cache.capacity, self.config.max_position_embeddings)
        if end > limit:
            raise InferenceError(f"sequence of {end} tokens exceeds the context of {limit}")

    def _status(self, status: int, n: int) -> None:
        if status != 0:
            raise InferenceError(f"the compiled kernels could not allocate working memory for {n} tokens")

    def forward(self, ids: Any, cache: Any = None, *, last_only: bool = False) -> np.ndarray:
        """Logits (len(ids), vocab), or (1, vocab) with ``last_only``, as :meth:`pxos_pixellm.model.Transformer.forward`.

        One call into the kernels, one parallel region: what a decoded token costs.
        """
        ids = self._ids(ids)
        cache = cache if cache is not None else self.new_cache(len(ids))
        start, n = cache.length, len(ids)
        self._check_room(cache, start + n)
        out = np.empty((1 if last_only else n, self.config.vocab_size), dtype=np.float32)
        self._status(self._lib.pxl_forward(ctypes.byref(self._model), cache.keys.ctypes.data,
                                           cache.values.ctypes.data, cache.capacity, ids.ctypes.data, n, start,
                                           out.ctypes.data, int(not last_only)), n)
        cache.length = start + n
        return out

    def embed_tokens(self, ids: Any) -> np.ndarray:
        """Hidden states (len(ids), hidden_size) of token ids (the first piece of :meth:`forward`)."""
        ids = self._ids(ids)
        x = np.empty((len(ids), self.config.hidden_size), dtype=np.float32)
        self._lib.pxl_embed(ctypes.byref(self._model), ids.ctypes.data, len(ids), x.ctypes.data)
        return x

    def run_layers(self, x: np.ndarray, cache: Any, start: int, layers: range) -> np.ndarray:
        """Decoder ``layers`` (a contiguous range) over ``x`` at positions ``start..``; writes their keys and
        values into ``cache`` and leaves ``cache.length`` to the caller, as the numpy Transformer does."""
        x = np.array(x, dtype=np.float32, order="C")
        n = len(x)
        self._check_room(cache, start + n)
        if len(layers) and (layers.step != 1 or layers.start < 0 or layers.stop > self.config.num_hidden_layers):
            raise InferenceError(f"layers {layers} are not a contiguous range of the model's "
                                 f"{self.config.num_hidden_layers}")
        if len(layers):
            self._status(self._lib.pxl_layers(ctypes.byref(self._model), cache.keys.ctypes.data,
                                              cache.values.ctypes.data, cache.capacity, x.ctypes.data, n, start,
                                              layers.start, layers.stop), n)
        return x

    def logits(self, x: np.ndarray) -> np.ndarray:
        """The final norm and the output head over hidden states ``x``: (n, vocab)."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((len(x), self.config.vocab_size), dtype=np.float32)
        self._status(self._lib.pxl_logits(ctypes.byref(self._model), x.ctypes.data, len(x), out.ctypes.data), len(x))
        return out
