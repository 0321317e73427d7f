"""Entry point ``pixelfs`` (group ``pxos``): registers the ``pixelfs`` and ``infinitemap`` backends.

Only pxos_kernel and the stdlib are imported here; each factory imports its
backend (and numpy) when a command first uses the scheme.
"""

from __future__ import annotations

from typing import Any, Mapping

from pxos_kernel import Setting, StorageBackend, hookimpl


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


@hookimpl
def pxos_settings():
    pixelfs, infinitemap = "storage.pixelfs", "storage.infinitemap"
    strategies = ("default", "filtered", "huffman", "rle")  # pxos_kernel.container's zlib strategies
    return [
        Setting(f"{pixelfs}.root", str, None, "the directory of its containers (else PXOS_HOME/storage/pixelfs)"),
        Setting(f"{pixelfs}.level", int, 6, "zlib level of new containers, 0-9"),
        Setting(f"{pixelfs}.width", int, None, "pixel width of new containers (else about square)"),
        Setting(f"{infinitemap}.root", str, None, "the directory of its tiles (else PXOS_HOME/storage/infinitemap)"),
        Setting(f"{infinitemap}.tile_size", int, None, "tile edge in pixels, fixed when the map is first written "
                "(else the map's, or 256)"),
        Setting(f"{infinitemap}.cache_tiles", int, 128, "tiles kept decoded in memory"),
        Setting(f"{infinitemap}.level", int, 1, "zlib level of tiles, 0-9"),
        Setting(f"{infinitemap}.strategy", str, "rle", "zlib strategy of tiles", choices=strategies),
        Setting(f"{infinitemap}.object_width", int, 1024, "pixel width of an object's band (a multiple of the tile size)"),
        Setting(f"{infinitemap}.fsync", bool, False, "fsync each tile as it is written"),
    ]
