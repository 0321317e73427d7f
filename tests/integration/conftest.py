"""Cross-plugin tests may build their fixtures with the plugins' own test helpers (uniquely named modules)."""

from __future__ import annotations

import sys
from pathlib import Path

_PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
for helpers in ("pxos-pixellm",):  # tests/pixellm_testmodels.py: tiny models with trained tokenizers
    sys.path.insert(0, str(_PLUGINS / helpers / "tests"))
