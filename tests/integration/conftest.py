"""Cross-plugin tests may build their fixtures with the plugins' own test helpers (uniquely named modules)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
for helpers in ("pxos-pixellm",):  # tests/pixellm_testmodels.py: tiny models with trained tokenizers
    sys.path.insert(0, str(_PLUGINS / helpers / "tests"))


@pytest.fixture(autouse=True, scope="session")
def _sandbox_isolation(pxos_sandbox):
    """Cartridge tests, evolution builds and coach runs here go through the kernel sandbox, which needs isolation."""
    return pxos_sandbox
