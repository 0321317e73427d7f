"""``infinitemap://KEY``: objects stored as pixels in a :class:`~pxos_pixelfs.tiles.TileSpace`.

How keys map onto the map
-------------------------
An object's bytes are laid out row by row (3 bytes a pixel, ``object_width``
pixels a row, default 1024, the last row zero padded) in a *band*: the rows
``y .. y+rows-1`` of the columns ``0 .. object_width-1``. Bands start on a
tile boundary and are allocated one after the other downwards from ``y = 0``,
so no two objects share a tile. ``ROOT/index.json`` records, for each key, its
band (``x``, ``y``, ``width``, ``rows``), ``length``, ``sha256`` and
``content_type``. Overwriting a key lays the new bytes out in a new band,
switches the index to it (an atomic rename), and only then deletes the old
band's tiles: a crash leaves either the old object or the new one.

The objects' zone is ``x`` in ``[0, object_width)``, ``y >= 0``; draw your
own pictures elsewhere (negative coordinates are free) or in another root.
Anything that paints over an object is caught by ``verify`` (sha256).

Several processes may share one store: puts take an exclusive lock on
``ROOT/.lock``, reads a shared one, and a process re-reads its tile cache
whenever the index's generation shows another process changed the map.

Settings (``storage.infinitemap``): ``root``, ``tile_size`` (default 256,
fixed when the map is created), ``cache_tiles`` (default 128), ``level``
and ``strategy`` (zlib settings of tiles, default 1 and "rle"), ``object_width`` (default 1024, a multiple
of the tile size) and ``fsync`` (default false: tiles are replaced atomically
but flushed to disk by the OS; the index is always fsynced).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Mapping, Optional, Union

from pxos_kernel import ConfigError, FormatError, IntegrityError, NotFoundError, ObjectInfo, atomic_write

from pxos_pixelfs.keys import check_key
from pxos_pixelfs.settings import int_setting, root_setting
from pxos_pixelfs.tiles import TileSpace

SCHEME = "infinitemap"
INDEX_FORMAT = "pxos-infinitemap-index"


class InfiniteMapStore:
    """Keys to byte streams laid out in bands of a tile space (meets :class:`pxos_kernel.interfaces.Storage`)."""

    def __init__(self, root: Union[str, os.PathLike], *, tile_size: Optional[int] = None, cache_tiles: int = 128,
                 level: int = 1, strategy: str = "rle", object_width: int = 1024, fsync: bool = False) -> None:
        self.root = Path(root)
        self.map = TileSpace(self.root, tile_size=tile_size, cache_tiles=cache_tiles, level=level, strategy=strategy,
                             fsync=fsync)
        if object_width % self.map.tile_size:
            raise ConfigError(f"storage.{SCHEME}.object_width {object_width} is not a multiple of the tile size "
                              f"{self.map.tile_size}")
        self.object_width = object_width
        self.index_path = self.root / "index.json"
        self._generation: Optional[int] = None
        self._index: dict = {}

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "InfiniteMapStore":
        fsync = settings.get("fsync", False)
        if not isinstance(fsync, bool):
            raise ConfigError(f"storage.{SCHEME}.fsync must be true or false, not {fsync!r}")
        return cls(root_setting(settings, SCHEME),
                   tile_size=int_setting(settings, SCHEME, "tile_size", None, 1, 4096),
                   cache_tiles=int_setting(settings, SCHEME, "cache_tiles", 128, 1, 1 << 20),
                   level=int_setting(settings, SCHEME, "level", 1, 0, 9),
                   strategy=settings.get("strategy", "rle"),
                   object_width=int_setting(settings, SCHEME, "object_width", 1024, 1, 1 << 20),
                   fsync=fsync)

    # -- the Storage protocol --------------------------------------------------------------------

    def put(self, key: str, data: Union[bytes, BinaryIO], *, content_type: Optional[str] = None) -> ObjectInfo:
        """Lay ``data`` out in a fresh band (streamed, a band of tile rows at a time), then index it."""
        check_key(SCHEME, key)
        width, size = self.object_width, self.map.tile_size
        chunk = size * width * 3  # one row of tiles
        with self._locked(exclusive=True):
            index = self._load_index()
            top = index["next_row"]
            digest, length, rows = hashlib.sha256(), 0, 0
            try:
                for block in _blocks(data, chunk):
                    digest.update(block)
                    length += len(block)
                    rows += self.map.write_bytes(0, top + rows, width, block)
                self.map.flush()
            except BaseException:
                self.map.remove(self._band_tiles(top, rows + size))  # nothing partially written stays
                raise
            old = index["objects"].get(key)
            entry = {"x": 0, "y": top, "width": width, "rows": rows, "length": length,
                     "sha256": digest.hexdigest(), "content_type": content_type}
            index["objects"][key] = entry
            index["next_row"] = top + -(-rows // size) * size
            self._save_index(index)
            if old is not None:
                self.map.remove(self._band_tiles(old["y"], old["rows"]))
        return _info(key, entry)

    def get(self, key: str, offset: int = 0, length: Optional[int] = None) -> bytes:
        """Bytes ``offset .. offset+length`` (reading only the tiles they lie in); whole reads check the sha256."""
        if offset == 0 and length is None:
            out = _Collect()
            self.copy_to(key, out)  # type: ignore[arg-type]  # copy_to only calls write()
            return b"".join(out.parts)
        with self._locked(exclusive=False):
            entry = self._entry(key)
            offset = max(0, offset)
            end = entry["length"] if length is None else min(entry["length"], offset + max(0, length))
            return self.map.read_bytes(entry["x"], entry["y"], entry["width"], offset, end - offset)

    def copy_to(self, key: str, out: BinaryIO) -> ObjectInfo:
        """Stream the object into ``out`` a row of tiles at a time; IntegrityError after the last on damage."""
        with self._locked(exclusive=False):
            entry = self._entry(key)
            chunk = self.map.tile_size * entry["width"] * 3
            digest = hashlib.sha256()
            for offset in range(0, entry["length"], chunk):
                block = self.map.read_bytes(entry["x"], entry["y"], entry["width"], offset,
                                            min(chunk, entry["length"] - offset))
                digest.update(block)
                out.write(block)
            if digest.hexdigest() != entry["sha256"]:
                raise IntegrityError(f"{SCHEME}://{key}: the pixels in rows {entry['y']}..{entry['y'] + entry['rows']} "
                                     f"do not match the recorded sha256 (the map was painted over or damaged)")
            return _info(key, entry)

    def info(self, key: str) -> ObjectInfo:
        with self._locked(exclusive=False):
            return _info(key, self._entry(key))

    def ls(self, prefix: str = "") -> list[ObjectInfo]:
        with self._locked(exclusive=False):
            objects = self._load_index()["objects"]
        return [_info(key, objects[key]) for key in sorted(objects) if key.startswith(prefix)]

    def verify(self, key: str) -> ObjectInfo:
        """Re-read the object's tiles from disk (not the cache) and check every tile's and the object's sha256."""
        with self._locked(exclusive=False):
            entry = self._entry(key)
            self.map.forget(self._band_tiles(entry["y"], entry["rows"]))
        return self.copy_to(key, _Discard())  # type: ignore[arg-type]  # copy_to only calls write()

    def exists(self, key: str) -> bool:
        with self._locked(exclusive=False):
            return check_key(SCHEME, key) in self._load_index()["objects"]

    def close(self) -> None:
        self.map.close()

    def show(self, key: str, output: Union[str, os.PathLike], *, width: int = 512) -> dict:
        """Write a viewable PNG of the object's band of the map to ``output`` (see :mod:`pxos_pixelfs.preview`)."""
        from pxos_pixelfs.preview import write_preview

        with self._locked(exclusive=False):
            entry = self._entry(key)
            size = self.map.tile_size
            rows = max(1, entry["rows"])
            blocks = (self.map.read(entry["x"], entry["y"] + top, entry["width"], min(size, rows - top))
                      for top in range(0, rows, size))
            return write_preview(blocks, entry["width"], rows, output, width=width,
                                 meta={"source": f"{SCHEME}://{key}", "source_sha256": entry["sha256"]})

    # -- inside -------------------------------------------------------------------------------------

    def _band_tiles(self, top: int, rows: int) -> list[tuple[int, int]]:
        size = self.map.tile_size
        columns = range(0, -(-self.object_width // size))
        return [(tx, ty) for ty in range(top // size, -(-(top + rows) // size)) for tx in columns]

    def _entry(self, key: str) -> dict:
        entry = self._load_index()["objects"].get(check_key(SCHEME, key))
        if entry is None:
            raise NotFoundError(f"{SCHEME}://{key}: no such object")
        return entry

    @contextmanager
    def _locked(self, *, exclusive: bool) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    def _load_index(self) -> dict:
        """The index on disk; when another process changed it since we last looked, our tile cache is dropped."""
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            index = {"format": INDEX_FORMAT, "version": 1, "generation": 0, "next_row": 0, "objects": {}}
        else:
            try:
                index = json.loads(raw)
                if index.get("format") != INDEX_FORMAT or index.get("version") != 1 \
                        or not isinstance(index.get("objects"), dict) or not isinstance(index.get("next_row"), int):
                    raise ValueError("not an infinitemap index of version 1")
            except (ValueError, AttributeError) as exc:
                raise FormatError(f"{self.index_path}: unreadable infinitemap index ({exc}); "
                                  "it is left untouched") from None
        if index["generation"] != self._generation:  # first look, or another process changed the map
            self.map.refresh()
        self._generation = index["generation"]  # type: ignore[assignment]  # an int, checked by its reader
        return index

    def _save_index(self, index: dict) -> None:
        index["generation"] += 1
        atomic_write(self.index_path, json.dumps(index, sort_keys=True, indent=1).encode("utf-8"))
        self._generation = index["generation"]


def _blocks(data: Union[bytes, BinaryIO], size: int) -> Iterator[bytes]:
    """``data`` in blocks of exactly ``size`` bytes (the last shorter), so each block is whole rows."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data).cast("B")
        for start in range(0, len(view), size):
            yield view[start:start + size]  # type: ignore[misc]  # a memoryview: no copy
        return
    while True:
        block = data.read(size)
        while block and len(block) < size:
            more = data.read(size - len(block))
            if not more:
                break
            block += more
        if not block:
            return
        yield block


def _info(key: str, entry: Mapping[str, Any]) -> ObjectInfo:
    return ObjectInfo(key=key, size=entry["length"], sha256=entry["sha256"], kind="blob",
                      content_type=entry.get("content_type"),
                      meta={name: entry[name] for name in ("x", "y", "width", "rows")})


class _Collect:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(data)
        return len(data)


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)
