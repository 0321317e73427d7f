"""infinitemap://: the Storage contract on the tile space, and how keys are laid out on the map."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from pxos_kernel import ConfigError, FormatError, IntegrityError, NotFoundError, StorageError
from pxos_kernel.testing import StorageConformance

from pxos_pixelfs.infinitemap import InfiniteMapStore


@pytest.fixture
def store(tmp_path):
    store = InfiniteMapStore(tmp_path / "map", tile_size=64, object_width=256, cache_tiles=8)
    yield store
    store.close()


class TestInfiniteMapConformance(StorageConformance):
    @pytest.fixture
    def storage(self, store):
        return store

    def corrupt(self, storage, key):
        tile = storage._band_tiles(storage.info(key).meta["y"], 1)[0]
        path = storage.map.tile_path(tile)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))


def test_objects_are_bands_of_whole_tile_rows(store):
    a = store.put("a", os.urandom(256 * 3 * 70))   # 70 rows: two tile rows
    b = store.put("b", b"tiny")
    assert (a.meta["y"], a.meta["rows"]) == (0, 70)
    assert (b.meta["y"], b.meta["rows"]) == (128, 1)
    # "tiny" fills one pixel row of one tile; the black rest of its band is never written
    assert store.map.tiles_on_disk() == {(tx, ty) for tx in range(4) for ty in range(2)} | {(0, 2)}


def test_overwrite_frees_the_old_band(store):
    store.put("k", os.urandom(256 * 3 * 64))
    old_tiles = set(store.map.tiles_on_disk())
    info = store.put("k", b"replacement")
    assert store.get("k") == b"replacement" and info.meta["y"] == 64
    assert not (old_tiles & store.map.tiles_on_disk())


def test_streamed_put_and_ranged_reads_touch_only_their_tiles(store, monkeypatch):
    data = os.urandom(3_000_000)
    store.put("big", io.BytesIO(data))
    store.map.forget()
    loaded = []
    real = store.map._load
    monkeypatch.setattr(store.map, "_load", lambda tile: loaded.append(tile) or real(tile))
    assert store.get("big", 1_000_000, 100) == data[1_000_000:1_000_100]
    assert len(loaded) == 1
    assert store.get("big") == data


def test_map_pixels_and_byte_streams_agree(store):
    data = bytes(range(256)) * 3
    info = store.put("k", data)
    pixels = store.map.read(0, info.meta["y"], 256, info.meta["rows"])
    assert pixels.reshape(-1)[:len(data)].tobytes() == data


def test_painting_over_an_object_is_detected(store):
    store.put("k", os.urandom(10_000))
    store.map.write(5, 2, np.full((3, 3, 3), 7, np.uint8))
    with pytest.raises(IntegrityError, match=r"infinitemap://k.*sha256"):
        store.verify("k")


def test_two_processes_worth_of_stores_stay_coherent(tmp_path):
    one = InfiniteMapStore(tmp_path, tile_size=64, object_width=256)
    two = InfiniteMapStore(tmp_path, tile_size=64, object_width=256)
    one.put("k", b"first")
    assert two.get("k") == b"first"
    one.put("k", b"second and longer")
    one.put("other", b"x" * 5000)
    assert two.get("k") == b"second and longer" and [i.key for i in two.ls()] == ["k", "other"]


def test_failed_put_leaves_nothing_behind(store):
    class Breaks(io.RawIOBase):
        sent = 0

        def readable(self):
            return True

        def readinto(self, buffer):
            if self.sent > 200_000:
                raise OSError("source vanished")
            self.sent += len(buffer)
            buffer[:] = b"\x01" * len(buffer)
            return len(buffer)

    store.put("keep", b"kept")
    before = store.map.tiles_on_disk()
    with pytest.raises(OSError, match="vanished"):
        store.put("k", io.BufferedReader(Breaks(), buffer_size=65536))
    assert store.map.tiles_on_disk() == before and not store.exists("k")
    assert store.get("keep") == b"kept"


def test_damaged_index_is_an_error_and_is_kept(store):
    store.put("k", b"data")
    store.index_path.write_text("{not json")
    with pytest.raises(FormatError, match="index.json"):
        store.ls()
    with pytest.raises(FormatError):
        store.put("j", b"more")
    assert store.index_path.read_text() == "{not json"


def test_missing_and_bad_keys(store):
    with pytest.raises(NotFoundError, match="infinitemap://nope"):
        store.get("nope", 0, 3)
    with pytest.raises(StorageError, match="key"):
        store.put("../x", b"")


@pytest.mark.parametrize("settings,problem", [({"object_width": 100}, "multiple"), ({"level": 11}, "level"),
                                              ({"fsync": "yes"}, "fsync"), ({"cache_tiles": 0}, "cache_tiles"),
                                              ({"strategy": "lz4"}, "strategy")])
def test_bad_settings(tmp_path, settings, problem):
    with pytest.raises(ConfigError, match=problem):
        InfiniteMapStore.from_settings({"root": str(tmp_path), **settings})


def test_show_draws_the_band(store, tmp_path):
    pil = pytest.importorskip("PIL.Image")
    data = bytes([200, 10, 30]) * 256 * 3  # three rows of one colour
    store.put("k", data)
    meta = store.show("k", tmp_path / "band.png", width=128)
    assert meta["kind"] == "preview" and meta["step"] == 2 and meta["source"] == "infinitemap://k"
    with pil.open(tmp_path / "band.png") as image:
        assert image.size == (128, 2) and image.getpixel((5, 1)) == (200, 10, 30)
