"""The pxos-pixellm-gpu plugin: inference engine ``pixellm-gpu``.

Only the kernel is imported here; wgpu, numpy and the model code load when
the engine is made and first used.
"""

from __future__ import annotations

from pxos_kernel import InferenceEngine, Setting, hookimpl, lazy


@hookimpl
def pxos_inference_engines():
    return InferenceEngine("pixellm-gpu", lazy("pxos_pixellm_gpu.engine:create_engine"),
                           "pixellm's models in WGSL on a WebGPU device (Vulkan, Metal, D3D12; lavapipe in software), "
                           "reading the PNG's payload bytes on the GPU")


@hookimpl
def pxos_settings():
    key = "inference.pixellm-gpu"
    return [
        Setting(f"{key}.offload", str, "all", "what runs on the GPU: all, none or 'layers N-M'"),
        Setting(f"{key}.adapter", str, "auto", "auto (a hardware adapter, else a software one), hardware or software",
                choices=("auto", "hardware", "software")),
        Setting(f"{key}.batch", int, 32, "prompt tokens per GPU step"),
        Setting(f"{key}.max_buffer_bytes", int, None, "the largest weight buffer to make (else the adapter's limit)"),
        Setting(f"{key}.workgroup", int, None, "threads per workgroup, 8 to 256 (else 64 on hardware, 16 in software)"),
        Setting(f"{key}.default_model", str, None, "as pixellm's default_model"),
        Setting(f"{key}.pixellm_root", str, None, "pixellm's directory of models (else pixellm's state directory)"),
    ]
