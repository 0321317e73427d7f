"""Fixtures of the pxos-pixellm tests: tiny models built on the spot."""

from __future__ import annotations

import pytest

from pixellm_testmodels import TINY, random_tensors
from pxos_pixellm.container import save_model


@pytest.fixture
def tiny_tensors():
    return random_tensors(TINY)


@pytest.fixture
def tiny_model_path(tmp_path, tiny_tensors):
    path = tmp_path / "tiny.pxi"
    save_model(path, TINY, tiny_tensors, encoding="fp32", info={"source": "random test weights"})
    return path
