"""Self-inspection (Genesis G9.2): the engine reads its model's tensor directory, statistics, hashes and pixels."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from pxos_kernel import IntegrityError, NotFoundError
from pxos_pixellm.container import open_model
from pxos_pixellm.engine import PixelEngine


def test_describe_self_reports_the_directory_statistics_and_hashes(tiny_model_path, tiny_tensors):
    report = PixelEngine({}).describe_self(str(tiny_model_path))
    assert report["verified"] and report["sha256"] == open_model(tiny_model_path).sha256
    assert report["file_sha256"] == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    assert [t["name"] for t in report["tensors"]] == [e.name for e in open_model(tiny_model_path).tensors]
    for entry in report["tensors"]:
        values = tiny_tensors[entry["name"]].astype(np.float64)
        assert entry["stats"]["count"] == values.size
        assert entry["stats"]["mean"] == pytest.approx(values.mean(), abs=1e-6)
        assert entry["stats"]["max"] == pytest.approx(values.max(), abs=1e-6)
    json.dumps(report)  # an agent gets it as JSON


def test_read_own_pixels_gives_the_png_pixels_holding_a_tensor(tiny_model_path, tiny_tensors):
    from PIL import Image

    own = PixelEngine({}).read_own_pixels("model.layers.1.mlp.up_proj.weight", str(tiny_model_path))
    image = np.asarray(Image.open(tiny_model_path).convert("RGB")).reshape(-1, 3)  # what any viewer decodes
    x, y = own["first_pixel"]
    start = y * own["image_width"] + x
    count = len(own["pixels"]) // 3
    assert own["pixels"] == image[start:start + count].tobytes()
    raw = own["pixels"][own["lead"]:own["lead"] + own["length"]]
    np.testing.assert_array_equal(np.frombuffer(raw, "<f4").reshape(own["shape"]),
                                  tiny_tensors["model.layers.1.mlp.up_proj.weight"])


def test_unknown_tensor_is_a_not_found_error(tiny_model_path):
    with pytest.raises(NotFoundError, match="no tensor 'nope'"):
        PixelEngine({}).read_own_pixels("nope", str(tiny_model_path))


def _with_recorded_sha256(png: bytes, sha256: str) -> bytes:
    """The PNG with the sha256 in its pxos metadata replaced (chunk CRC recomputed: a valid PNG)."""
    import struct
    import zlib

    out, at = bytearray(png[:8]), 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        if kind == b"iTXt" and data.startswith(b"pxos\0"):
            meta = json.loads(data[9:])
            data = data[:9] + json.dumps({**meta, "sha256": sha256}, sort_keys=True, separators=(",", ":")).encode()
        out += struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))
        at += 12 + length
    return bytes(out)


def test_describe_self_catches_pixels_changed_behind_the_hash(tiny_model_path, tmp_path):
    from pxos_kernel.container import read_container, write_container

    payload, meta = read_container(tiny_model_path)
    tampered = bytearray(payload)
    tampered[100] ^= 0xFF  # one weight byte re-encoded into a valid PNG: CRCs and Adler-32 all fine
    extra = {k: v for k, v in meta.items() if k in ("config", "tensors", "tokenizer", "info")}
    write_container(tmp_path / "re-encoded.pxi", bytes(tampered), kind="model", meta=extra)
    forged = tmp_path / "forged.pxi"
    forged.write_bytes(_with_recorded_sha256((tmp_path / "re-encoded.pxi").read_bytes(), meta["sha256"]))
    with pytest.raises(IntegrityError, match="does not match the recorded"):
        PixelEngine({}).describe_self(str(forged))


def test_the_shipped_model_inspects_itself_through_the_kernel(pxos_kernel):
    engine = pxos_kernel.engine("pixellm")
    report = engine.describe_self()
    assert report["model"] == "default" and report["tokenizer"]["kind"] == "bytes"
    first = report["tensors"][0]["name"]
    assert len(engine.read_own_pixels(first)["pixels"]) >= report["tensors"][0]["length"]


def test_model_inspect_writes_a_picture_per_tensor(pxos_cli, tiny_model_path, tmp_path):
    from PIL import Image

    out = tmp_path / "pictures"
    code, stdout, err = pxos_cli("model", "inspect", str(tiny_model_path), "--out", str(out), "--json",
                                 "--tensor", "model.norm.weight")
    assert code == 0, err
    report = json.loads(stdout)
    assert len(report["pictures"]) == len(report["tensors"])
    assert all(Image.open(p).size[0] > 0 for p in report["pictures"])
    assert report["own_pixels"]["tensor"] == "model.norm.weight"
    code, stdout, err = pxos_cli("model", "inspect", str(tiny_model_path), "--tensor", "model.norm.weight")
    assert code == 0 and "payload sha256" in stdout and "model.norm.weight: payload bytes" in stdout
