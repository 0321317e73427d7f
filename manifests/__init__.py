"""Data only: the YAML manifests shipped with the kernel (importable as ``pxos_kernel.manifests``)."""
