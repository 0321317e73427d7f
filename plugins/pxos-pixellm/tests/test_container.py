"""Model containers: valid PNGs, round trips, and every way a file can disagree with itself."""

from __future__ import annotations

import numpy as np
import pytest

from pixellm_testmodels import TINY
from pxos_kernel import FormatError, IntegrityError
from pxos_kernel.container import read_container, write_container
from pxos_pixellm.container import load_model, save_model


def rewrite(path, edit_meta=None, edit_payload=None):
    """Re-save a container with edited metadata/payload (checksums recomputed, so only our checks can object)."""
    payload, meta = read_container(path)
    meta = {k: v for k, v in meta.items() if k not in ("format", "version", "kind", "length", "sha256",
                                                        "width", "height")}
    if edit_meta:
        edit_meta(meta)
    if edit_payload:
        payload = edit_payload(bytearray(payload))
    write_container(path, bytes(payload), kind="model", meta=meta)


def test_container_is_a_png_that_pillow_opens(tiny_model_path):
    Image = pytest.importorskip("PIL.Image")
    with Image.open(tiny_model_path) as image:
        image.load()
        assert image.format == "PNG" and image.mode == "RGB"


def test_container_passes_pngcheck(tiny_model_path):
    import subprocess

    from pxos_kernel.testing import require_system_package

    pngcheck = require_system_package("pngcheck", "pngcheck")
    result = subprocess.run([pngcheck, str(tiny_model_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("encoding", ["fp32", "fp16", "bf16", "int8", "uint8"])
def test_round_trip_keeps_config_directory_and_values(tmp_path, tiny_tensors, encoding):
    path = tmp_path / f"m-{encoding}.pxi"
    save_model(path, TINY, tiny_tensors, encoding=encoding)
    loaded = load_model(path)
    assert loaded.config == TINY
    assert {e["name"] for e in loaded.directory} == set(tiny_tensors)
    tolerance = {"fp32": 0, "fp16": 2e-3, "bf16": 1e-2, "int8": 2e-2, "uint8": 2e-2}[encoding]
    for name, values in tiny_tensors.items():
        np.testing.assert_allclose(loaded.tensors[name], values, atol=tolerance * max(1, np.abs(values).max()))
    quantized = {e["encoding"] for e in loaded.directory if len(e["shape"]) == 2}
    assert quantized == {encoding}


def test_directory_pointing_past_the_payload_is_an_error(tiny_model_path):
    def stretch(meta):
        meta["tensors"][-1]["offset"] += 10_000_000

    rewrite(tiny_model_path, edit_meta=stretch)
    with pytest.raises(FormatError, match="payload has only"):
        load_model(tiny_model_path)


def test_directory_length_not_matching_the_shape_is_an_error(tiny_model_path):
    def shorten(meta):
        meta["tensors"][0]["length"] -= 4

    rewrite(tiny_model_path, edit_meta=shorten)
    with pytest.raises(FormatError, match="needs"):
        load_model(tiny_model_path)


def test_wrong_shape_for_the_config_is_an_error(tiny_model_path):
    def transpose(meta):
        entry = next(e for e in meta["tensors"] if e["name"].endswith("mlp.down_proj.weight"))
        entry["shape"] = entry["shape"][::-1]

    rewrite(tiny_model_path, edit_meta=transpose)
    with pytest.raises(FormatError, match="down_proj.weight has shape"):
        load_model(tiny_model_path)


def test_nan_in_an_int8_scale_is_an_error(tmp_path, tiny_tensors):
    path = tmp_path / "q.pxi"
    meta = save_model(path, TINY, tiny_tensors, encoding="int8")
    entry = next(e for e in meta["tensors"] if e["encoding"] == "int8")
    at = entry["offset"] + entry["scales"]["offset"]

    def poison(payload):
        payload[at:at + 2] = np.array([np.nan], dtype="<f2").tobytes()
        return payload

    rewrite(path, edit_payload=poison)
    with pytest.raises(IntegrityError, match=f"{entry['name']}: scale of block 0"):
        load_model(path)


def test_missing_tensor_is_an_error(tiny_model_path):
    def drop(meta):
        meta["tensors"] = [e for e in meta["tensors"] if e["name"] != "model.norm.weight"]

    rewrite(tiny_model_path, edit_meta=drop)
    with pytest.raises(FormatError, match="model.norm.weight is missing"):
        load_model(tiny_model_path)


def test_a_container_of_another_kind_is_not_a_model(tmp_path):
    path = tmp_path / "blob.pxi"
    write_container(path, b"hello", kind="blob")
    with pytest.raises(FormatError, match="not a model"):
        load_model(path)


def test_unsupported_architecture_in_the_config_is_an_error(tiny_model_path):
    def other(meta):
        meta["config"]["architecture"] = "gpt2"

    rewrite(tiny_model_path, edit_meta=other)
    with pytest.raises(FormatError, match="unsupported architecture 'gpt2'"):
        load_model(tiny_model_path)


@pytest.mark.parametrize("verify", [True, False])
def test_corrupted_pixels_are_caught_with_or_without_the_sha256(tiny_model_path, verify):
    import struct
    import zlib

    from pxos_kernel import PxosError

    data = bytearray(tiny_model_path.read_bytes())
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    body = at + 8
    data[body + length // 2] ^= 0x55  # a stored-block payload byte: the deflate stream stays well formed
    crc = zlib.crc32(bytes(data[at + 4: body + length]))
    data[body + length: body + length + 4] = struct.pack(">I", crc)  # a valid chunk, so only the payload checks can object
    tiny_model_path.write_bytes(bytes(data))
    with pytest.raises(PxosError):
        load_model(tiny_model_path, verify=verify)


@pytest.mark.parametrize("where,fix_crc,problem", [
    ("payload", False, "CRC error in its IDAT chunk"),
    ("payload", True, "incorrect data check"),         # the chunk CRC made to match: zlib's Adler-32 objects
    ("directory", False, "CRC error in its iTXt chunk"),
])
def test_the_engine_path_catches_a_flipped_byte(tiny_model_path, where, fix_crc, problem):
    """What PixelEngine.load reads (open_model without the sha256, the stored-block fast path) still checks
    every byte: a payload byte or a tensor directory byte flipped is one FormatError naming the file."""
    import struct
    import zlib

    from pxos_pixellm.container import open_model

    data = bytearray(tiny_model_path.read_bytes())
    kind = b"IDAT" if where == "payload" else b"iTXt"
    at = data.index(kind) - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    body = at + 8
    flip = body + length // 2 if where == "payload" else data.index(b'"tensors"', body) + 3
    data[flip] ^= 0x55
    if fix_crc:
        data[body + length: body + length + 4] = struct.pack(">I", zlib.crc32(bytes(data[at + 4: body + length])))
    tiny_model_path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match=problem) as caught:
        open_model(tiny_model_path, verify=False)
    assert str(tiny_model_path) in str(caught.value)
