"""What the serve benchmarks share: a kernel in a scratch home, with the n-gram engine trained on the kernel's source."""

from __future__ import annotations

import os
import tempfile
from importlib.resources import files
from typing import Any


def kernel_source() -> str:
    """The kernel's own Python modules, read as package data (so it works from a pixel archive too)."""
    modules = sorted((item for item in files("pxos_kernel").iterdir() if item.name.endswith(".py")),
                     key=lambda item: item.name)
    return "".join(module.read_text(encoding="utf-8") for module in modules)


def bench_kernel(prefix: str, ngram: bool = True) -> tuple[Any, str]:
    """``(kernel, home)``: a kernel in a fresh ``PXOS_HOME`` (the caller removes it), with ``bench-ngram`` if asked."""
    from pxos_agents.ngram import NgramPlugin
    from pxos_kernel import Kernel

    home = tempfile.mkdtemp(prefix=prefix)
    os.environ["PXOS_HOME"] = home
    kernel = Kernel(home)
    if ngram:
        kernel.plugins.register(NgramPlugin(kernel_source(), name="bench-ngram", order=8), "bench-ngram")
    return kernel, home
