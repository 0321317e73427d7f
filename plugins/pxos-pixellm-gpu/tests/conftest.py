"""Fixtures of the pixellm-gpu tests: a GPU (lavapipe, installed when missing) and tiny models."""

from __future__ import annotations

import platform

import pytest

from pxos_kernel.testing import require_system_package

from gpu_testmodels import TINY, make_model


@pytest.fixture(scope="session")
def lavapipe() -> str:
    """Mesa's software Vulkan driver: the adapter every machine without a GPU (CI) has."""
    return require_system_package(f"/usr/share/vulkan/icd.d/lvp_icd.{platform.machine()}.json",
                                  "mesa-vulkan-drivers")


@pytest.fixture(scope="session")
def engine(lavapipe):
    """One engine for the session (opening a device and compiling kernels costs about a second)."""
    from pxos_pixellm_gpu.engine import GpuEngine

    engine = GpuEngine({})
    engine.gpu  # fail here, once, if no adapter can be opened
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_path(models_dir):
    return make_model(models_dir, TINY, "fp32")


@pytest.fixture(scope="session")
def numpy_engine():
    from pxos_pixellm import PixelEngine

    return PixelEngine({"compute": "numpy"})  # the numpy reference, not the compiled kernels


@pytest.fixture(scope="session")
def pixellm_engine():
    """pixellm as users run it: its compiled kernels where they build (int8 activations quantized)."""
    from pxos_pixellm import PixelEngine

    return PixelEngine({})
