"""Tiny models built by the tests: random byte-level pixel models and Hugging Face Llama checkpoints.

(A uniquely named module rather than conftest helpers: every plugin's tests directory is on
sys.path in the integration run.)
"""

from __future__ import annotations

import numpy as np
import pytest

from pxos_pixellm.config import ModelConfig
from pxos_pixellm.container import save_model
from pxos_pixellm.model import expected_shapes

TINY = ModelConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                   tie_word_embeddings=False, tokenizer="bytes")


def random_tensors(config: ModelConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights large enough that the logits are far from uniform (so sampling choices differ)."""
    rng = np.random.default_rng(seed)
    return {name: (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32) if len(shape) == 1
            else (0.5 * rng.standard_normal(shape)).astype(np.float32)
            for name, shape in expected_shapes(config).items()}


def hf_llama(tmp_path, *, tie: bool = False, kv_heads: int = 2, vocab: int = 300, seed: int = 0,
             dtype: str = "float32"):
    """A random ``LlamaForCausalLM`` saved with ``save_pretrained``; returns (model, directory)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=kv_heads, max_position_embeddings=64, tie_word_embeddings=tie,
        rms_norm_eps=1e-6, rope_theta=5000.0)
    model = transformers.LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger than the default init so differences would show in the logits
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
