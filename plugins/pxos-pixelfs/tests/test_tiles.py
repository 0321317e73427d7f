"""The tile space: sparse, signed, vectorised, cached, persisted as PNG, and loud about damage."""

from __future__ import annotations

import builtins
import os

import numpy as np
import pytest

from pxos_kernel import ConfigError, FormatError, IntegrityError, StorageError, container

from pxos_pixelfs.tiles import TileSpace

from forge import fix_crcs


def noise(height, width, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_unwritten_space_is_black_without_touching_the_disk(tmp_path, monkeypatch):
    space = TileSpace(tmp_path, tile_size=16)
    space.write(0, 0, noise(4, 4))
    space.flush()

    def no_disk(*args, **kwargs):
        raise AssertionError(f"touched the disk: {args}")

    for name in ("open", ):
        monkeypatch.setattr(builtins, name, no_disk)
    for name in ("stat", "listdir", "scandir", "lstat"):
        monkeypatch.setattr(os, name, no_disk)
    region = space.read(-10_000, 5_000, 300, 200)
    monkeypatch.undo()
    assert region.shape == (200, 300, 3) and not region.any()


@pytest.mark.parametrize("x,y", [(0, 0), (-1, -1), (-37, 20), (250, -300), (-2**40, 2**40)])
def test_regions_round_trip_across_tile_boundaries(tmp_path, x, y):
    pixels = noise(70, 90, seed=abs(x) % 97)
    with TileSpace(tmp_path, tile_size=32, cache_tiles=3) as space:  # a tiny cache: evictions mid-write
        space.write(x, y, pixels)
        assert np.array_equal(space.read(x, y, 90, 70), pixels)
    reopened = TileSpace(tmp_path)
    assert reopened.tile_size == 32
    assert np.array_equal(reopened.read(x, y, 90, 70), pixels)
    around = reopened.read(x - 5, y - 5, 100, 80)
    assert np.array_equal(around[5:75, 5:95], pixels) and not around[:5].any() and not around[:, :5].any()


def test_negative_coordinates_map_to_negative_tiles(tmp_path):
    with TileSpace(tmp_path, tile_size=10) as space:
        space.write(-1, -1, np.full((1, 1, 3), 9, np.uint8))
        space.write(-10, 0, np.full((1, 1, 3), 9, np.uint8))
        space.write(-11, 0, np.full((1, 1, 3), 9, np.uint8))
    assert space.tiles_on_disk() == {(-1, -1), (-1, 0), (-2, 0)}
    assert sorted(p.name for p in (tmp_path / "tiles").iterdir()) == ["-1_-1.png", "-1_0.png", "-2_0.png"]


def test_byte_streams_round_trip(tmp_path):
    data = os.urandom(100_001)
    with TileSpace(tmp_path, tile_size=64) as space:
        rows = space.write_bytes(-100, -50, 123, data)
        assert rows == -(-len(data) // (3 * 123))
        assert space.read_bytes(-100, -50, 123, 0, len(data)) == data
        for offset, length in [(0, 1), (368, 2), (369, 1), (50_000, 10_000), (100_000, 1)]:
            assert space.read_bytes(-100, -50, 123, offset, length) == data[offset:offset + length]


def test_tiles_are_real_pngs_of_the_tile_size(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    with TileSpace(tmp_path, tile_size=64) as space:
        space.write(3, 3, noise(10, 10))
    path = tmp_path / "tiles" / "0_0.png"
    meta = container.read_container_meta(path)
    assert meta["kind"] == "infinitemap-tile" and meta["tile"] == [0, 0]
    with pil.open(path) as image:
        assert image.size == (64, 64) and image.mode == "RGB"
        assert np.array_equal(np.asarray(image)[3:13, 3:13], noise(10, 10))
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob(".*.tmp"))


def test_pngcheck_accepts_tiles(tmp_path, pngcheck):
    import subprocess

    with TileSpace(tmp_path, tile_size=64) as space:
        space.write(-5, -5, noise(10, 10))
    for path in (tmp_path / "tiles").iterdir():
        done = subprocess.run([pngcheck, str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout


def test_lru_cache_writes_dirty_tiles_on_eviction(tmp_path):
    space = TileSpace(tmp_path, tile_size=8, cache_tiles=4)
    for i in range(7):
        space.write(8 * i, 0, np.full((8, 8, 3), i + 1, np.uint8))
    # the least recently used tiles were evicted, and so written, before any flush
    cached = set(space._cache)
    assert len(cached) <= 4 and space.tiles_on_disk() == {(i, 0) for i in range(7)} - cached
    assert (6, 0) in cached and (0, 0) not in cached
    space.close()
    assert space.tiles_on_disk() == {(i, 0) for i in range(7)}
    assert [int(TileSpace(tmp_path).read(8 * i, 0, 1, 1)[0, 0, 0]) for i in range(7)] == [1, 2, 3, 4, 5, 6, 7]


def test_context_manager_flushes(tmp_path):
    with TileSpace(tmp_path, tile_size=16) as space:
        space.write(0, 0, noise(16, 16))
        assert not (tmp_path / "tiles").exists()
    assert (tmp_path / "tiles" / "0_0.png").exists()


@pytest.mark.parametrize("damage,error", [
    (lambda b: b[:len(b) // 2], FormatError),                  # truncated
    (lambda b: b"not a png at all", FormatError),              # replaced
    (lambda b: b[:60] + bytes([b[60] ^ 1]) + b[61:], FormatError),  # a flipped byte: CRC error
])
def test_damaged_tile_is_an_error_naming_it(tmp_path, damage, error):
    with TileSpace(tmp_path, tile_size=16) as space:
        space.write(-20, 40, noise(4, 4))
    path = tmp_path / "tiles" / "-2_2.png"
    damaged = damage(path.read_bytes())
    path.write_bytes(damaged)
    space = TileSpace(tmp_path)
    with pytest.raises(error, match=r"infinitemap tile \(-2, 2\)"):
        space.read(-20, 40, 4, 4)
    with pytest.raises(error):
        space.write(-20, 40, noise(1, 1))  # painting into it must not paper over the damage either
    space.close()
    assert path.read_bytes() == damaged  # never replaced by a blank tile


def test_tile_with_wrong_pixels_for_its_sha256(tmp_path):
    with TileSpace(tmp_path, tile_size=16) as space:
        space.write(0, 0, noise(16, 16))
    path = tmp_path / "tiles" / "0_0.png"
    data, meta = container.read_container(path)
    forged = {k: v for k, v in meta.items() if k not in container.RESERVED_KEYS}
    written = container.write_container(path, bytes(len(data)), kind=meta["kind"], meta=forged, width=16)
    text = path.read_bytes().replace(written["sha256"].encode(), meta["sha256"].encode())
    path.write_bytes(fix_crcs(text))
    with pytest.raises(IntegrityError, match=r"infinitemap tile \(0, 0\).*sha256"):
        TileSpace(tmp_path).read(0, 0, 1, 1)


def test_a_tile_under_another_name_is_refused(tmp_path):
    with TileSpace(tmp_path, tile_size=16) as space:
        space.write(0, 0, noise(16, 16))
    os.rename(tmp_path / "tiles" / "0_0.png", tmp_path / "tiles" / "5_5.png")
    with pytest.raises(FormatError, match=r"not the 16x16 tile \(5, 5\)"):
        TileSpace(tmp_path).read(80, 80, 1, 1)


def test_bad_regions_and_settings(tmp_path):
    space = TileSpace(tmp_path, tile_size=16)
    for bad in [np.zeros((2, 2), np.uint8), np.zeros((2, 2, 3), np.float32), np.zeros((2, 2, 4), np.uint8), [[1]]]:
        with pytest.raises(StorageError, match="uint8 array"):
            space.write(0, 0, bad)
    with pytest.raises(StorageError, match="negative size"):
        space.read(0, 0, -1, 5)
    with pytest.raises(StorageError, match="integers"):
        space.read(0.5, 0, 1, 1)
    with pytest.raises(ConfigError, match="cache"):
        TileSpace(tmp_path, cache_tiles=0)
    space.write(0, 0, noise(1, 1))
    space.close()
    with pytest.raises(ConfigError, match="16x16 tiles"):
        TileSpace(tmp_path, tile_size=32)
    (tmp_path / "map.json").write_text("{broken")
    with pytest.raises(FormatError, match="map.json"):
        TileSpace(tmp_path)
    assert (tmp_path / "map.json").read_text() == "{broken"


def test_replacing_whole_tiles_does_not_read_them(tmp_path, monkeypatch):
    with TileSpace(tmp_path, tile_size=16) as space:
        space.write(0, 0, noise(32, 32))
    space = TileSpace(tmp_path, tile_size=16)
    monkeypatch.setattr(space, "_load", lambda tile: pytest.fail(f"read tile {tile} only to overwrite it"))
    fresh = noise(32, 32, seed=5)
    space.write(0, 0, fresh)
    monkeypatch.undo()
    space.close()
    assert np.array_equal(TileSpace(tmp_path).read(0, 0, 32, 32), fresh)
