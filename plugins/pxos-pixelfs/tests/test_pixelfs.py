"""pixelfs://: the Storage contract, options, previews, and every bad input of the issue."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from pxos_kernel import ConfigError, FormatError, IntegrityError, NotFoundError, StorageError, container
from pxos_kernel.testing import StorageConformance

from pxos_pixelfs.pixelfs import PixelFS

from forge import fix_crcs


class TestPixelFSConformance(StorageConformance):
    @pytest.fixture
    def storage(self, pixelfs):
        return pixelfs

    def corrupt(self, storage, key):
        path = storage.path(key)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF  # inside the image data
        path.write_bytes(bytes(data))


def test_objects_are_pxi_pngs_under_the_root(pixelfs):
    info = pixelfs.put("docs/readme", b"hello pixels", content_type="text/plain")
    path = pixelfs.root / "docs" / "readme.pxi"
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert info.content_type == "text/plain" and pixelfs.info("docs/readme") == info
    assert container.read_container(path) == (b"hello pixels", container.read_container_meta(path))


def test_same_bytes_same_file(tmp_path):
    one, two = PixelFS(tmp_path / "a"), PixelFS(tmp_path / "b")
    payload = os.urandom(10_000) + b"abc" * 10_000
    one.put("x", payload)
    two.put("x", io.BytesIO(payload))
    assert one.path("x").read_bytes() == two.path("x").read_bytes()


def test_compression_level_setting_is_honoured(tmp_path):
    payload = b"the same sentence, over and over. " * 30_000
    sizes = {}
    for level in (0, 1, 9):
        store = PixelFS.from_settings({"root": str(tmp_path / str(level)), "level": level})
        store.put("k", payload)
        sizes[level] = store.path("k").stat().st_size
        assert store.get("k") == payload
    assert sizes[0] > len(payload) > sizes[1] > sizes[9]


@pytest.mark.parametrize("settings,problem", [({"level": 10}, "level"), ({"level": "6"}, "level"),
                                              ({"width": 0}, "width"), ({"root": ""}, "root")])
def test_bad_settings(tmp_path, settings, problem):
    with pytest.raises(ConfigError, match=problem):
        PixelFS.from_settings({"root": str(tmp_path), **settings})


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "a/../b", ".hidden", "a\\b", "trail/"])
def test_bad_keys(pixelfs, key):
    with pytest.raises(StorageError, match="key"):
        pixelfs.put(key, b"x")


def test_missing_object(pixelfs):
    with pytest.raises(NotFoundError, match="pixelfs://nope"):
        pixelfs.copy_to("nope", io.BytesIO())
    with pytest.raises(NotFoundError):
        pixelfs.verify("nope")
    assert pixelfs.ls() == [] and not pixelfs.exists("nope")


def test_verify_reports_a_sha256_mismatch(pixelfs):
    pixelfs.put("k", b"original bytes")
    # rewrite the object as a valid container whose metadata claims another sha256
    forged = io.BytesIO()
    container.write_container(forged, b"tampered bytes", kind="blob")
    png = forged.getvalue().replace(hashlib.sha256(b"tampered bytes").hexdigest().encode(),
                                    hashlib.sha256(b"original bytes").hexdigest().encode())
    pixelfs.path("k").write_bytes(fix_crcs(png))
    with pytest.raises(IntegrityError, match="sha256"):
        pixelfs.verify("k")
    with pytest.raises(IntegrityError):
        pixelfs.get("k")
    with pytest.raises(IntegrityError):
        pixelfs.copy_to("k", io.BytesIO())


@pytest.mark.parametrize("content,problem", [
    (b"just some text", "not a PNG"),
    (b"", "not a PNG"),
])
def test_foreign_files_are_clear_errors(pixelfs, content, problem):
    path = pixelfs.root / "bad.pxi"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(FormatError, match=problem):
        pixelfs.get("bad")
    with pytest.raises(FormatError, match=r"bad\.pxi"):
        pixelfs.info("bad")


def test_truncated_object(pixelfs):
    pixelfs.put("k", os.urandom(50_000))
    path = pixelfs.path("k")
    path.write_bytes(path.read_bytes()[:-5000])
    with pytest.raises(FormatError, match="truncated"):
        pixelfs.verify("k")


def test_plain_png_is_refused(pixelfs):
    pil = pytest.importorskip("PIL.Image")
    path = pixelfs.root / "photo.pxi"
    path.parent.mkdir(parents=True)
    pil.new("RGB", (4, 4), (10, 20, 30)).save(path, format="PNG")
    with pytest.raises(FormatError, match="without pxos metadata"):
        pixelfs.get("photo")
    data, meta = container.read_container(path, plain=True)
    assert data == bytes([10, 20, 30]) * 16 and meta["kind"] == "pixels"


def test_failed_put_leaves_nothing_behind(pixelfs):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError("disk on fire")

    with pytest.raises(OSError):
        pixelfs.put("k", Broken())
    pixelfs.put("keep", b"old")
    with pytest.raises(container.ContainerOptionError):
        pixelfs.put("keep", b"new", content_type=float("nan"))  # type: ignore[arg-type]
    assert pixelfs.get("keep") == b"old"
    assert sorted(p.name for p in pixelfs.root.rglob("*")) == ["keep.pxi"]


@pytest.mark.parametrize("size,expect_scale", [(1, 512), (5000, 12), (3 * 2000 * 2000, 1)])
def test_show_writes_a_viewable_preview(pixelfs, tmp_path, size, expect_scale):
    pil = pytest.importorskip("PIL.Image")
    payload = bytes((i * 7) % 256 for i in range(size))
    pixelfs.put("k", payload)
    meta = pixelfs.show("k", tmp_path / "preview.png", width=512)
    assert meta["scale"] == expect_scale and meta["kind"] == "preview"
    with pil.open(tmp_path / "preview.png") as image:
        image.load()
        assert image.mode == "RGB" and 1 <= image.width <= 512
        source = container.read_container_meta(pixelfs.path("k"))
        if expect_scale > 1:  # the top-left source pixel is a scale x scale block
            first = tuple(payload[:3].ljust(3, b"\x00"))
            assert image.getpixel((0, 0)) == first == image.getpixel((expect_scale - 1, expect_scale - 1))
            assert image.width == source["width"] * expect_scale
        else:
            assert image.width == -(-source["width"] // meta["step"])


def test_decompression_bomb_is_refused_before_inflating(pixelfs):
    import struct
    import zlib

    # a 1 KB file declaring a 50000x50000 image whose data is a deflate stream of zeros
    bomb = [b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)], \
        [b"IDAT", zlib.compress(bytes(1_000_000), 9)], [b"IEND", b""]
    path = pixelfs.root / "bomb.pxi"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"".join(container._chunk(kind, data) for kind, data in bomb))
    with pytest.raises(FormatError, match="decompression bomb"):
        container.read_container(path, plain=True)
    with pytest.raises(FormatError):
        pixelfs.get("bomb")
