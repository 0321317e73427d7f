"""Pictures the plugins draw into files, handed to the browser as bytes."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable


def drawn(draw: Callable[[str], Any]) -> bytes:
    """Run ``draw(path)``, which writes a PNG to ``path``; return the PNG's bytes (the file is removed)."""
    handle, path = tempfile.mkstemp(prefix="pxos-explorer-", suffix=".png")
    os.close(handle)
    try:
        draw(path)
        with open(path, "rb") as stream:
            return stream.read()
    finally:
        os.unlink(path)
