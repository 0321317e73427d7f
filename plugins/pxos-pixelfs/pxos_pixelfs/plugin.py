"""Entry point ``pixelfs`` (group ``pxos``): registers the ``pixelfs`` and ``infinitemap`` backends.

Only pxos_kernel and the stdlib are imported here; each factory imports its
backend (and numpy) when a command first uses the scheme.
"""

from __future__ import annotations

from typing import Any, Mapping

from pxos_kernel import StorageBackend, hookimpl


def _pixelfs(settings: Mapping[str, Any]):
    from pxos_pixelfs.pixelfs import PixelFS

    return PixelFS.from_settings(settings)


def _infinitemap(settings: Mapping[str, Any]):
    from pxos_pixelfs.infinitemap import InfiniteMapStore

    return InfiniteMapStore.from_settings(settings)


@hookimpl
def pxos_storage_backends():
    return [
        StorageBackend("pixelfs", _pixelfs, "each object a real PNG pixel container (.pxi) under PXOS_HOME"),
        StorageBackend("infinitemap", _infinitemap, "objects laid out as pixels in a sparse 2D space of PNG tiles"),
    ]
