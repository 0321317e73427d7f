"""The weights on the GPU are the container's payload bytes, tensor by tensor, not converted."""

from __future__ import annotations

import numpy as np
import pytest

from pxos_kernel.container import read_container
from pxos_kernel import InferenceError
from pxos_pixellm_gpu.engine import GpuEngine

from gpu_testmodels import TINY, make_model


@pytest.mark.parametrize("encoding", ["fp32", "fp16", "bf16", "int8"])
def test_every_buffer_holds_the_payload_bytes_of_its_tensor(engine, models_dir, encoding):
    path = make_model(models_dir, TINY, encoding)
    payload, meta = read_container(path)
    model = engine.load(str(path))
    uploaded = model.weights.records
    # Each tensor's whole stored span, and nothing else: int8 as codes + scales, floats as one buffer.
    spans = {}
    for record in uploaded:
        spans.setdefault(record.tensor, []).append((record.offset, record.length))
    for entry in meta["tensors"]:
        parts = sorted(spans.pop(entry["name"]))
        assert parts[0][0] == entry["offset"] and sum(length for _, length in parts) == entry["length"]
        assert all(a + n == b for (a, n), (b, _) in zip(parts, parts[1:]))
    assert not spans
    # Read back from the GPU: byte for byte the payload.
    queue = engine.gpu.device.queue
    for record in uploaded:
        on_gpu = bytes(queue.read_buffer(record.buffer))[: record.length]
        assert on_gpu == bytes(payload[record.offset: record.offset + record.length]), record.tensor
        assert record.buffer.size - record.length < 4  # at most the padding to a whole word
    assert model.weights.bytes_uploaded == sum(e["length"] for e in meta["tensors"])
    assert all(row["equal"] for row in engine.verify_upload(str(path)))


def test_big_matrices_are_split_into_buffers_of_the_same_bytes(lavapipe, numpy_engine, models_dir):
    path = make_model(models_dir, TINY, "int8")
    engine = GpuEngine({"max_buffer_bytes": 4000})  # a 256 x 32 embedding is 8 KiB of codes: 3 chunks
    model = engine.load(str(path))
    embedding = model.weights.tensors["model.embed_tokens.weight"]
    assert [c.rows for c in embedding.chunks] == [96, 96, 64]
    assert all(row["equal"] for row in engine.verify_upload(str(path)))
    ids = np.arange(0, 256, 7)
    np.testing.assert_allclose(model.forward(ids), numpy_engine.transformer(str(path)).forward(ids),
                               atol=1e-3, rtol=0)


def test_a_tensor_that_cannot_be_split_small_enough_is_refused_with_the_sizes(lavapipe, models_dir):
    engine = GpuEngine({"max_buffer_bytes": 64})
    with pytest.raises(InferenceError, match=r"tensor model.embed_tokens.weight: 32 rows take 4096 bytes, more "
                                             r"than the configured max_buffer_bytes \(64 bytes\)"):
        engine.load(str(make_model(models_dir, TINY, "fp32")))


def test_a_kv_cache_larger_than_a_buffer_is_refused_with_the_sizes(lavapipe, models_dir):
    # int8 weights of TINY fit 3000-byte buffers (chunks of 64 rows); one layer's keys for the whole context
    # (2 heads x 48 positions x 8 x 4 bytes = 3072) do not.
    engine = GpuEngine({"max_buffer_bytes": 3000})
    model = engine.load(str(make_model(models_dir, TINY, "int8")))
    with pytest.raises(InferenceError, match=r"the KV cache of one layer takes 3072 bytes, more than the configured "
                                             r"max_buffer_bytes \(3000 bytes\); use a model with a shorter context"):
        model.new_cache()
