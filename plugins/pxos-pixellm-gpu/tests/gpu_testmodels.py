"""Tiny random models for the pixellm-gpu tests, saved as real model containers.

(A uniquely named module rather than conftest helpers: every plugin's tests
directory is on sys.path in the integration run.)
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from pxos_pixellm import ModelConfig, expected_shapes, save_model

#: Three layers (so a split can put the GPU at the start, the middle or the end), grouped KV heads.
TINY = ModelConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=48,
                   tie_word_embeddings=False, tokenizer="bytes")
#: One key/value head for all queries, a tied head.
TIED_MQA = ModelConfig(vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=40,
                       tie_word_embeddings=True, tokenizer="bytes")
#: Widths that are not multiples of 4: the kernels' one-value-at-a-time path.
ODD = ModelConfig(vocab_size=259, hidden_size=30, intermediate_size=50, num_hidden_layers=2,
                  num_attention_heads=3, num_key_value_heads=3, max_position_embeddings=40,
                  tie_word_embeddings=False, tokenizer="bytes")
#: Qwen2: biases on q, k and v (and here on the output projection too), a tied head.
QWEN2 = ModelConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=40, rope_theta=1e6,
                    tie_word_embeddings=True, tokenizer="bytes", architecture="qwen2", qkv_bias=True,
                    o_proj_bias=True)
#: Mistral with a sliding window shorter than the prompt.
MISTRAL_WINDOW = ModelConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=40,
                             tie_word_embeddings=False, tokenizer="bytes", architecture="mistral", sliding_window=6)
#: Llama 3's rope scaling, and heads wider than hidden_size / heads.
LLAMA3_WIDE_HEADS = ModelConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=40,
                                head_dim=16, rope_theta=500000.0, tie_word_embeddings=False, tokenizer="bytes",
                                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 16})

#: The model of pixellm's int8 test (a random Hugging Face Llama: norms of ones, matrices of std 0.2).
HF_LIKE = ModelConfig(vocab_size=300, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6,
                      rope_theta=5000.0, tie_word_embeddings=False, tokenizer="none")


def random_tensors(config: ModelConfig, seed: int = 0, scale: float = 0.5) -> dict[str, np.ndarray]:
    """Weights large enough that logits are far from uniform (greedy choices are not near-ties)."""
    rng = np.random.default_rng(seed)
    if config == HF_LIKE:
        return {name: np.ones(shape, np.float32) if len(shape) == 1
                else (0.2 * rng.standard_normal(shape)).astype(np.float32)
                for name, shape in expected_shapes(config).items()}
    return {name: (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32) if len(shape) == 1
            else (scale * rng.standard_normal(shape)).astype(np.float32)
            for name, shape in expected_shapes(config).items()}


def make_model(directory: Path, config: ModelConfig = TINY, encoding: str = "fp32", seed: int = 0,
               scale: float = 0.5) -> Path:
    """A model container of ``config`` with random weights (std ``scale``) stored as ``encoding``."""
    key = zlib.crc32(repr(config).encode())
    path = Path(directory) / f"model-{key}-{encoding}-{seed}-{scale}.pxi"
    if not path.exists():
        save_model(path, config, random_tensors(config, seed, scale), encoding=encoding,
                   info={"source": "random pixellm-gpu test weights"})
    return path
