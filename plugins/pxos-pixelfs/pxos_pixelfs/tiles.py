"""A sparse, unbounded 2D space of RGB pixels, kept as PNG tiles.

The plane is cut into square tiles (default 256x256) addressed by signed
integer coordinates: tile ``(tx, ty)`` covers pixels ``x`` in
``[tx*size, (tx+1)*size)`` and ``y`` likewise, so negative coordinates work
like positive ones. A tile nobody wrote does not exist on disk and reads as
black; which tiles exist is listed once when the space is opened, so reading
empty space never touches the disk.

Each tile is a pixel container (a real PNG, see :mod:`pxos_kernel.container`)
``ROOT/tiles/<tx>_<ty>.png`` of kind ``infinitemap-tile``; its metadata names
its coordinates and its sha256 guards its pixels. Tiles are replaced atomically
(temporary file + rename); a damaged tile is an error naming it, never a blank.
Recently used tiles stay in an LRU cache; dirty ones are written when evicted,
on :meth:`TileSpace.flush` and on :meth:`TileSpace.close` (``with`` closes).

    >>> import numpy as np, tempfile
    >>> with TileSpace(tempfile.mkdtemp()) as space:
    ...     space.write(-10, -10, np.full((20, 20, 3), 255, np.uint8))
    ...     int(space.read(-11, -11, 3, 3).sum() // 255)
    12
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Union

from pxos_kernel import ConfigError, FormatError, StorageError, atomic_write, atomic_writer, container

if TYPE_CHECKING:
    import numpy as np

TILE_KIND = "infinitemap-tile"
MAP_FORMAT = "pxos-infinitemap"
TILE_NAME = re.compile(r"^(-?\d+)_(-?\d+)\.png$")
DEFAULT_TILE_SIZE = 256
IO_THREADS = 4
COORDINATE_LIMIT = 2**62  # far beyond any real map; keeps tile arithmetic exact and names short

Tile = tuple[int, int]


class TileSpace:
    """The pixel plane stored under ``root`` (``root/map.json`` and ``root/tiles/``)."""

    def __init__(self, root: Union[str, os.PathLike], *, tile_size: Optional[int] = None, cache_tiles: int = 128,
                 level: int = 1, strategy: str = "rle", fsync: bool = False) -> None:
        """Open (or start) the map under ``root``.

        ``tile_size`` is fixed when the map is first written (None: the map's, or 256);
        ``cache_tiles`` bounds the LRU cache; ``level`` and ``strategy`` are the zlib
        settings of tiles written (default level 1 with run-length matching: fast,
        and good on pictures); ``fsync`` fsyncs every tile written.
        """
        if strategy not in container.STRATEGIES:
            raise ConfigError(f"infinitemap compression strategy must be one of {sorted(container.STRATEGIES)}, "
                              f"not {strategy!r}")
        import numpy as np

        self._np = np
        self.root = Path(root)
        self.tiles_dir = self.root / "tiles"
        self.tile_size = self._agree_tile_size(tile_size)
        if not isinstance(cache_tiles, int) or cache_tiles < 1:
            raise ConfigError(f"infinitemap cache size must be at least 1 tile, not {cache_tiles!r}")
        self.cache_tiles, self.level, self.strategy, self.fsync = cache_tiles, level, strategy, fsync
        self._cache: "OrderedDict[Tile, np.ndarray]" = OrderedDict()
        self._dirty: set[Tile] = set()
        self._on_disk = self._list_tiles()
        self._pool = None

    # -- regions of pixels ------------------------------------------------------------------

    def read(self, x: int, y: int, width: int, height: int) -> "np.ndarray":
        """The ``height x width x 3`` uint8 pixels whose top-left corner is ``(x, y)``."""
        x, y, width, height = self._region(x, y, width, height)
        out = self._np.zeros((height, width, 3), self._np.uint8)
        pieces = list(self._pieces(x, y, width, height))
        batch = max(1, self.cache_tiles // 2)
        for start in range(0, len(pieces), batch):
            chunk = pieces[start:start + batch]
            loaded = self._load_many([tile for tile, _, _ in chunk])
            for tile, here, there in chunk:
                pixels = loaded.get(tile)
                if pixels is None:
                    pixels = self._tile(tile, create=False)
                if pixels is not None:
                    out[here] = pixels[there]
        return out

    def write(self, x: int, y: int, pixels: "np.ndarray") -> None:
        """Paint ``pixels`` (a ``height x width x 3`` uint8 array) with its top-left corner at ``(x, y)``."""
        np = self._np
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3 \
                or pixels.shape[2] != 3:
            described = f"{pixels.dtype} array of shape {pixels.shape}" if isinstance(pixels, np.ndarray) \
                else type(pixels).__name__
            raise StorageError(f"infinitemap: a region must be a (height, width, 3) uint8 array, not a {described}")
        x, y, width, height = self._region(x, y, pixels.shape[1], pixels.shape[0])
        size = self.tile_size
        for tile, here, there in self._pieces(x, y, width, height):
            whole = there[0].stop - there[0].start == size and there[1].stop - there[1].start == size
            target = self._tile(tile, create=True, load=not whole)  # no need to read what we replace
            assert target is not None  # create=True always gives a tile
            target[there] = pixels[here]
            self._dirty.add(tile)

    # -- byte streams laid out as pixels -----------------------------------------------------------

    def write_bytes(self, x: int, y: int, width: int, data: bytes) -> int:
        """Lay ``data`` out row by row (3 bytes a pixel, ``width`` pixels a row, the last row zero padded)
        from ``(x, y)``; return the number of rows written."""
        row_bytes = 3 * width
        rows = -(-len(data) // row_bytes)
        if rows:
            padded = bytes(data) + bytes(rows * row_bytes - len(data))
            self.write(x, y, self._np.frombuffer(padded, self._np.uint8).reshape(rows, width, 3))
        return rows

    def read_bytes(self, x: int, y: int, width: int, offset: int, length: int) -> bytes:
        """``length`` bytes from ``offset`` of the byte stream laid out from ``(x, y)`` at ``width``."""
        if length <= 0:
            return b""
        row_bytes = 3 * width
        first, last = offset // row_bytes, (offset + length - 1) // row_bytes
        if first == last:  # within one row: read only the pixels (and so the tiles) it spans
            left = (offset - first * row_bytes) // 3
            right = (offset + length - 1 - first * row_bytes) // 3
            data = self.read(x + left, y + first, right - left + 1, 1).tobytes()
            start = offset - first * row_bytes - 3 * left
        else:
            data = self.read(x, y + first, width, last - first + 1).tobytes()
            start = offset - first * row_bytes
        return data[start:start + length]

    # -- tiles ------------------------------------------------------------------------------------------

    def tile_of(self, x: int, y: int) -> Tile:
        """The tile holding pixel ``(x, y)``."""
        return x // self.tile_size, y // self.tile_size

    def tile_path(self, tile: Tile) -> Path:
        return self.tiles_dir / f"{tile[0]}_{tile[1]}.png"

    def tiles_on_disk(self) -> set[Tile]:
        return set(self._on_disk)

    def flush(self) -> None:
        """Write every dirty cached tile (each atomically)."""
        self._save_many([(tile, self._cache[tile]) for tile in sorted(self._dirty)])
        self._dirty.clear()

    def forget(self, tiles: Optional[Iterable[Tile]] = None) -> None:
        """Write dirty tiles, then drop ``tiles`` (all when None) from the cache so they are re-read from disk."""
        self.flush()
        for tile in list(self._cache) if tiles is None else tiles:
            self._cache.pop(tile, None)

    def refresh(self) -> None:
        """Forget the cache and re-list the tiles on disk (another process changed them)."""
        self.forget()
        self._on_disk = self._list_tiles()

    def remove(self, tiles: Iterable[Tile]) -> None:
        """Make ``tiles`` black again: drop them from the cache and delete their files."""
        for tile in tiles:
            self._cache.pop(tile, None)
            self._dirty.discard(tile)
            if tile in self._on_disk:
                self.tile_path(tile).unlink(missing_ok=True)
                self._on_disk.discard(tile)

    def close(self) -> None:
        """Write dirty tiles and empty the cache (using the space afterwards simply refills it)."""
        self.forget()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> "TileSpace":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ------------------------------------------------------------------------------------

    def _agree_tile_size(self, wanted: Optional[int]) -> int:
        """The map's tile size: the one recorded in map.json, which a setting may not contradict."""
        if wanted is not None and (not isinstance(wanted, int) or isinstance(wanted, bool) or not 1 <= wanted <= 4096):
            raise ConfigError(f"infinitemap tile size must be an integer from 1 to 4096, not {wanted!r}")
        path = self.root / "map.json"
        if not path.exists():
            return wanted or DEFAULT_TILE_SIZE
        try:
            recorded = json.loads(path.read_text("utf-8"))
            size = recorded["tile_size"]
            if recorded.get("format") != MAP_FORMAT or not isinstance(size, int) or size < 1:
                raise ValueError("not an infinitemap description")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise FormatError(f"{path}: unreadable infinitemap description ({exc})") from None
        if wanted is not None and wanted != size:
            raise ConfigError(f"{self.root} is a map of {size}x{size} tiles; it cannot be opened with {wanted}")
        return size

    def _list_tiles(self) -> set[Tile]:
        try:
            names = os.listdir(self.tiles_dir)
        except FileNotFoundError:
            return set()
        found = set()
        for name in names:
            match = TILE_NAME.match(name)
            if match:
                found.add((int(match.group(1)), int(match.group(2))))
        return found

    def _region(self, x: int, y: int, width: int, height: int) -> tuple[int, int, int, int]:
        try:
            x, y, width, height = (operator.index(v) for v in (x, y, width, height))
        except TypeError:
            raise StorageError(f"infinitemap: region coordinates must be integers, not {(x, y, width, height)!r}") \
                from None
        if width < 0 or height < 0:
            raise StorageError(f"infinitemap: a region cannot have a negative size ({width}x{height})")
        if max(abs(x), abs(y), abs(x + width), abs(y + height)) > COORDINATE_LIMIT:
            raise StorageError(f"infinitemap: region at ({x}, {y}) is beyond +-2**62")
        return x, y, width, height

    def _pieces(self, x: int, y: int, width: int, height: int):
        """For each tile the region overlaps: (tile, slice of the region, slice of the tile)."""
        size = self.tile_size
        if not width or not height:
            return
        for ty in range(y // size, (y + height - 1) // size + 1):
            top, bottom = max(y, ty * size), min(y + height, (ty + 1) * size)
            for tx in range(x // size, (x + width - 1) // size + 1):
                left, right = max(x, tx * size), min(x + width, (tx + 1) * size)
                yield ((tx, ty),
                       (slice(top - y, bottom - y), slice(left - x, right - x)),
                       (slice(top - ty * size, bottom - ty * size), slice(left - tx * size, right - tx * size)))

    def _tile(self, tile: Tile, *, create: bool, load: bool = True) -> "Optional[np.ndarray]":
        """A cached tile, loaded or made black on demand; None for a missing one when not ``create``.
        ``load=False``: the caller replaces every pixel, so the tile on disk need not be read."""
        pixels = self._cache.get(tile)
        if pixels is not None:
            self._cache.move_to_end(tile)
            return pixels
        if tile in self._on_disk and load:
            pixels = self._load(tile)
        elif create:
            pixels = self._np.zeros((self.tile_size, self.tile_size, 3), self._np.uint8)
        else:
            return None
        self._cache[tile] = pixels
        if len(self._cache) > self.cache_tiles:
            self._evict()
        return pixels

    def _evict(self) -> None:
        """Drop the least recently used quarter of the cache, writing its dirty tiles (together)."""
        keep = max(1, self.cache_tiles - max(1, self.cache_tiles // 4))
        dirty = []
        while len(self._cache) > keep:
            old, old_pixels = self._cache.popitem(last=False)
            if old in self._dirty:
                dirty.append((old, old_pixels))
                self._dirty.discard(old)
        self._save_many(dirty)

    # Tiles are compressed and written, or read and inflated, by a few threads at once: zlib,
    # hashlib and file I/O release the GIL, so this overlaps both cores and the disk's latency.

    def _workers(self):
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="pxos-tiles")
        return self._pool

    def _save_many(self, tiles: "list[tuple[Tile, np.ndarray]]") -> None:
        if tiles and not (self.root / "map.json").exists():
            atomic_write(self.root / "map.json", json.dumps(
                {"format": MAP_FORMAT, "version": 1, "tile_size": self.tile_size}).encode())
        if len(tiles) <= 1:
            for tile, pixels in tiles:
                self._save(tile, pixels)
            return
        for _ in self._workers().map(lambda item: self._save(*item), tiles):
            pass

    def _load_many(self, tiles: list[Tile]) -> "dict[Tile, np.ndarray]":
        """Tiles of a read that are on disk but not cached, loaded together (not cached: a big read
        would only push out everything else)."""
        wanted = [t for t in tiles if t not in self._cache and t in self._on_disk]
        if len(wanted) <= 1:
            return {}
        return dict(zip(wanted, self._workers().map(self._load, wanted)))

    def _load(self, tile: Tile) -> "np.ndarray":
        path = self.tile_path(tile)
        try:
            data, meta = container.read_container(path)
        except FormatError as exc:
            raise type(exc)(f"infinitemap tile {tile}: {exc}") from None
        size = self.tile_size
        if meta.get("kind") != TILE_KIND or meta.get("tile") != list(tile) or meta.get("tile_size") != size \
                or len(data) != size * size * 3:
            raise FormatError(f"infinitemap tile {tile}: {path} is not the {size}x{size} tile {tile} of this map")
        return self._np.frombuffer(data, self._np.uint8).reshape(size, size, 3).copy()

    def _save(self, tile: Tile, pixels: "np.ndarray") -> None:
        if tile not in self._on_disk and not pixels.any():
            return  # still black: a tile that does not exist says the same, with no file
        with atomic_writer(self.tile_path(tile), fsync=self.fsync) as out:
            container.write_container(out, pixels.tobytes(), kind=TILE_KIND, level=self.level, strategy=self.strategy,
                                      width=self.tile_size, meta={"tile": list(tile), "tile_size": self.tile_size})
        self._on_disk.add(tile)
