"""Bad input: one clear line each, and nothing made up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pxos_kernel import GenerationRequest, InferenceError
from pxos_pixellm_gpu.engine import GpuEngine

from gpu_testmodels import TINY, make_model


def test_no_adapter_names_what_to_install(lavapipe):
    env = {**os.environ, "VK_ICD_FILENAMES": "/nonexistent.json", "VK_DRIVER_FILES": "/nonexistent.json"}
    code = ("from pxos_pixellm_gpu.engine import GpuEngine\n"
            "try:\n    GpuEngine({}).models()\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.startswith("InferenceError pixellm-gpu: no usable GPU adapter"), result
    assert "install mesa-vulkan-drivers" in result.stdout
    assert result.stderr == ""  # no driver noise


def test_an_encoding_the_kernels_do_not_read_is_refused(engine, models_dir):
    path = make_model(models_dir, TINY, "uint8")
    with pytest.raises(InferenceError, match=r"tensor model\.embed_tokens\.weight is stored as uint8 .*"
                                             r"the pixellm-gpu kernels read fp32, fp16, bf16, int8"):
        engine.load(str(path))


def test_a_lost_device_during_generation_is_an_error_not_garbage(lavapipe, models_dir):
    path = str(make_model(models_dir, TINY, "fp16"))
    request = GenerationRequest("lost ", model=path, max_tokens=30, temperature=0)
    whole = "".join(c.text for c in GpuEngine({}).generate(request))
    engine = GpuEngine({})
    text = ""
    with pytest.raises(InferenceError, match="the GPU device was lost while generating"):
        for chunk in engine.generate(request):
            text += chunk.text
            engine.gpu.device.destroy()  # the device goes away after the first piece
    assert text and whole.startswith(text)
    with pytest.raises(InferenceError, match="was lost earlier"):
        list(engine.generate(request))


def test_a_misspelt_setting_is_refused_with_a_suggestion():
    from pxos_kernel import ConfigError

    with pytest.raises(ConfigError, match=r"inference.pixellm-gpu.offlaod: not a setting of this engine "
                                          r"\(did you mean 'offload'\?\)"):
        GpuEngine({"offlaod": "all"})
    with pytest.raises(ConfigError, match="workgroup must be a power of two from 8 to 256, got 48"):
        GpuEngine({"workgroup": 48})
