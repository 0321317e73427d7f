"""The pxos-pixellm-gpu plugin: inference engine ``pixellm-gpu``.

Only the kernel is imported here; wgpu, numpy and the model code load when
the engine is made and first used.
"""

from __future__ import annotations

from pxos_kernel import InferenceEngine, hookimpl, lazy


@hookimpl
def pxos_inference_engines():
    return InferenceEngine("pixellm-gpu", lazy("pxos_pixellm_gpu.engine:create_engine"),
                           "pixellm's models in WGSL on a WebGPU device (Vulkan, Metal, D3D12; lavapipe in software), "
                           "reading the PNG's payload bytes on the GPU")
