"""The pixel container codec: round trips, PNG structure, foreign filters, and every bad input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib

import pytest

from pxos_kernel import container
from pxos_kernel.container import (
    ContainerOptionError,
    iter_payload,
    read_container,
    read_container_meta,
    read_range,
    write_container,
)
from pxos_kernel.errors import FormatError, IntegrityError


# -- helpers: take PNGs apart and put them back together ------------------------------------


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """``[(type, data), ...]`` of a PNG, checking nothing."""
    out, pos = [], 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        out.append((kind, png[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return out


def build(parts: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(container._chunk(kind, data) for kind, data in parts)


def ihdr(width: int, height: int, depth: int = 8, color: int = 2, interlace: int = 0) -> tuple[bytes, bytes]:
    return b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)


def pxos_text(meta: dict) -> tuple[bytes, bytes]:
    return b"iTXt", b"pxos\x00\x00\x00\x00\x00" + json.dumps(meta).encode()


def idat_stream(png: bytes) -> bytes:
    return zlib.decompress(b"".join(data for kind, data in chunks(png) if kind == b"IDAT"))


def replace_meta(png: bytes, **changes) -> bytes:
    parts = chunks(png)
    for i, (kind, data) in enumerate(parts):
        if kind == b"iTXt":
            meta = json.loads(data.split(b"\x00", 5)[-1])
            parts[i] = pxos_text({**meta, **changes})
    return build(parts)


def make(payload: bytes, **options) -> bytes:
    out = io.BytesIO()
    write_container(out, payload, kind=options.pop("kind", "blob"), **options)
    return out.getvalue()


class NonSeekable(io.RawIOBase):
    """A pipe-like binary stream that hands out at most 777 bytes a read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        piece = self._data.read(min(len(buffer), 777))
        buffer[:len(piece)] = piece
        return len(piece)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 6, 7, 299, 300, 301, 100_003])
def test_round_trip_sizes(size):
    payload = os.urandom(size)
    png = make(payload)
    data, meta = read_container(io.BytesIO(png))
    assert data == payload
    assert meta["length"] == size and meta["sha256"] == hashlib.sha256(payload).hexdigest()
    assert meta["format"] == "pxos-container" and meta["version"] == 1 and meta["kind"] == "blob"


@pytest.mark.parametrize("width", [1, 2, 7, 1000])
def test_round_trip_with_explicit_width(width):
    payload = bytes(range(256)) * 37
    png = make(payload, width=width)
    data, meta = read_container(io.BytesIO(png))
    assert data == payload and meta["width"] == width
    assert struct.unpack(">II", chunks(png)[0][1][:8]) == (width, -(-len(payload) // (3 * width)))


def test_meta_keys_are_kept_and_paths_work(tmp_path):
    target = tmp_path / "sub" / "x.pxi"
    written = write_container(target, b"payload", kind="archive", meta={"members": [{"path": "a"}]})
    assert written["members"] == [{"path": "a"}]
    assert read_container_meta(target) == written
    assert read_container(str(target)) == (b"payload", written)
    assert [p.name for p in target.parent.iterdir()] == ["x.pxi"]  # no temporary file left behind


def test_deterministic_across_sources():
    payload = os.urandom(50_000) + b"text " * 100_000
    from_bytes = make(payload)
    assert make(payload) == from_bytes
    assert make(io.BytesIO(payload)) == from_bytes
    assert make(NonSeekable(payload)) == from_bytes


def test_file_source_is_read_from_its_position():
    stream = io.BytesIO(b"skipped|kept")
    stream.seek(8)
    assert read_container(io.BytesIO(make(stream)))[0] == b"kept"


def test_compression_level_is_honoured():
    payload = b"pxOS stores bytes as pixels. " * 20_000
    sizes = {level: len(make(payload, level=level)) for level in (0, 1, 9)}
    assert sizes[0] > len(payload) > sizes[1] >= sizes[9]
    for level in range(10):
        assert read_container(io.BytesIO(make(payload, level=level)))[0] == payload


@pytest.mark.parametrize("strategy", ["default", "filtered", "huffman", "rle"])
def test_strategies_round_trip_and_differ(strategy):
    payload = bytes(range(200)) * 500 + b"\x00" * 10_000
    png = make(payload, strategy=strategy, level=6)
    assert read_container(io.BytesIO(png))[0] == payload
    if strategy in ("huffman", "rle"):  # they really change how deflate works
        assert png != make(payload, level=6)


def test_png_structure():
    payload = os.urandom(3 * 1024 * 1024 + 5)  # incompressible: several IDAT chunks
    png = make(payload)
    kinds = [kind for kind, _ in chunks(png)]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert kinds[:2] == [b"IHDR", b"iTXt"] and kinds[-1] == b"IEND"
    assert kinds.count(b"IDAT") >= 3 and set(kinds[2:-1]) == {b"IDAT"}
    width, height, depth, color = struct.unpack(">IIBB", chunks(png)[0][1][:10])
    assert (depth, color) == (8, 2)
    stream = idat_stream(png)
    stride = 3 * width + 1
    assert len(stream) == height * stride
    assert set(stream[0::stride]) == {0}  # every row stored with filter type 0
    pixels = b"".join(stream[r * stride + 1:(r + 1) * stride] for r in range(height))
    assert pixels[:len(payload)] == payload and set(pixels[len(payload):]) <= {0}


def test_iter_payload_streams_in_blocks():
    payload = os.urandom(5 * container.BLOCK + 17)
    blocks = list(iter_payload(io.BytesIO(make(payload, width=1000))))
    assert len(blocks) > 4 and max(map(len, blocks)) <= container.BLOCK
    assert b"".join(blocks) == payload


@pytest.mark.parametrize("offset,length", [(0, 0), (0, 1), (1, 2), (2999, 2), (3000, None), (4_000_000, 10),
                                           (4_500_000, 10**9), (5_000_000, 5), (123, None)])
def test_read_range(offset, length):
    payload = os.urandom(4_500_000)
    png = make(payload, width=700)
    end = None if length is None else offset + length
    assert read_range(io.BytesIO(png), offset, length) == payload[offset:end]


def test_read_range_inflates_only_up_to_the_range_end():
    payload = os.urandom(4 * container.IDAT_CHUNK)
    png = make(payload)
    parts = chunks(png)
    last_idat = max(i for i, (kind, _) in enumerate(parts) if kind == b"IDAT")
    parts[last_idat] = (b"IDAT", b"\xff" * len(parts[last_idat][1]))  # damage the end of the image
    damaged = build(parts)
    assert read_range(io.BytesIO(damaged), 10, 1000) == payload[10:1010]
    with pytest.raises(FormatError):
        read_container(io.BytesIO(damaged))


def test_metadata_is_read_without_inflating():
    png = make(os.urandom(10_000))
    parts = chunks(png)
    parts = [(k, b"not zlib at all" if k == b"IDAT" else d) for k, d in parts]
    broken = build(parts)
    assert read_container_meta(io.BytesIO(broken))["length"] == 10_000
    with pytest.raises(FormatError, match="corrupt compressed image data"):
        read_container(io.BytesIO(broken))


def test_metadata_after_the_image_data_is_found():
    payload = b"moved by another tool"
    parts = chunks(make(payload))
    text = parts.pop(1)
    parts.insert(len(parts) - 1, text)
    moved = build(parts)
    assert read_container_meta(io.BytesIO(moved))["length"] == len(payload)
    assert read_container(io.BytesIO(moved))[0] == payload


# -- other tools' filters ------------------------------------------------------------------------


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_row(kind: int, row: bytes, prior: bytes) -> bytes:
    """The PNG spec's filters, written out plainly as the reference."""
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - 3] if i >= 3 else 0
        b = prior[i]
        c = prior[i - 3] if i >= 3 else 0
        predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
        out.append((x - predictor) & 0xFF)
    return bytes(out)


def refiltered(png: bytes, kinds: list[int]) -> bytes:
    """``png`` with its rows re-filtered with ``kinds`` (cycled), like another encoder would."""
    parts = chunks(png)
    width = struct.unpack(">I", parts[0][1][:4])[0]
    stride = 3 * width + 1
    stream = idat_stream(png)
    rows = [stream[r + 1:r + stride] for r in range(0, len(stream), stride)]
    prior, out = bytes(stride - 1), bytearray()
    for index, row in enumerate(rows):
        kind = kinds[index % len(kinds)]
        out += bytes([kind]) + filter_row(kind, row, prior)
        prior = row
    idats = [(b"IDAT", zlib.compress(bytes(out), 9))]
    return build([p for p in parts if p[0] != b"IDAT"][:-1] + idats + [parts[-1]])


@pytest.fixture(params=["python", "numpy"])
def unfilter_path(request, monkeypatch):
    if request.param == "numpy":
        pytest.importorskip("numpy")
    monkeypatch.setattr(container, "USE_NUMPY", request.param == "numpy")
    return request.param


@pytest.mark.parametrize("kinds", [[1], [2], [3], [4], [0, 1, 2, 3, 4], [4, 3, 2, 1]])
def test_foreign_filters_read_back_identical(kinds, unfilter_path):
    payload = os.urandom(3000) + bytes(range(256)) * 20 + b"\xff" * 999
    png = refiltered(make(payload, width=37), kinds)
    assert read_container(io.BytesIO(png)) == (payload, read_container_meta(io.BytesIO(png)))


def test_pillow_reads_the_pixels():
    image_module = pytest.importorskip("PIL.Image")
    payload = os.urandom(10_000)
    image = image_module.open(io.BytesIO(make(payload)))
    assert image.mode == "RGB"
    assert image.tobytes()[:len(payload)] == payload


# -- bad input -------------------------------------------------------------------------------------


def test_not_a_png(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello, I am text\n" * 10)
    with pytest.raises(FormatError, match=r"notes\.txt: is not a PNG file"):
        read_container(path)
    path.write_bytes(b"")
    with pytest.raises(FormatError, match="is not a PNG"):
        read_container_meta(path)
    with pytest.raises(FormatError, match="no such file"):
        read_container(tmp_path / "missing.pxi")


def test_every_truncation_is_an_error():
    png = make(os.urandom(2000) + b"a" * 2000)
    for cut in list(range(1, 80)) + list(range(80, len(png), 97)) + [len(png) - 1]:
        with pytest.raises(FormatError):
            read_container(io.BytesIO(png[:cut]))


def test_damaged_bytes_are_crc_errors():
    png = bytearray(make(os.urandom(2000)))
    png[-40] ^= 0x01  # inside the last IDAT
    with pytest.raises(FormatError, match="CRC error in its IDAT chunk"):
        read_container(io.BytesIO(bytes(png)))


def test_plain_png_needs_the_explicit_option():
    width, height = 3, 2
    rows = b"".join(b"\x00" + bytes(range(r * 9, r * 9 + 9)) for r in range(height))
    png = build([ihdr(width, height), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")])
    with pytest.raises(FormatError, match="without pxos metadata"):
        read_container(io.BytesIO(png))
    with pytest.raises(FormatError, match="without pxos metadata"):
        read_container_meta(io.BytesIO(png))
    data, meta = read_container(io.BytesIO(png), plain=True)
    assert data == bytes(range(18)) and meta["kind"] == "pixels" and meta["length"] == 18


def test_sha256_mismatch():
    png = replace_meta(make(b"the real payload"), sha256="0" * 64)
    with pytest.raises(IntegrityError, match="sha256"):
        read_container(io.BytesIO(png))
    assert read_container(io.BytesIO(png), verify=False)[0] == b"the real payload"


def test_nonzero_padding_is_refused():
    png = make(b"abcd", width=2)  # 2 bytes of padding
    parts = chunks(png)
    parts = [(k, zlib.compress(b"\x00abcdXY") if k == b"IDAT" else d) for k, d in parts]
    with pytest.raises(IntegrityError, match="padding"):
        read_container(io.BytesIO(build(parts)))


def test_decompression_bomb_huge_declared_size():
    bomb = build([ihdr(100_000, 100_000), (b"IDAT", zlib.compress(b"\x00" * 1000)), (b"IEND", b"")])
    with pytest.raises(FormatError, match="decompression bomb"):
        read_container(io.BytesIO(bomb), plain=True)


def test_decompression_bomb_more_than_the_file_can_hold():
    bomb = build([ihdr(20_000, 20_000), (b"IDAT", zlib.compress(b"\x00" * 1000)), (b"IEND", b"")])
    with pytest.raises(FormatError, match="cannot hold"):
        read_container(io.BytesIO(bomb), plain=True)
    with pytest.raises(FormatError, match="decompression bomb"):
        read_container(io.BytesIO(bomb), plain=True, max_pixels=1000)


def test_metadata_must_match_the_image_size():
    png = replace_meta(make(b"x" * 30, width=2), length=10**9)
    with pytest.raises(FormatError, match="does not match"):
        read_container(io.BytesIO(png))


def test_more_image_data_than_declared():
    png = make(b"abcdef", width=2)
    parts = [(k, zlib.compress(b"\x00abcdef" * 5) if k == b"IDAT" else d) for k, d in chunks(png)]
    with pytest.raises(FormatError, match="more image data"):
        read_container(io.BytesIO(build(parts)))


@pytest.mark.parametrize("header,problem", [
    (ihdr(4, 4, depth=16), "not an 8-bit RGB"),
    (ihdr(4, 4, color=6), "not an 8-bit RGB"),
    (ihdr(4, 4, interlace=1), "interlaced"),
    (ihdr(0, 4), "invalid size"),
])
def test_unsupported_headers(header, problem):
    png = build([header, pxos_text({}), (b"IDAT", zlib.compress(b"")), (b"IEND", b"")])
    with pytest.raises(FormatError, match=problem):
        read_container(io.BytesIO(png))


def test_unknown_filter_type():
    rows = b"\x07" + bytes(6)
    png = build([ihdr(2, 1), (b"IDAT", zlib.compress(rows)), (b"IEND", b"")])
    with pytest.raises(FormatError, match="unknown row filter"):
        read_container(io.BytesIO(png), plain=True)


def test_bad_metadata():
    base = [ihdr(1, 1), None, (b"IDAT", zlib.compress(bytes(4))), (b"IEND", b"")]
    for text, problem in [((b"iTXt", b"pxos\x00\x00\x00\x00\x00{nope"), "unreadable pxos metadata"),
                          (pxos_text({"format": "other"}), "unknown format"),
                          (pxos_text({"format": "pxos-container", "version": 9}), "version 9"),
                          (pxos_text({"format": "pxos-container", "version": 1}), "valid kind")]:
        base[1] = text
        with pytest.raises(FormatError, match=problem):
            read_container(io.BytesIO(build(base)))


def test_bad_options(tmp_path):
    for options, problem in [({"level": 10}, "level"), ({"strategy": "zip"}, "strategy"), ({"level": -1}, "level"), ({"width": 0}, "width"),
                             ({"kind": ""}, "kind"), ({"meta": {"sha256": "x"}}, "reserved"),
                             ({"meta": {"x": float("nan")}}, "JSON")]:
        with pytest.raises(ContainerOptionError, match=problem):
            write_container(tmp_path / "x.pxi", b"data", **{"kind": "blob", **options})
    with pytest.raises(ContainerOptionError):
        read_range(io.BytesIO(make(b"abc")), -1, 2)
    assert list(tmp_path.iterdir()) == []


def test_a_source_that_changes_leaves_nothing_behind(tmp_path):
    class Shifty(io.BytesIO):
        reads = 0

        def read(self, size=-1):
            self.reads += 1
            data = super().read(size)
            return data.upper() if self.reads > 2 else data  # changes on the second pass

    target = tmp_path / "out.pxi"
    with pytest.raises(IntegrityError, match="changed"):
        write_container(target, Shifty(b"abc" * 1000), kind="blob")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("verify", [True, False])
def test_zlib_stream_damage_is_caught_with_and_without_the_sha256(verify):
    png = make(b"some payload bytes", width=2)
    stream = zlib.compress(idat_stream(png))
    for bad, problem in [(stream[:-2], "truncated"), (stream + b"\x00\x00", "after the end"),
                         (b"\x78\x20" + stream[2:], "corrupt compressed"), (stream[:-8], "truncated")]:
        parts = [(k, bad if k == b"IDAT" else d) for k, d in chunks(png)]
        with pytest.raises(FormatError, match=problem):
            read_container(io.BytesIO(build(parts)), verify=verify)
    one_byte_chunks = [(k, d) for k, d in chunks(png) if k != b"IDAT"]
    one_byte_chunks[2:2] = [(b"IDAT", stream[i:i + 1]) for i in range(len(stream))]
    assert read_container(io.BytesIO(build(one_byte_chunks)), verify=verify)[0] == b"some payload bytes"


@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize("size,width", [(0, None), (1, None), (5000, 7), (3 * 70_000 + 7, None), (3 << 20, 100_000)])
def test_read_container_buffer_gives_the_payload_in_one_writable_buffer(tmp_path, level, size, width):
    from pxos_kernel.container import read_container_buffer

    payload = os.urandom(size)
    write_container(tmp_path / "c.pxi", payload, kind="blob", level=level, width=width)
    for verify in (True, False):
        buffer, meta = read_container_buffer(tmp_path / "c.pxi", verify=verify)
        assert isinstance(buffer, bytearray) and buffer == payload and meta["length"] == size


@pytest.mark.parametrize("level", [0, 6])
def test_read_container_buffer_fills_the_buffer_the_caller_allocates(tmp_path, level):
    """With ``allocate`` (numpy.empty here: not zeroed), the payload is a writable view of that buffer, cut to
    its length; the last row's padding, written to the buffer, is not part of it."""
    np = pytest.importorskip("numpy")
    from pxos_kernel.container import read_container_buffer

    payload = os.urandom(3 * 70_000 + 7)
    write_container(tmp_path / "c.pxi", payload, kind="blob", level=level)
    for verify in (True, False):
        sizes: list[int] = []

        def allocate(count: int) -> "np.ndarray":
            sizes.append(count)
            return np.full(count, 0xAA, dtype=np.uint8)  # garbage, as numpy.empty may hand out

        buffer, meta = read_container_buffer(tmp_path / "c.pxi", verify=verify, allocate=allocate)
        assert isinstance(buffer, memoryview) and not buffer.readonly and bytes(buffer) == payload
        assert len(sizes) == 1 and sizes[0] >= len(payload)


@pytest.fixture(params=["zlib", "zlib-ng"])
def checksums(request, monkeypatch):
    """The fast path's CRC-32 and Adler-32 from the standard library, and from zlib-ng (a test dependency)."""
    if request.param == "zlib":
        monkeypatch.setattr(container, "_CHECKSUMS", (zlib.crc32, zlib.adler32))
    else:
        zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")  # a pure-Python system (world test) may not carry it
        monkeypatch.setattr(container, "_CHECKSUMS", (zlib_ng.crc32, zlib_ng.adler32))


@pytest.fixture
def fast_path_only(monkeypatch):
    """Fail the test if the general (inflating) path runs: what it reads must be read by the fast path."""
    def general_path(*args, **kwargs):
        raise AssertionError("the stored-block fast path fell back to inflating")

    monkeypatch.setattr(container, "_payload_parts", general_path)


@pytest.mark.parametrize("piece", [7, 64 << 10, container.STORED_PIECE])
@pytest.mark.parametrize("size,width", [(0, None), (1, None), (5000, 7), (3 * 70_000 + 7, None), (1 << 20, 900)])
def test_the_stored_block_fast_path_reads_any_split_of_blocks_and_rows(tmp_path, monkeypatch, checksums,
                                                                        fast_path_only, piece, size, width):
    """Stored-block headers and rows cut across pieces (7 bytes: every header straddles one) read back exactly."""
    from pxos_kernel.container import read_container_buffer

    monkeypatch.setattr(container, "STORED_PIECE", piece)
    payload = os.urandom(size)
    write_container(tmp_path / "c.pxi", payload, kind="blob", level=0, width=width)
    buffer, meta = read_container_buffer(tmp_path / "c.pxi", verify=False)
    assert buffer == payload and meta["length"] == size


def test_the_fast_path_reads_one_byte_idat_chunks(checksums, fast_path_only):
    from pxos_kernel.container import read_container_buffer

    png = make(b"stored payload bytes" * 50, width=5, level=0)
    stream = b"".join(data for kind, data in chunks(png) if kind == b"IDAT")
    parts = [(k, d) for k, d in chunks(png) if k != b"IDAT"]
    parts[2:2] = [(b"IDAT", stream[i:i + 1]) for i in range(len(stream))]
    assert read_container_buffer(io.BytesIO(build(parts)), verify=False)[0] == b"stored payload bytes" * 50


def _flip(data: bytearray, at: int, fix_crc: bool) -> None:
    """Flip the byte at ``at`` inside a chunk; with ``fix_crc`` the chunk's CRC is recomputed to match."""
    data[at] ^= 0x55
    if fix_crc:
        pos = 8
        while pos < len(data):
            length = struct.unpack(">I", data[pos:pos + 4])[0]
            if pos + 8 <= at < pos + 8 + length:
                crc = zlib.crc32(bytes(data[pos + 4:pos + 8 + length]))
                data[pos + 8 + length:pos + 12 + length] = struct.pack(">I", crc)
                return
            pos += 12 + length


@pytest.mark.parametrize("fix_crc,problem", [(False, "CRC error in its IDAT chunk"),
                                             (True, "incorrect data check")])
def test_read_container_buffer_checks_the_stream_on_its_fast_path(tmp_path, checksums, fix_crc, problem):
    """A flipped stored payload byte is a CRC error; with the chunk CRC recomputed, the Adler-32 still objects."""
    from pxos_kernel.container import read_container_buffer

    write_container(tmp_path / "c.pxi", os.urandom(300_000), kind="blob", level=0)
    data = bytearray((tmp_path / "c.pxi").read_bytes())
    at = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[at:at + 4])[0]
    _flip(data, at + 8 + length // 2, fix_crc)
    (tmp_path / "c.pxi").write_bytes(bytes(data))
    with pytest.raises(FormatError, match=problem):
        read_container_buffer(tmp_path / "c.pxi", verify=False)


def test_a_flipped_metadata_byte_is_caught_before_the_fast_path(tmp_path, checksums):
    from pxos_kernel.container import read_container_buffer

    write_container(tmp_path / "c.pxi", os.urandom(1000), kind="blob", level=0, meta={"directory": [1, 2, 3]})
    data = bytearray((tmp_path / "c.pxi").read_bytes())
    _flip(data, data.index(b"directory") + 2, fix_crc=False)
    (tmp_path / "c.pxi").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="CRC error in its iTXt chunk"):
        read_container_buffer(tmp_path / "c.pxi", verify=False)
