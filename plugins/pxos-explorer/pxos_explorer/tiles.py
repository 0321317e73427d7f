"""A tile pyramid over an InfiniteMap tile space, built on demand and cached.

Level 0 is the map itself, one picture tile per map tile; at level ``L`` a tile
shows ``2**L x 2**L`` map tiles, each 2x2 block of pixels averaged from the
level below. A tile is built the first time it is asked for, then kept in
memory (bounded, oldest out first) and on disk under
``PXOS_HOME/explorer/tiles/<scheme>/<version>/``. The version is the map's
tiles directory's modification time: a tile written or replaced by anyone
(tiles are renamed into place) changes it, and the pyramid starts afresh.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Optional

from pxos_kernel import NotFoundError

from pxos_explorer.http import HttpError

MEMORY_BYTES = 64 << 20
VERSION_CHECK_SECONDS = 1.0
MAX_LEVEL = 40


def tile_space(store: Any) -> Optional[Any]:
    """The tile space behind a storage backend, when it has one (``infinitemap://``'s ``map``)."""
    space = getattr(store, "map", None)
    needed = ("read", "tile_size", "tiles_on_disk", "refresh", "tiles_dir")
    return space if space is not None and all(hasattr(space, n) for n in needed) else None


class TilePyramid:
    """Picture tiles of one tile space at every zoom level."""

    def __init__(self, space: Any, cache_dir: Path) -> None:
        self.space = space
        self.size: int = space.tile_size
        self.cache_root = cache_dir
        self.lock = threading.Lock()  # the tile space is not thread-safe; building is serialised
        self._memory: dict[tuple[int, int, int], bytes] = {}
        self._memory_bytes = 0
        self._version = ""
        self._checked = 0.0
        self._tiles: frozenset = frozenset()
        self._bounds: Optional[tuple[int, int, int, int]] = None
        self.hits = self.builds = 0

    # -- what the map holds ----------------------------------------------------------------------

    def version(self) -> str:
        """The map's version; re-read at most once a second, and the caches dropped when it changed."""
        now = time.monotonic()
        if now - self._checked < VERSION_CHECK_SECONDS and self._version:
            return self._version
        try:
            stat = os.stat(self.space.tiles_dir)
            version = f"{stat.st_mtime_ns:x}"
        except FileNotFoundError:
            version = "empty"
        if version != self._version:
            with self.lock:
                if version != self._version:
                    self.space.refresh()
                    self._tiles = frozenset(self.space.tiles_on_disk())
                    self._bounds = _bounds(self._tiles)
                    self._memory, self._memory_bytes = {}, 0
                    old, self._version = self._version, version
                    if old:
                        shutil.rmtree(self.cache_root / old, ignore_errors=True)
        self._checked = now
        return self._version

    def describe(self) -> dict:
        version = self.version()
        bounds = self._bounds
        return {"version": version, "tile_size": self.size, "tiles": len(self._tiles),
                "bounds": None if bounds is None else dict(zip(("min_tx", "min_ty", "max_tx", "max_ty"), bounds)),
                "levels": self.levels()}

    def levels(self) -> int:
        """How many levels there are: the top one shows the whole map in one tile."""
        bounds = self._bounds
        if bounds is None:
            return 1
        span = max(bounds[2] - bounds[0], bounds[3] - bounds[1]) + 1
        level = 0
        while (1 << level) < span and level < MAX_LEVEL:
            level += 1
        return level + 2  # one more: a span that straddles a tile boundary needs it to fit in one tile

    def check(self, level: int, tx: int, ty: int) -> None:
        """A clear error for a tile outside the map (or a level it does not have)."""
        self.version()
        levels = self.levels()
        if level < 0:
            raise HttpError(400, f"tile level {level} is negative (0 is the map at full size)")
        if level >= levels:
            raise NotFoundError(f"tile level {level} is beyond this map's {levels} levels (0..{levels - 1})")
        bounds = self._bounds
        if bounds is None:
            raise NotFoundError("this map is empty: it has no tiles yet")
        low_x, low_y, high_x, high_y = (bounds[0] >> level, bounds[1] >> level, bounds[2] >> level,
                                        bounds[3] >> level)
        if not (low_x <= tx <= high_x and low_y <= ty <= high_y):
            raise NotFoundError(f"tile ({tx}, {ty}) at level {level} is outside the map, which spans tiles "
                                f"x {low_x}..{high_x}, y {low_y}..{high_y} at that level")

    # -- tiles -----------------------------------------------------------------------------------

    def tile(self, level: int, tx: int, ty: int) -> bytes:
        """The PNG of one picture tile (from memory when it is warm)."""
        self.check(level, tx, ty)
        key = (level, tx, ty)
        cached = self._memory.get(key)
        if cached is not None:
            self.hits += 1
            return cached
        with self.lock:
            cached = self._memory.get(key)
            if cached is None:
                cached = self._from_disk(key)
                if cached is None:
                    cached = _encode(self._pixels(level, tx, ty))
                    self._to_disk(key, cached)
                    self.builds += 1
                self._remember(key, cached)
        return cached

    def _pixels(self, level: int, tx: int, ty: int) -> Any:
        import numpy as np

        size = self.size
        if not self._occupied(level, tx, ty):
            return np.zeros((size, size, 3), np.uint8)
        if level == 0:
            return self.space.read(tx * size, ty * size, size, size)
        quad = np.zeros((2 * size, 2 * size, 3), np.uint16)
        for dy in (0, 1):
            for dx in (0, 1):
                child = self._pixels(level - 1, 2 * tx + dx, 2 * ty + dy)
                quad[dy * size:(dy + 1) * size, dx * size:(dx + 1) * size] = child
        shrunk = (quad[0::2, 0::2] + quad[1::2, 0::2] + quad[0::2, 1::2] + quad[1::2, 1::2] + 2) // 4
        return shrunk.astype(np.uint8)

    def _occupied(self, level: int, tx: int, ty: int) -> bool:
        """Whether any map tile lies under this picture tile."""
        span = 1 << level
        if level == 0:
            return (tx, ty) in self._tiles
        x0, y0 = tx * span, ty * span
        return any(x0 <= x < x0 + span and y0 <= y < y0 + span for x, y in self._tiles)

    def _path(self, key: tuple[int, int, int]) -> Path:
        level, tx, ty = key
        return self.cache_root / self._version / str(level) / f"{tx}_{ty}.png"

    def _from_disk(self, key: tuple[int, int, int]) -> Optional[bytes]:
        try:
            return self._path(key).read_bytes()
        except OSError:
            return None

    def _to_disk(self, key: tuple[int, int, int], data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError:
            pass  # a cache that cannot be written is only slower

    def _remember(self, key: tuple[int, int, int], data: bytes) -> None:
        self._memory[key] = data
        self._memory_bytes += len(data)
        while self._memory_bytes > MEMORY_BYTES and len(self._memory) > 1:
            oldest = next(iter(self._memory))
            self._memory_bytes -= len(self._memory.pop(oldest))


def _bounds(tiles: frozenset) -> Optional[tuple[int, int, int, int]]:
    if not tiles:
        return None
    xs = [t[0] for t in tiles]
    ys = [t[1] for t in tiles]
    return min(xs), min(ys), max(xs), max(ys)


def _encode(pixels: Any) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(out, format="PNG", compress_level=1)
    return out.getvalue()
