"""GGUF files in and out (needs the ``gguf`` package: the ``convert`` extra).

Import reads ``general.architecture`` ``llama`` (Llama, Mistral, TinyLlama,
SmolLM as llama.cpp writes them) and ``qwen2``, tensors of any type ``gguf``
can dequantize (Q8_0 is kept as int8 blocks, bit for bit), and the embedded
vocabulary:

* ``tokenizer.huggingface.json`` when the file carries one (pxOS writes it);
* otherwise ``tokenizer.ggml.model`` ``llama`` (SentencePiece: tokens, scores,
  token types; the merges are recovered from the scores as ``transformers``
  does) or ``gpt2`` (byte-level BPE: tokens and merges, split by the
  ``tokenizer.ggml.pre`` rule), rebuilt as a ``tokenizers`` tokenizer and
  stored in the container as its ``tokenizer.json``.

llama.cpp stores the query and key projections of ``llama`` models with their
rows permuted for its interleaved rotary layout; they are permuted back to
Hugging Face's on import and forward again on export. Llama 3's rotary
scaling is stored the way llama.cpp stores it, as a ``rope_freqs`` tensor.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from pxos_kernel import FormatError

from .config import ModelConfig
from .tensors import BLOCK
from .tokenizer import tokenizer_section

GGUF_ARCHITECTURES = ("llama", "qwen2")
GGUF_TOKENIZER_TYPES = ("llama (SentencePiece)", "gpt2 (byte-level BPE)")
LAYER_NAMES = {
    "attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
# Token types of a GGUF vocabulary (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# How gpt2-type vocabularies split text before BPE, by tokenizer.ggml.pre (the regexes of the models' own
# tokenizer.json files). None: the classic GPT-2 ByteLevel split.
_LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS: dict[str, Optional[str]] = {
    "default": None, "gpt-2": None, "gpt2": None, "smollm": None,
    "llama3": _LLAMA3_SPLIT, "llama-v3": _LLAMA3_SPLIT, "llama-bpe": _LLAMA3_SPLIT, "smaug-bpe": _LLAMA3_SPLIT,
    "qwen2": _QWEN2_SPLIT, "deepseek-r1-qwen": _QWEN2_SPLIT,
}


def _gguf():
    try:
        import gguf
    except ImportError:
        raise FormatError("reading and writing GGUF needs the 'gguf' package: pip install 'pxos-pixellm[convert]'") \
            from None
    return gguf


# -- reading ---------------------------------------------------------------------------------------


def read_gguf(path: Path, tokenizer: Optional[str]):
    """``(config, tensors, dtypes, origin, tokenizer)`` of a GGUF file."""
    gguf = _gguf()
    try:
        reader = gguf.GGUFReader(os.fspath(path))
    except Exception as exc:  # the gguf package raises ValueError/struct errors for bad files
        raise FormatError(f"{path}: not a readable GGUF file ({exc})") from None

    def field(key: str, default: Any = None) -> Any:
        f = reader.fields.get(key)
        return default if f is None else f.contents()

    arch = field("general.architecture")
    if arch not in GGUF_ARCHITECTURES:
        raise FormatError(f"{path}: unsupported architecture {arch!r} (supported GGUF architectures: "
                          f"{', '.join(GGUF_ARCHITECTURES)})")
    tensors: dict[str, np.ndarray] = {}
    dtypes: dict[str, str] = {}
    rope_freqs = None
    for t in reader.tensors:
        shape = tuple(int(n) for n in reversed(t.shape.tolist()))
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(shape)
        if t.name == "rope_freqs.weight":
            rope_freqs = values
            continue
        name = _hf_name(t.name, path)
        tensors[name] = values
        dtypes[name] = {"F16": "float16", "BF16": "bfloat16"}.get(t.tensor_type.name, "float32")
    embed = tensors.get("model.embed_tokens.weight")
    if embed is None:
        raise FormatError(f"{path}: no token_embd.weight tensor")
    heads = field(f"{arch}.attention.head_count")
    kv_heads = field(f"{arch}.attention.head_count_kv", heads)
    hidden = field(f"{arch}.embedding_length")
    head_dim = field(f"{arch}.attention.key_length")
    rope_dims = field(f"{arch}.rope.dimension_count")
    if rope_dims is not None and head_dim is not None and rope_dims != head_dim:
        raise FormatError(f"{path}: rotary embeddings on {rope_dims} of {head_dim} head dimensions are not supported")
    model_type = field("pxos.model_type", arch)
    qkv_bias = "model.layers.0.self_attn.q_proj.bias" in tensors
    config = ModelConfig.from_dict({
        "architecture": model_type if model_type in ("llama", "mistral", "qwen2") else arch,
        "vocab_size": int(field(f"{arch}.vocab_size", embed.shape[0])),
        "hidden_size": hidden, "intermediate_size": field(f"{arch}.feed_forward_length"),
        "num_hidden_layers": field(f"{arch}.block_count"), "num_attention_heads": heads,
        "num_key_value_heads": kv_heads, "max_position_embeddings": field(f"{arch}.context_length"),
        "head_dim": head_dim if head_dim not in (None, (hidden or 0) // (heads or 1)) else None,
        "rms_norm_eps": float(field(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(field(f"{arch}.rope.freq_base", 10000.0)),
        "rope_scaling": _rope_scaling(field, arch, rope_freqs, path),
        "sliding_window": field(f"{arch}.attention.sliding_window"),
        "qkv_bias": qkv_bias, "o_proj_bias": "model.layers.0.self_attn.o_proj.bias" in tensors,
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "tokenizer": "none",
    }, str(path))
    if arch == "llama":
        for name in list(tensors):
            if ".self_attn.q_proj." in name:
                tensors[name] = unpermute_rotary(tensors[name], config.num_attention_heads)
            elif ".self_attn.k_proj." in name:
                tensors[name] = unpermute_rotary(tensors[name], config.num_key_value_heads)
    stored = _read_tokenizer(field, tokenizer, path)
    kind = stored[0]["kind"] if stored else (tokenizer or "none")
    config = ModelConfig.from_dict({**config.to_dict(), "tokenizer": kind}, str(path))
    origin = {"format": "gguf", "file": path.name, "architecture": arch,
              "types": sorted({t.tensor_type.name for t in reader.tensors})}
    return config, tensors, dtypes, origin, stored


def _rope_scaling(field: Any, arch: str, rope_freqs: Optional[np.ndarray], path: Path) -> Optional[dict]:
    if rope_freqs is not None:
        return {"rope_type": "freq_factors", "factors": [float(v) for v in rope_freqs.reshape(-1)]}
    kind = field(f"{arch}.rope.scaling.type", "none")
    if kind in ("none", None):
        return None
    if kind == "linear":
        return {"rope_type": "linear", "factor": float(field(f"{arch}.rope.scaling.factor", 1.0))}
    raise FormatError(f"{path}: unsupported rope scaling {kind!r} (supported: none, linear, llama3's rope_freqs)")


def _hf_name(gguf_name: str, path: Path) -> str:
    parts = gguf_name.split(".")
    if len(parts) == 2 and parts[0] in TOP_NAMES and parts[1] == "weight":
        return f"{TOP_NAMES[parts[0]]}.weight"
    if (len(parts) == 4 and parts[0] == "blk" and parts[1].isdigit() and parts[2] in LAYER_NAMES
            and parts[3] in ("weight", "bias")):
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{parts[3]}"
    raise FormatError(f"{path}: unexpected tensor {gguf_name!r} for a llama-family model")


def unpermute_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Undo llama.cpp's row permutation of a query/key projection (interleaved -> rotate-half)."""
    rows = weight.shape[0]
    return weight.reshape(heads, rows // heads // 2, 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def permute_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's permutation (rotate-half -> interleaved), as its converter applies it."""
    rows = weight.shape[0]
    return weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def _read_tokenizer(field: Any, requested: Optional[str], path: Path) -> Optional[tuple[dict, Optional[bytes]]]:
    """The tokenizer section (and tokenizer.json bytes) of the file's embedded vocabulary."""
    if requested in ("bytes", "none"):
        return ({"kind": requested}, None)
    if field("pxos.tokenizer") == "bytes":
        return ({"kind": "bytes"}, None)
    model = field("tokenizer.ggml.model")
    if model in (None, "none"):
        if requested == "hf":
            raise FormatError(f"{path}: --tokenizer hf, but the file has no embedded vocabulary")
        return None
    tokens = field("tokenizer.ggml.tokens")
    ids = {key: field(f"tokenizer.ggml.{key}_token_id") for key in ("bos", "eos", "unknown", "padding")}
    blob = field("tokenizer.huggingface.json")
    if blob is not None:
        blob = blob.encode("utf-8")
    elif model == "llama":
        blob = _sentencepiece_json(tokens, field("tokenizer.ggml.scores"), field("tokenizer.ggml.token_type"),
                                   ids, bool(field("tokenizer.ggml.add_bos_token", True)),
                                   bool(field("tokenizer.ggml.add_space_prefix", True)))
    elif model == "gpt2":
        pre = field("tokenizer.ggml.pre", "default")
        if pre not in PRE_TOKENIZERS:
            raise FormatError(f"{path}: unsupported GGUF pre-tokenizer {pre!r} for a gpt2 vocabulary (supported: "
                              f"{', '.join(sorted(PRE_TOKENIZERS))})")
        blob = _byte_level_json(tokens, field("tokenizer.ggml.merges") or [], field("tokenizer.ggml.token_type"),
                                PRE_TOKENIZERS[pre], ids, bool(field("tokenizer.ggml.add_bos_token", False)))
    else:
        raise FormatError(f"{path}: unsupported GGUF tokenizer type {model!r} (supported: "
                          f"{', '.join(GGUF_TOKENIZER_TYPES)})")

    def text(key: str) -> Optional[str]:
        index = ids[key]
        return tokens[index] if isinstance(index, int) and 0 <= index < len(tokens) else None

    eos = ids["eos"]
    section = tokenizer_section("hf", blob=blob, bos_token=text("bos"), eos_token=text("eos"), bos_token_id=ids["bos"],
                                eos_token_ids=[eos] if isinstance(eos, int) else [],
                                chat_template=field("tokenizer.chat_template") or None,
                                source=f"gguf {model} vocabulary")
    return section, blob


def _merges_from_scores(tokens: list[str], scores: list[float]) -> list[tuple[str, str]]:
    """The BPE merges a SentencePiece vocabulary implies: every split of a token into two tokens, best score first.

    The same rule ``transformers`` uses to read SentencePiece models as BPE.
    """
    vocab = {token: index for index, token in enumerate(tokens)}
    merges = []
    for token, score in zip(tokens, scores):
        local = [(token[:i], token[i:], score) for i in range(1, len(token))
                 if token[:i] in vocab and token[i:] in vocab]
        merges += sorted(local, key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges.sort(key=lambda m: (m[2], len(m[0]), len(m[1])), reverse=True)
    return [(left, right) for left, right, _ in merges]


def _sentencepiece_json(tokens: list[str], scores: list[float], types: Optional[list[int]], ids: Mapping[str, Any],
                        add_bos: bool, add_space_prefix: bool) -> bytes:
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    vocab = {token: index for index, token in enumerate(tokens)}
    tok = Tokenizer(BPE(vocab=vocab, merges=_merges_from_scores(tokens, list(scores or [0.0] * len(tokens))),
                        fuse_unk=True, byte_fallback=True, dropout=None))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first" if add_space_prefix
                                                 else "never", split=False)
    steps = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        steps.append(decoders.Strip(content=" ", left=1))
    tok.decoder = decoders.Sequence(steps)
    _add_special(tok, tokens, types, byte_level=False)
    bos = ids.get("bos")
    if add_bos and isinstance(bos, int):
        tok.post_processor = processors.TemplateProcessing(
            single=f"{tokens[bos]}:0 $A:0", pair=f"{tokens[bos]}:0 $A:0 {tokens[bos]}:1 $B:1",
            special_tokens=[(tokens[bos], bos)])
    return tok.to_str().encode("utf-8")


def _byte_level_json(tokens: list[str], merges: list[str], types: Optional[list[int]], split: Optional[str],
                     ids: Mapping[str, Any], add_bos: bool) -> bytes:
    from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    spelling = _bytes_to_unicode()
    alphabet = set(spelling.values())
    vocab = {token if set(token) <= alphabet else "".join(spelling[b] for b in token.encode("utf-8")): index
             for index, token in enumerate(tokens)}
    pairs = [(left, right) for left, right in (m.split(" ", 1) for m in merges)]
    tok = Tokenizer(BPE(vocab=vocab, merges=pairs, dropout=None, continuing_subword_prefix="", end_of_word_suffix="",
                        fuse_unk=False))
    if split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated"),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    _add_special(tok, tokens, types, byte_level=True)
    bos = ids.get("bos")
    if add_bos and isinstance(bos, int):
        tok.post_processor = processors.TemplateProcessing(single=f"{tokens[bos]}:0 $A:0",
                                                           special_tokens=[(tokens[bos], bos)])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok.to_str().encode("utf-8")


def _add_special(tok: Any, tokens: list[str], types: Optional[list[int]], byte_level: bool) -> None:
    """Control tokens become special added tokens, user-defined ones plain added tokens (kept whole in text)."""
    from tokenizers import AddedToken

    spelled = set(_bytes_to_unicode().values()) if byte_level else None
    control = [AddedToken(t, normalized=False, special=True) for t, kind in zip(tokens, types or ())
               if kind == CONTROL and (spelled is None or set(t) <= spelled)]
    if control:
        tok.add_special_tokens(control)
    user = [AddedToken(t, normalized=False, special=False) for t, kind in zip(tokens, types or ())
            if kind == USER_DEFINED]
    if user:
        tok.add_tokens(user)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map from bytes to printable characters (byte-level BPE spells tokens with it)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(c) for c in codes)))


# -- writing ---------------------------------------------------------------------------------------


def write_gguf(out: Path, model: Any) -> dict:
    """Write an opened model container (:class:`~pxos_pixellm.container.ModelFile`) as a GGUF file.

    fp32 tensors are written as F32, fp16 as F16, bf16 as BF16, int8 blocks as
    Q8_0 (the same codes and scales, bit for bit), uint8 as F32; norms stay F32.
    """
    gguf = _gguf()
    config: ModelConfig = model.config
    arch = "qwen2" if config.architecture == "qwen2" else "llama"
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(os.fspath(tmp), arch)
    writer.add_name(out.stem)
    writer.add_string("pxos.model_type", config.architecture)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_key_length(config.attention_head_dim)
    writer.add_value_length(config.attention_head_dim)
    writer.add_rope_dimension_count(config.attention_head_dim)
    writer.add_rope_freq_base(config.rope_theta)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    if config.sliding_window is not None:
        writer.add_sliding_window(config.sliding_window)
    scaling = config.rope_scaling
    if scaling is not None and scaling["rope_type"] == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(scaling["factor"])
    _write_tokenizer(writer, model, config)
    types = set()
    for entry in model.tensors:
        name, data, kind = _gguf_tensor(model, entry, config, arch, gguf)
        types.add(kind.name)
        writer.add_tensor(name, data, raw_dtype=kind)
    if scaling is not None and scaling["rope_type"] in ("llama3", "freq_factors"):
        from .model import rope_frequencies

        plain = rope_frequencies(ModelConfig.from_dict({**config.to_dict(), "rope_scaling": None}))
        factors = (plain / rope_frequencies(config)).astype(np.float32)
        writer.add_tensor("rope_freqs.weight", factors, raw_dtype=gguf.GGMLQuantizationType.F32)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if "Q8_0" in types else
                         gguf.LlamaFileType.MOSTLY_F16 if "F16" in types else gguf.LlamaFileType.ALL_F32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return {"out": str(out), "format": f"gguf ({', '.join(sorted(types))})", "tensors": len(model.tensors),
            "parameters": sum(e.count for e in model.tensors)}


def _gguf_tensor(model: Any, entry: Any, config: ModelConfig, arch: str, gguf: Any) -> tuple[str, np.ndarray, Any]:
    name = _gguf_name(entry.name)
    types = gguf.GGMLQuantizationType
    heads = (config.num_attention_heads if ".self_attn.q_proj." in entry.name else
             config.num_key_value_heads if ".self_attn.k_proj." in entry.name else None)
    permute = arch == "llama" and heads is not None
    if entry.encoding == "int8" and len(entry.shape) == 2 and entry.shape[1] % BLOCK == 0:
        raw = np.frombuffer(model.raw(entry.name), dtype=np.uint8)
        blocks = entry.count // BLOCK
        codes = raw[:blocks * BLOCK].reshape(blocks, BLOCK)
        scales = raw[blocks * BLOCK:].reshape(blocks, 2)
        q8 = np.concatenate([scales, codes], axis=1).reshape(entry.shape[0], -1)  # Q8_0: fp16 d, then 32 codes
        if permute and heads is not None:
            q8 = permute_rotary(q8, heads)
        return name, q8, types.Q8_0
    values = model.array(entry.name)
    if permute and heads is not None:
        values = permute_rotary(values, heads)
    if entry.encoding == "fp16" and values.ndim == 2:
        return name, values.astype(np.float16), types.F16
    if entry.encoding == "bf16" and values.ndim == 2:
        return name, gguf.quants.quantize(values, types.BF16), types.BF16
    return name, values.astype(np.float32), types.F32


def _gguf_name(hf_name: str) -> str:
    reverse_top = {v: k for k, v in TOP_NAMES.items()}
    reverse_layer = {v: k for k, v in LAYER_NAMES.items()}
    stem, kind = hf_name.rsplit(".", 1)
    if stem in reverse_top:
        return f"{reverse_top[stem]}.{kind}"
    _, _, index, module = stem.split(".", 3)
    return f"blk.{index}.{reverse_layer[module]}.{kind}"


def _write_tokenizer(writer: Any, model: Any, config: ModelConfig) -> None:
    """The vocabulary as llama.cpp reads it, plus the exact ``tokenizer.json`` for tools that read that."""
    section = model.tokenizer_section
    if section["kind"] == "none":
        writer.add_tokenizer_model("none")
        return
    if section["kind"] == "bytes":
        # llama.cpp has no byte vocabulary (a gpt2 one needs merges): it reads the file as vocabulary "none"
        # and evaluates token ids; pxOS reads pxos.tokenizer back.
        writer.add_string("pxos.tokenizer", "bytes")
        writer.add_tokenizer_model("none")
        return
    blob = model.tokenizer_json()
    spec = json.loads(blob)
    vocab, merges, byte_level, unk = _vocab_of(spec)
    added = {t["id"]: t for t in spec.get("added_tokens") or []}
    tokens = [f"[PAD{i}]" for i in range(config.vocab_size)]
    types = [UNUSED] * config.vocab_size
    for token, index in vocab.items():
        if 0 <= index < config.vocab_size:
            tokens[index] = token
            types[index] = BYTE if (not byte_level and len(token) == 6 and token.startswith("<0x")) else NORMAL
    for index, token in added.items():
        if 0 <= index < config.vocab_size:
            tokens[index] = token["content"]
            types[index] = CONTROL if token.get("special") else USER_DEFINED
    if unk is not None and unk in vocab:
        types[vocab[unk]] = UNKNOWN
    writer.add_tokenizer_model("gpt2" if byte_level else "llama")
    if byte_level:
        writer.add_tokenizer_pre(_pre_name(spec))
        writer.add_token_merges([" ".join(m) if isinstance(m, list) else m for m in merges])
    else:
        writer.add_token_scores([-float(i) for i in range(config.vocab_size)])
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_string("tokenizer.huggingface.json", blob.decode("utf-8"))
    if section.get("bos_token_id") is not None:
        writer.add_bos_token_id(section["bos_token_id"])
    if section.get("eos_token_ids"):
        writer.add_eos_token_id(section["eos_token_ids"][0])
    if unk is not None and unk in vocab:
        writer.add_unk_token_id(vocab[unk])
    writer.add_add_bos_token("TemplateProcessing" in json.dumps(spec.get("post_processor")))
    if section.get("chat_template"):
        writer.add_chat_template(section["chat_template"])


def _vocab_of(spec: Mapping[str, Any]) -> tuple[dict[str, int], list, bool, Optional[str]]:
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise FormatError(f"exporting a {model.get('type')} tokenizer to GGUF is not supported (only BPE: "
                          "byte-level or SentencePiece-style with byte fallback)")
    byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) or "ByteLevel" in json.dumps(spec.get("decoder"))
    return dict(model.get("vocab") or {}), list(model.get("merges") or []), byte_level, model.get("unk_token")


def _pre_name(spec: Mapping[str, Any]) -> str:
    text = json.dumps(spec.get("pre_tokenizer"))
    for name, split in (("llama-bpe", _LLAMA3_SPLIT), ("qwen2", _QWEN2_SPLIT)):
        if json.dumps(split)[1:-1] in text:
            return name
    return "default"
