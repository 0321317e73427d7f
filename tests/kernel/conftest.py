import sys
from pathlib import Path

# sample_programs.py lives here; `module:function` programs resolve through sys.path.
sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture
def pxos_home(pxos_home, monkeypatch):
    """The kernel's tests are about the bare kernel, whatever else is installed beside it."""
    monkeypatch.setenv("PXOS_PLUGINS", "kernel")
    return pxos_home
