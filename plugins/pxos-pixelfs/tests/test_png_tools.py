"""Independent tools accept our PNGs: Debian's pngcheck and Pillow, including a Pillow re-save."""

from __future__ import annotations

import io
import os
import subprocess
import zlib

import pytest

from pxos_kernel import container

PAYLOADS = {"empty": b"", "one": b"x", "odd": b"ab" * 1001, "random": os.urandom(3 * 1024 * 1024 + 1),
            "text": b"pxOS keeps bytes in pixels.\n" * 50_000}


@pytest.mark.parametrize("name", PAYLOADS)
def test_pngcheck_accepts_containers(tmp_path, pngcheck, name):
    path = tmp_path / f"{name}.pxi"
    container.write_container(path, PAYLOADS[name], kind="blob", meta={"content_type": "application/x-test"})
    done = subprocess.run([pngcheck, "-v", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No errors detected" in done.stdout and "iTXt" in done.stdout


def test_pngcheck_rejects_a_damaged_container(tmp_path, pngcheck):
    path = tmp_path / "bad.pxi"
    container.write_container(path, os.urandom(5000), kind="blob")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    assert subprocess.run([pngcheck, str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("name", PAYLOADS)
def test_pillow_sees_the_payload_as_pixels(tmp_path, name):
    image_module = pytest.importorskip("PIL.Image")
    path = tmp_path / "x.pxi"
    meta = container.write_container(path, PAYLOADS[name], kind="blob")
    with image_module.open(path) as image:
        image.load()
        assert image.mode == "RGB" and image.size == (meta["width"], meta["height"])
        assert image.tobytes()[:meta["length"]] == PAYLOADS[name]
        assert "pxos" in image.text


def _filter_types(png: bytes) -> set[int]:
    parts, pos = [], 8
    width = int.from_bytes(png[16:20], "big")
    while pos < len(png):
        length = int.from_bytes(png[pos:pos + 4], "big")
        if png[pos + 4:pos + 8] == b"IDAT":
            parts.append(png[pos + 8:pos + 8 + length])
        pos += 12 + length
    stream = zlib.decompress(b"".join(parts))
    return set(stream[::3 * width + 1])


@pytest.mark.parametrize("name", ["odd", "text", "random"])
def test_pillow_resave_with_other_filters_reads_back_identical(tmp_path, name, monkeypatch):
    image_module = pytest.importorskip("PIL.Image")
    png_plugin = pytest.importorskip("PIL.PngImagePlugin")
    path = tmp_path / "x.pxi"
    meta = container.write_container(path, PAYLOADS[name], kind="blob")
    with image_module.open(path) as image:
        info = png_plugin.PngInfo()
        info.add_itxt("pxos", image.text["pxos"])  # keep our metadata, as a careful tool would
        resaved = io.BytesIO()
        image.save(resaved, format="PNG", pnginfo=info, compress_level=9)
    png = resaved.getvalue()
    assert png != path.read_bytes()
    assert _filter_types(png) - {0}, "Pillow stored every row unfiltered: this test would prove nothing"
    for use_numpy in (True, False):
        monkeypatch.setattr(container, "USE_NUMPY", use_numpy)
        assert container.read_container(io.BytesIO(png)) == (PAYLOADS[name], meta)
