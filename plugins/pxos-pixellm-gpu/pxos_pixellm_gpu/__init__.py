"""pxos-pixellm-gpu: pixellm's models in WGSL through wgpu, reading the PNG's payload bytes on the GPU.

Public API: :class:`pxos_pixellm_gpu.engine.GpuEngine` (the ``pixellm-gpu``
inference engine), :func:`pxos_pixellm_gpu.offload.parse_offload`, and
:func:`pxos_pixellm_gpu.adapter.list_adapters`. Importing this package imports
nothing heavy: wgpu and numpy load when an engine first needs the GPU.
"""

__version__ = "0.1.0"
