"""``importlib.resources`` support for archives: a Traversable over members, like ``zipfile.Path``.

Both classes are the boot shim's (:mod:`pxos_cartridge.boot`); this module names them for
readers who look for resources here.
"""

from __future__ import annotations

from pxos_cartridge.boot import ArchivePath, ArchiveResources

__all__ = ["ArchivePath", "ArchiveResources"]
