"""The compiled kernels: the same function as the numpy reference, on the stored weights, in their encoding."""

from __future__ import annotations

import numpy as np
import pytest

from pixellm_testmodels import random_tensors
from pxos_kernel import InferenceError
from pxos_pixellm import native
from pxos_pixellm.config import ModelConfig
from pxos_pixellm.container import open_model, save_model
from pxos_pixellm.engine import PixelEngine
from pxos_pixellm.model import Transformer, build_transformer

CONFIG = ModelConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                     num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False, tokenizer="bytes")
IDS = np.random.default_rng(3).integers(0, 256, 40)


@pytest.fixture(scope="module", autouse=True)
def kernels_build():
    if native.library() is None:  # gcc is part of the test environment: under CI this must not skip
        if __import__("os").environ.get("CI"):
            pytest.fail(f"the C kernels did not build: {native.unavailable_reason()}")
        pytest.skip(f"the C kernels did not build: {native.unavailable_reason()}")


def stored(tmp_path, encoding):
    path = tmp_path / f"{encoding}.pxi"
    tensors = {k: v * (0.3 if v.ndim == 2 else 1.0) for k, v in random_tensors(CONFIG).items()}
    save_model(path, CONFIG, tensors, encoding=encoding)
    return open_model(path)


@pytest.mark.parametrize("encoding", ["fp32", "fp16", "bf16"])
def test_float_encodings_compute_in_place_like_the_reference(tmp_path, encoding):
    opened = stored(tmp_path, encoding)
    ours = native.NativeTransformer(opened)
    reference = Transformer(opened.config, dict(opened.arrays()))
    np.testing.assert_allclose(ours.forward(IDS), reference.forward(IDS), atol=1e-4, rtol=1e-4)
    assert not ours.converted
    width = {"fp32": 4, "fp16": 2, "bf16": 2}[encoding]
    matrices = sum(e.count for e in opened.tensors if len(e.shape) == 2)
    assert ours.resident_bytes < width * matrices * 1.05  # the stored bytes, not a float32 copy


def test_int8_stays_int8_and_multiplies_on_the_blocks(tmp_path):
    opened = stored(tmp_path, "int8")
    ours = native.NativeTransformer(opened)
    parameters = sum(e.count for e in opened.tensors)
    assert not ours.converted and ours.resident_bytes / parameters <= 1.1
    reference = Transformer(opened.config, dict(opened.arrays())).forward(IDS)  # the same int8 weights, in float
    got = ours.forward(IDS)
    # The activations are quantized to int8 blocks too, as llama.cpp's Q8_0 does: a small relative error
    # (on the shipped model it moves bits/byte by 0.03%: bench/pixellm_quant.py).
    assert np.sqrt(np.mean((got - reference) ** 2) / np.mean(reference ** 2)) < 0.05
    assert (got.argmax(axis=1) == reference.argmax(axis=1)).mean() > 0.85


def test_kv_cache_and_threads_give_the_same_logits(tmp_path):
    opened = stored(tmp_path, "fp32")
    ours = native.NativeTransformer(opened)
    whole = ours.forward(IDS)
    for threads in (1, 2):
        native.set_threads(threads)
        cache = ours.new_cache()
        pieces = [ours.forward(IDS[:9], cache)] + [ours.forward([t], cache) for t in IDS[9:]]
        np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5, rtol=1e-5)
    cache = ours.new_cache()
    np.testing.assert_allclose(ours.forward(IDS, cache, last_only=True)[0], whole[-1], atol=1e-6)


def test_the_pass_in_pieces_is_the_whole_pass(tmp_path):
    opened = stored(tmp_path, "int8")
    ours = native.NativeTransformer(opened)
    whole = ours.forward(IDS)
    cache = ours.new_cache()
    x = ours.embed_tokens(IDS)
    x = ours.run_layers(x, cache, 0, range(0, 1))
    x = ours.run_layers(x, cache, 0, range(1, 2))
    cache.length = len(IDS)
    np.testing.assert_allclose(ours.logits(x), whole, atol=1e-5)


def test_the_engine_reports_how_it_computes(tmp_path):
    opened = stored(tmp_path, "int8")
    engine = PixelEngine({"threads": 1})
    report = engine.describe_self(opened.path)["compute"]
    assert report["backend"] == "native" and report["threads"] == 1 and report["resident_weight_bytes"] > 0
    numpy_engine = PixelEngine({"compute": "numpy"})
    assert numpy_engine.describe_self(opened.path)["compute"]["backend"] == "numpy"


def test_asking_for_native_without_kernels_says_why(tmp_path, monkeypatch):
    opened = stored(tmp_path, "fp32")
    monkeypatch.setattr(native, "_state", {"lib": None, "reason": "no C compiler found (install gcc, or set CC)"})
    with pytest.raises(InferenceError, match="compute 'native' asked for, but no C compiler found"):
        build_transformer(opened, "native")
    assert build_transformer(opened, "auto").backend == "numpy"
