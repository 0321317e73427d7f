"""Malformed files get one line naming the file and the problem, and are left as they were."""

from __future__ import annotations

import struct
import zlib

import pytest

from pxos_kernel import FormatError
from pxos_kernel.container import read_container, read_container_meta, write_container


def _with_metadata_text(png: bytes, text: bytes) -> bytes:
    """``png`` with its pxos iTXt chunk's JSON replaced by ``text`` (length and CRC fixed)."""
    at = 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        body = png[at + 8:at + 8 + length]
        if kind == b"iTXt" and body.startswith(b"pxos\0"):
            header = body[:body.index(b"\0", body.index(b"\0", 7) + 1) + 1]  # keyword, flags, language, key
            new = header + text
            chunk = struct.pack(">I4s", len(new), kind) + new + struct.pack(">I", zlib.crc32(kind + new))
            return png[:at] + chunk + png[at + 12 + length:]
        at += 12 + length
    raise AssertionError("no pxos metadata chunk")


def test_deeply_nested_container_metadata_is_one_line_and_the_file_is_kept(tmp_path):
    path = tmp_path / "deep.png"
    write_container(path, b"payload", kind="blob")
    hostile = _with_metadata_text(path.read_bytes(), b'{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    path.write_bytes(hostile)
    for reader in (read_container, read_container_meta):
        with pytest.raises(FormatError) as info:
            reader(path)
        assert str(info.value).endswith("has pxos metadata nested too deeply to read")
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == hostile


@pytest.mark.parametrize("tail", ['{"type":"X","hash":"abc"}', '{"seq":"4","hash":"abc"}', '{"seq":4}', '[4]'])
def test_a_tail_record_without_seq_or_hash_is_one_line_and_the_ledger_is_kept(pxos_cli, pxos_home, tail):
    assert pxos_cli("run", "hello")[0] == 0
    path = pxos_home / "ledger" / "ledger.jsonl"
    with open(path, "a") as stream:
        stream.write(tail + "\n")
    before = path.read_bytes()
    code, out, err = pxos_cli("run", "hello")
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith(f"pxos-kernel: error: ledger {path}: its last record ") and "nothing can be appended" in err
    assert path.read_bytes() == before
