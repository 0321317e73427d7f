"""Tiny models built by the tests: random pixel models, and Hugging Face checkpoints with trained tokenizers.

(A uniquely named module rather than conftest helpers: every plugin's tests directory is on
sys.path in the integration run.)

Every Hugging Face model here is built offline: a random-initialised ``transformers`` model of a
few ten thousand parameters, and a BPE tokenizer trained on the spot by the ``tokenizers``
library on a few kilobytes of the standard library's own source (milliseconds).
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

from pxos_pixellm.config import ModelConfig
from pxos_pixellm.model import expected_shapes

TINY = ModelConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                   tie_word_embeddings=False, tokenizer="bytes")

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
          "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA2_CHAT = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
               "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}"
               "{% endif %}{% endfor %}")


def random_tensors(config: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights large enough that the logits are far from uniform (so sampling choices differ)."""
    rng = np.random.default_rng(seed)
    return {name: (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32) if len(shape) == 1
            else (0.5 * rng.standard_normal(shape)).astype(np.float32)
            for name, shape in expected_shapes(config).items()}


@functools.lru_cache(maxsize=None)
def corpus() -> str:
    import json as json_module
    import textwrap

    return inspect.getsource(json_module.decoder) + inspect.getsource(textwrap)


SPLITS = {
    "byte_level": None,
    "qwen2": (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
              r"|\s*[\r\n]+|\s+(?!\S)|\s+"),
    "llama3": (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"),
}


@functools.lru_cache(maxsize=None)
def trained_tokenizer(style: str, vocab: int = 320) -> str:
    """A BPE tokenizer trained here, as ``tokenizer.json`` text.

    ``byte_level``: GPT-2 style (ByteLevel pre-tokenizer, ChatML special tokens); ``qwen2`` and
    ``llama3``: the same with those models' own split rules in front.
    ``sentencepiece``: Llama 2/TinyLlama/Mistral style (Metaspace, byte fallback, <unk> <s> </s>).
    """
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
    from tokenizers.models import BPE

    if style in SPLITS:
        tok = Tokenizer(BPE())
        if SPLITS[style] is None:
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        else:
            from tokenizers import Regex

            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(SPLITS[style]), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        tok.train_from_iterator([corpus()], trainer)
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        return tok.to_str()
    if style == "sentencepiece":
        base = Tokenizer(BPE())
        base.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab - 256, show_progress=False)
        base.train_from_iterator([corpus()], trainer)
        spec = json.loads(base.to_str())
        learned = sorted(spec["model"]["vocab"].items(), key=lambda item: item[1])
        tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + [t for t, _ in learned]
        vocab_map = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["model"]["merges"]]
        tok = Tokenizer(BPE(vocab=vocab_map, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                         decoders.Strip(content=" ", left=1)])
        from tokenizers import AddedToken

        tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ("<unk>", "<s>", "</s>")])
        tok.post_processor = processors.TemplateProcessing(single="<s>:0 $A:0", special_tokens=[("<s>", 1)])
        return tok.to_str()
    raise ValueError(style)


@dataclass(frozen=True)
class Case:
    """One architecture case of the correctness tests."""

    id: str
    model_type: str
    style: str
    tie: bool = False
    kv_heads: int = 2
    extra: dict = field(default_factory=dict)
    template: Optional[str] = None


CASES = [
    Case("llama2-spm", "llama", "sentencepiece", template=LLAMA2_CHAT),
    Case("llama3-rope-scaling", "llama", "llama3", tie=True, kv_heads=1, template=CHATML,
         extra={"rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                                    "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                    "original_max_position_embeddings": 16}}),
    Case("mistral-sliding-window", "mistral", "sentencepiece", extra={"sliding_window": 6}),
    Case("qwen2-tied", "qwen2", "qwen2", tie=True, template=CHATML),
    Case("qwen2-untied", "qwen2", "qwen2", kv_heads=4, template=CHATML),
]


def build_hf_model(tmp_path: Path, case: Case, seed: int = 0):
    """A random ``transformers`` model of ``case`` and its trained tokenizer, saved; returns (model, directory)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    tokenizer_json = trained_tokenizer(case.style)
    from tokenizers import Tokenizer

    library = Tokenizer.from_str(tokenizer_json)
    vocab = library.get_vocab_size(with_added_tokens=True) + 4  # a padded embedding, as real models have
    special = (("<|endoftext|>", "<|endoftext|>") if case.style in SPLITS else ("<s>", "</s>"))
    bos_id, eos_id = library.token_to_id(special[0]), library.token_to_id(
        "<|im_end|>" if case.template == CHATML else special[1])
    config_class = {"llama": transformers.LlamaConfig, "mistral": transformers.MistralConfig,
                    "qwen2": transformers.Qwen2Config}[case.model_type]
    model_class = {"llama": transformers.LlamaForCausalLM, "mistral": transformers.MistralForCausalLM,
                   "qwen2": transformers.Qwen2ForCausalLM}[case.model_type]
    kwargs: dict[str, Any] = dict(vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=case.kv_heads, max_position_embeddings=64,
                                  tie_word_embeddings=case.tie, rms_norm_eps=1e-6, bos_token_id=bos_id,
                                  eos_token_id=eos_id)
    if "rope_parameters" not in case.extra:
        kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": 5000.0}
    kwargs.update(case.extra)
    torch.manual_seed(seed)
    model = model_class(config_class(**kwargs)).eval()
    with torch.no_grad():  # larger than the default init so differences would show in the logits
        for name, param in model.named_parameters():
            if param.dim() == 2:
                param.normal_(0, 0.25)
            elif name.endswith("bias"):
                param.normal_(0, 0.5)
    directory = tmp_path / f"hf-{case.id}-{seed}"
    model.save_pretrained(directory)
    (directory / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
    settings = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": special[0],
                "eos_token": library.id_to_token(eos_id), "clean_up_tokenization_spaces": False}
    if case.template:
        settings["chat_template"] = case.template
    (directory / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    return model, directory


def hf_llama(tmp_path, *, tie: bool = False, kv_heads: int = 2, vocab: int = 300, seed: int = 0,
             dtype: str = "float32"):
    """A random ``LlamaForCausalLM`` without a tokenizer, saved with ``save_pretrained``; returns (model, directory)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=kv_heads, max_position_embeddings=64, tie_word_embeddings=tie,
        rms_norm_eps=1e-6, rope_theta=5000.0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() == 2:
                param.normal_(0, 0.2)
    model = model.to(getattr(torch, dtype))
    directory = tmp_path / f"hf-{seed}-{tie}-{kv_heads}-{dtype}"
    model.save_pretrained(directory)
    return model, directory


def hf_logits(model, ids) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].float().numpy()


def hf_greedy(model, ids, new_tokens: int) -> list[int]:
    """What ``transformers``' ``generate`` picks greedily after ``ids`` (it stops at the config's eos)."""
    import torch

    with torch.no_grad():
        out = model.generate(torch.tensor([list(ids)]), max_new_tokens=new_tokens, do_sample=False,
                             attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return out[0, len(ids):].tolist()


def chat_pixel_model(path: Path, *, seed: int = 0, template: Optional[str] = CHATML) -> Path:
    """A tiny Qwen2-layout pixel model with random weights, a trained tokenizer and (by default) a ChatML
    template, written straight with ``save_model`` (no torch needed)."""
    from tokenizers import Tokenizer

    from pxos_pixellm.container import save_model
    from pxos_pixellm.tokenizer import tokenizer_section

    blob = trained_tokenizer("qwen2").encode("utf-8")
    library = Tokenizer.from_str(blob.decode("utf-8"))
    config = ModelConfig(architecture="qwen2", vocab_size=library.get_vocab_size(with_added_tokens=True),
                         hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=128, qkv_bias=True, tokenizer="hf")
    eos = library.token_to_id("<|im_end|>")
    section = tokenizer_section("hf", blob=blob, bos_token=None, eos_token="<|im_end|>", eos_token_ids=[eos],
                                chat_template=template, source="trained in the test")
    save_model(path, config, random_tensors(config, seed), encoding="fp32", tokenizer=(section, blob),
               info={"source": "random test weights"})
    return path
