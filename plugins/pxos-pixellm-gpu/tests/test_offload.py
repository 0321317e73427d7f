"""Incremental migration (Genesis §5): any run of layers on the GPU, the rest on the CPU, the same output."""

from __future__ import annotations

import numpy as np
import pytest

from pxos_kernel import ConfigError, GenerationRequest
from pxos_pixellm_gpu.engine import GpuEngine
from pxos_pixellm_gpu.offload import parse_offload

from gpu_testmodels import TINY

IDS = np.random.default_rng(3).integers(0, 256, 40)
LAYERS = TINY.num_hidden_layers
SPLITS = (["all", "none"]
          + [f"layers {first}-{last}" for first in range(LAYERS) for last in range(first, LAYERS)])


def test_every_split_point_of_the_tiny_model_is_tested():
    assert len(SPLITS) == 2 + LAYERS * (LAYERS + 1) // 2 == 8


@pytest.mark.parametrize("offload", SPLITS)
def test_every_split_gives_the_numpy_logits_and_text(engine, numpy_engine, tiny_path, offload):
    model = engine.load(str(tiny_path), offload)
    np.testing.assert_allclose(model.forward(IDS), numpy_engine.transformer(str(tiny_path)).forward(IDS),
                               atol=1e-4, rtol=0)
    request = GenerationRequest("offload ", model=str(tiny_path), max_tokens=24, temperature=0)
    reference = "".join(c.text for c in numpy_engine.generate(request))
    gpu_engine = GpuEngine({"offload": offload})
    gpu_engine._gpu, gpu_engine._kernels = engine.gpu, engine._kernels  # share the session's device
    assert "".join(c.text for c in gpu_engine.generate(request)) == reference


def test_offload_uploads_only_the_gpu_layers(engine, tiny_path):
    names = {r.tensor for r in engine.load(str(tiny_path), "layers 1-1").weights.records}
    assert names and all(name.startswith("model.layers.1.") for name in names)
    assert engine.load(str(tiny_path), "none").weights is None


@pytest.mark.parametrize("spec,message", [
    ("layers 0-3", "offload 'layers 0-3': the model has layers 0-2"),
    ("layers 5", "offload 'layers 5': the model has layers 0-2"),
    ("layers 2-1", "the first layer 2 comes after the last 1"),
    ("gpu", "expected 'all', 'none' or 'layers N-M'"),
])
def test_offload_outside_the_model_is_one_clear_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_offload(spec, LAYERS)
