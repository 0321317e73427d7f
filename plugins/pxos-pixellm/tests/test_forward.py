"""The numpy forward pass against Hugging Face transformers' Llama, and the KV cache against no cache."""

from __future__ import annotations

import numpy as np
import pytest

from pxos_pixellm.huggingface import read_hf_directory
from pxos_pixellm.model import Transformer

from pixellm_testmodels import TINY, hf_llama, hf_logits


@pytest.mark.parametrize("tie,kv_heads", [(False, 2), (True, 4), (False, 1)])
def test_forward_matches_transformers(tmp_path, tie, kv_heads):
    hf, directory = hf_llama(tmp_path, tie=tie, kv_heads=kv_heads)
    config, tensors, _, _, _ = read_hf_directory(directory, None)
    ids = np.random.default_rng(1).integers(0, 300, 40)
    ours = Transformer(config, tensors).forward(ids)
    np.testing.assert_allclose(ours, hf_logits(hf, ids), atol=2e-4, rtol=1e-4)


def test_kv_cache_gives_the_same_logits_as_one_pass(tiny_tensors):
    model = Transformer(TINY, tiny_tensors)
    ids = np.random.default_rng(2).integers(0, 256, TINY.max_position_embeddings)
    whole = model.forward(ids)
    cache = model.new_cache()
    pieces = [model.forward(ids[:5], cache), model.forward(ids[5:9], cache)]
    pieces += [model.forward([token], cache) for token in ids[9:]]
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-4, rtol=1e-4)


def test_sequence_longer_than_context_is_an_error(tiny_tensors):
    from pxos_kernel import InferenceError

    model = Transformer(TINY, tiny_tensors)
    with pytest.raises(InferenceError, match="exceeds the context"):
        model.forward(np.zeros(TINY.max_position_embeddings + 1, dtype=np.int64))


def test_the_pass_in_pieces_is_the_whole_pass(tiny_tensors):
    """embed_tokens, run_layers over any split of the layers, then logits: what another engine runs around
    the layers it computes itself (pxos-pixellm-gpu's offload)."""
    model = Transformer(TINY, tiny_tensors)
    ids = np.random.default_rng(4).integers(0, 256, 12)
    whole = model.forward(ids)
    cache = model.new_cache()
    x = model.embed_tokens(ids)
    for layers in (range(0, 1), range(1, TINY.num_hidden_layers)):
        x = model.run_layers(x, cache, 0, layers)
    np.testing.assert_allclose(model.logits(x), whole, atol=1e-6)
    np.testing.assert_allclose(model.forward(ids, model.new_cache(), last_only=True), whole[-1:], atol=1e-6)
