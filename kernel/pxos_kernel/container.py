"""The pixel container: any bytes as a valid 8-bit RGB PNG (ARCHITECTURE.md section 4).

Layout of a container written here::

    PNG signature
    IHDR   width x height, 8-bit RGB, not interlaced
    iTXt   keyword "pxos": canonical JSON metadata (before IDAT, so it is readable without inflating)
    IDAT+  one zlib stream, split into chunks of IDAT_CHUNK bytes
    IEND

The zlib stream is the image's rows, each a filter byte 0 ("None") followed by
``3 * width`` payload bytes; the last row is padded with zeros. So writing is
"insert a zero byte every row and deflate", and reading is "inflate and drop
every row's first byte": both run at zlib speed, in bounded memory.

The reader accepts any valid non-interlaced 8-bit RGB PNG, including one that
another tool re-saved with other row filters (Sub, Up, Average, Paeth): those
rows are unfiltered (with numpy when it is importable, in pure Python
otherwise) and give back the same pixels.

    >>> import io
    >>> out = io.BytesIO()
    >>> meta = write_container(out, b"hello", kind="blob")
    >>> read_container(io.BytesIO(out.getvalue()))[0]
    b'hello'

Every problem with a file is a :class:`~pxos_kernel.errors.FormatError` (or
:class:`~pxos_kernel.errors.IntegrityError` for a checksum mismatch) whose
message names the file and the problem.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
import tempfile
import zlib
from contextlib import contextmanager
from typing import Any, BinaryIO, Callable, Iterator, Mapping, Optional, Union

from pxos_kernel.canonical import canonical_json
from pxos_kernel.errors import FormatError, IntegrityError, PxosError
from pxos_kernel.files import atomic_writer

__all__ = [
    "FORMAT", "VERSION", "write_container", "read_container", "read_container_buffer", "read_container_meta",
    "iter_payload", "read_range", "default_width", "ContainerOptionError",
]

FORMAT = "pxos-container"
VERSION = 1
KEYWORD = b"pxos"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BYTES_PER_PIXEL = 3

IDAT_CHUNK = 1 << 20          # compressed bytes per IDAT chunk written
BLOCK = 1 << 20               # payload bytes (about) handled per step, reading and writing
MAX_DEFAULT_WIDTH = 16384     # default images are square up to this width, then grow taller
MAX_PNG_DIMENSION = 2**31 - 1  # PNG's own limit on width and height
MAX_READ_WIDTH = 1 << 24      # one row must fit in memory: at most 48 MiB a row
DEFAULT_MAX_PIXELS = 1 << 32  # refuse images declaring more pixels (12 GiB of payload) unless told
WHOLE_CHUNK = 16 << 20       # chunks up to this size are CRC-checked before their data is used
STORED_PIECE = 256 << 10      # bytes read at a time on the stored-block fast path (they stay in the CPU cache)
MAX_TEXT_CHUNK = 64 << 20     # a metadata chunk larger than this is refused
THREADED_HASH = 8 << 20      # payloads this big are hashed in a helper thread while they are inflated
MAX_DEFLATE_RATIO = 1032      # deflate cannot expand data more than this (RFC 1951 block limits)
STRATEGIES = {"default": zlib.Z_DEFAULT_STRATEGY, "filtered": zlib.Z_FILTERED, "huffman": zlib.Z_HUFFMAN_ONLY,
              "rle": zlib.Z_RLE}
RESERVED_KEYS = ("format", "version", "kind", "length", "sha256", "width", "height")

Source = Union[str, "os.PathLike[str]", BinaryIO]
Payload = Union[bytes, bytearray, memoryview, BinaryIO]


class ContainerOptionError(PxosError, ValueError):
    """An argument to :func:`write_container` or a reader is out of range."""


# -- writing ---------------------------------------------------------------------------------


def default_width(length: int) -> int:
    """The width used when none is given: a square image, at most MAX_DEFAULT_WIDTH wide."""
    pixels = max(1, -(-length // BYTES_PER_PIXEL))
    return min(max(1, math.isqrt(pixels - 1) + 1), MAX_DEFAULT_WIDTH)


def write_container(dest: Source, payload: Payload, *, kind: str, meta: Optional[Mapping[str, Any]] = None,
                    level: int = 6, width: Optional[int] = None, strategy: str = "default") -> dict:
    """Write ``payload`` as a pixel container PNG to ``dest``; return the metadata written.

    ``dest`` is a path (replaced atomically) or a binary file written at its
    current position. ``payload`` is bytes or a binary file read to its end in
    bounded chunks (a non-seekable one is first spooled to a temporary file,
    since the sha256 goes into the metadata before the image data). ``meta``
    adds kind-specific keys; ``level`` is the zlib level 0-9; ``width`` is the
    image width in pixels (default: :func:`default_width`). ``strategy`` is
    zlib's: "default", or "rle" / "huffman" (several times faster, for data
    that is mostly runs, such as pictures) or "filtered". The same payload and
    options always give the same bytes.
    """
    if not isinstance(kind, str) or not kind:
        raise ContainerOptionError(f"container kind must be a non-empty string, not {kind!r}")
    if not isinstance(level, int) or isinstance(level, bool) or not 0 <= level <= 9:
        raise ContainerOptionError(f"compression level must be an integer from 0 to 9, not {level!r}")
    if strategy not in STRATEGIES:
        raise ContainerOptionError(f"compression strategy must be one of {sorted(STRATEGIES)}, not {strategy!r}")
    extra = dict(meta or {})
    clashing = sorted(set(extra) & set(RESERVED_KEYS))
    if clashing:
        raise ContainerOptionError(f"container metadata keys {clashing} are reserved; choose other names")
    with _PayloadSource(payload) as source:
        width = default_width(source.length) if width is None else width
        if not isinstance(width, int) or isinstance(width, bool) or not 1 <= width <= MAX_PNG_DIMENSION:
            raise ContainerOptionError(f"image width must be an integer from 1 to {MAX_PNG_DIMENSION}, not {width!r}")
        row_bytes = width * BYTES_PER_PIXEL
        height = max(1, -(-source.length // row_bytes))
        if height > MAX_PNG_DIMENSION:
            raise ContainerOptionError(f"a {source.length}-byte payload needs {height} rows at width {width}; "
                                       f"PNG allows {MAX_PNG_DIMENSION}: use a larger width")
        metadata = {**extra, "format": FORMAT, "version": VERSION, "kind": kind, "length": source.length,
                    "sha256": source.sha256, "width": width, "height": height}
        try:
            text = canonical_json(metadata).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise ContainerOptionError(f"container metadata is not representable as JSON: {exc}") from None
        with _open_dest(dest) as out:
            out.write(PNG_SIGNATURE)
            out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
            out.write(_chunk(b"iTXt", KEYWORD + b"\x00\x00\x00\x00\x00" + text))
            _write_idat(out, source, row_bytes, height, level, STRATEGIES[strategy])
            out.write(_chunk(b"IEND", b""))
    return metadata


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def _write_idat(out: BinaryIO, source: "_PayloadSource", row_bytes: int, height: int, level: int,
                strategy: int) -> None:
    compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS, 8, strategy)
    pending = bytearray()
    rows_per_block = max(1, BLOCK // row_bytes)
    rows_left = height
    for block in source.blocks(rows_per_block * row_bytes):
        rows = min(rows_left, max(1, -(-len(block) // row_bytes)))
        rows_left -= rows
        pending += compressor.compress(_with_filter_bytes(block, row_bytes, rows))
        while len(pending) >= IDAT_CHUNK:
            out.write(_chunk(b"IDAT", bytes(pending[:IDAT_CHUNK])))
            del pending[:IDAT_CHUNK]
    if rows_left:  # an empty payload is still one (black) row
        pending += compressor.compress(bytes(rows_left * (row_bytes + 1)))
    pending += compressor.flush()
    for start in range(0, len(pending), IDAT_CHUNK):
        out.write(_chunk(b"IDAT", bytes(pending[start:start + IDAT_CHUNK])))


def _with_filter_bytes(block: bytes, row_bytes: int, rows: int) -> bytearray:
    """``block`` cut into ``rows`` rows of ``row_bytes`` (zero padded), each after a 0 filter byte.

    Copies row by row or column by column, whichever takes fewer Python steps.
    """
    stride = row_bytes + 1
    out = bytearray(rows * stride)  # zeros: the filter bytes and any padding are already in place
    view = memoryview(block)
    if row_bytes >= rows or len(block) != rows * row_bytes:
        for r in range(rows):
            piece = view[r * row_bytes:(r + 1) * row_bytes]
            out[r * stride + 1:r * stride + 1 + len(piece)] = piece
    else:
        for c in range(row_bytes):
            out[1 + c::stride] = view[c::row_bytes]
    return out


class _PayloadSource:
    """The payload's length and sha256 (known before writing), then its bytes in blocks."""

    def __init__(self, payload: Payload) -> None:
        self._spool: Optional[BinaryIO] = None
        if isinstance(payload, (bytes, bytearray, memoryview)):
            self._view: Optional[memoryview] = memoryview(payload).cast("B")
            self.length = len(self._view)
            self.sha256 = hashlib.sha256(self._view).hexdigest()
            return
        self._view = None
        if not hasattr(payload, "read"):
            raise ContainerOptionError(f"payload must be bytes or a binary file, not {type(payload).__name__}")
        stream = payload
        if not _seekable(stream):
            self._spool = stream = tempfile.TemporaryFile()
        self._file = stream
        self._start = stream.tell() if self._spool is None else 0
        digest, self.length = hashlib.sha256(), 0
        for block in _read_blocks(payload, BLOCK):
            digest.update(block)
            self.length += len(block)
            if self._spool is not None:
                self._spool.write(block)
        self.sha256 = digest.hexdigest()

    def blocks(self, size: int) -> Iterator[bytes]:
        """The payload again, in blocks of ``size`` bytes (the last may be shorter)."""
        if self._view is not None:
            for start in range(0, self.length, size):
                yield self._view[start:start + size]  # type: ignore[misc]  # a memoryview: no copy
            return
        self._file.seek(self._start)
        digest, seen = hashlib.sha256(), 0
        for block in _read_blocks(self._file, size):
            seen += len(block)
            if seen > self.length:
                break
            digest.update(block)
            yield block
        if seen != self.length or digest.hexdigest() != self.sha256:
            raise IntegrityError("the payload file changed while it was being written into a container")

    def __enter__(self) -> "_PayloadSource":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._spool is not None:
            self._spool.close()


def _seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable()) and stream.tell() >= 0
    except (AttributeError, OSError, ValueError):
        return False


def _read_blocks(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """Blocks of exactly ``size`` bytes (short reads are topped up), the last one shorter."""
    while True:
        block = stream.read(size)
        if not block:
            return
        while len(block) < size:
            more = stream.read(size - len(block))
            if not more:
                break
            block += more
        yield block
        if len(block) < size:
            return


@contextmanager
def _open_dest(dest: Source) -> Iterator[BinaryIO]:
    if hasattr(dest, "write"):
        yield dest  # type: ignore[misc]
    else:
        with atomic_writer(dest) as out:
            yield out


# -- reading: chunks ---------------------------------------------------------------------------


class _Png:
    """A PNG file read chunk by chunk, every chunk's CRC checked, in bounded memory."""

    def __init__(self, stream: BinaryIO, name: str, size: Optional[int]) -> None:
        self.stream, self.name, self.size = stream, name, size
        self.meta: Optional[dict] = None
        self.ended = False
        self._seen_late = False
        signature = stream.read(8)
        if signature != PNG_SIGNATURE:
            raise self.error("is not a PNG file" if len(signature) == 8 or not signature
                             else "is not a PNG file (shorter than a PNG signature)")
        length, kind = self._chunk_head()
        if kind != b"IHDR" or length != 13:
            raise self.error("is not a valid PNG: it does not start with an IHDR chunk")
        ihdr = self._body(length, kind)
        self.width, self.height, depth, color, compression, filtering, interlace = struct.unpack(">IIBBBBB", ihdr)
        if not (1 <= self.width <= MAX_PNG_DIMENSION and 1 <= self.height <= MAX_PNG_DIMENSION):
            raise self.error(f"declares an invalid size {self.width}x{self.height}")
        if compression != 0 or filtering != 0:
            raise self.error("uses an unknown PNG compression or filter method")
        if depth != 8 or color != 2:
            raise self.error(f"is not an 8-bit RGB PNG (bit depth {depth}, color type {color}); "
                             "pixel containers are 8-bit RGB")
        if interlace:
            raise self.error("is an interlaced (Adam7) PNG, which pixel containers do not support; "
                             "re-save it without interlacing")
        self.row_bytes = self.width * BYTES_PER_PIXEL
        self._pending: Optional[tuple[int, bytes]] = None
        self._read_until_idat()

    def error(self, problem: str, cls: type = FormatError) -> PxosError:
        return cls(f"{self.name}: {problem}")

    def _read(self, count: int, what: str) -> bytes:
        data = self.stream.read(count)
        if len(data) != count:
            raise self.error(f"is truncated (ends inside {what})")
        return data

    def _chunk_head(self) -> tuple[int, bytes]:
        head = self.stream.read(8)
        if len(head) != 8:
            raise self.error("is truncated (no IEND chunk)" if not head else "is truncated (ends inside a chunk header)")
        length, kind = struct.unpack(">I4s", head)
        if length > MAX_PNG_DIMENSION or not kind.isalpha():
            raise self.error(f"has a corrupt chunk header {kind!r} (length {length})")
        return length, kind

    def _pieces(self, length: int, kind: bytes) -> Iterator[bytes]:
        """The chunk's data: whole, CRC checked, when it is at most WHOLE_CHUNK bytes (so a damaged
        chunk is reported as such); otherwise in pieces of BLOCK bytes, the CRC checked after the last."""
        crc = zlib.crc32(kind)
        name = kind.decode("ascii")
        left = length
        piece_size = length if length <= WHOLE_CHUNK else BLOCK
        while left:
            piece = self._read(min(left, piece_size), f"the {name} chunk")
            crc = zlib.crc32(piece, crc)
            left -= len(piece)
            if left == 0:
                self._check_crc(crc, name)
            yield piece
        if length == 0:
            self._check_crc(crc, name)

    def _check_crc(self, crc: int, name: str) -> None:
        if struct.unpack(">I", self._read(4, f"the {name} chunk"))[0] != crc:
            raise self.error(f"has a CRC error in its {name} chunk (the file is damaged)")

    def _body(self, length: int, kind: bytes) -> bytes:
        return b"".join(self._pieces(length, kind))

    def _skip(self, length: int, kind: bytes) -> None:
        for _ in self._pieces(length, kind):
            pass

    def _ancillary(self, length: int, kind: bytes) -> None:
        """Handle a chunk that is not IHDR, IDAT or IEND."""
        if kind == b"iTXt" and length <= MAX_TEXT_CHUNK:
            self._text(self._body(length, kind))
        elif kind in (b"PLTE",) or kind[0:1].islower():
            self._skip(length, kind)  # a suggested palette, or an ancillary chunk we may ignore
        elif kind == b"iTXt":
            raise self.error(f"has an iTXt chunk of {length} bytes, more than the {MAX_TEXT_CHUNK} allowed")
        else:
            raise self.error(f"has an unknown critical chunk {kind.decode('ascii', 'replace')!r}")

    def _text(self, body: bytes) -> None:
        keyword, _, rest = body.partition(b"\x00")
        if keyword != KEYWORD:
            return
        if self.meta is not None:
            if self._seen_late:
                return  # the second pass over chunks look_past_idat() has already read
            raise self.error("has two pxos metadata chunks")
        if len(rest) < 2:
            raise self.error("has a malformed pxos iTXt chunk")
        compressed, method, rest = rest[0], rest[1], rest[2:]
        _language, _, rest = rest.partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        try:
            if compressed:
                if method != 0:
                    raise ValueError("unknown compression method")
                inflater = zlib.decompressobj()
                text = inflater.decompress(text, MAX_TEXT_CHUNK)
                if inflater.unconsumed_tail:
                    raise ValueError("metadata inflates to more than the size allowed")
            meta = json.loads(text.decode("utf-8"))
        except (ValueError, zlib.error, UnicodeDecodeError) as exc:
            raise self.error(f"has unreadable pxos metadata ({exc})") from None
        except RecursionError:  # json recurses per nesting level: hostile metadata must not crash readers
            raise self.error("has pxos metadata nested too deeply to read") from None
        if not isinstance(meta, dict):
            raise self.error("has pxos metadata that is not a JSON object")
        self.meta = meta

    def _read_until_idat(self) -> None:
        while True:
            length, kind = self._chunk_head()
            if kind == b"IDAT":
                self._pending = (length, kind)
                return
            if kind == b"IEND":
                raise self.error("has no image data (no IDAT chunk)")
            if kind == b"IHDR":
                raise self.error("has a second IHDR chunk")
            self._ancillary(length, kind)

    def idat(self) -> Iterator[bytes]:
        """The zlib stream, piece by piece, from consecutive IDAT chunks; then reads to IEND."""
        assert self._pending is not None, "idat() can be read once"
        length, kind = self._pending
        self._pending = None
        while kind == b"IDAT":
            yield from self._pieces(length, kind)
            length, kind = self._chunk_head()
        self._finish(length, kind)

    def look_past_idat(self) -> None:
        """Read metadata that another tool moved after the image data, then come back to the image data."""
        at, pending = self.stream.tell(), self._pending
        self.skip_idat()
        self.stream.seek(at)
        self._pending, self.ended, self._seen_late = pending, False, True

    def skip_idat(self) -> None:
        """Step over the image data without inflating it (CRCs still checked) and read to IEND."""
        for _ in self.idat():
            pass

    def _finish(self, length: int, kind: bytes) -> None:
        while kind != b"IEND":
            if kind == b"IDAT":
                raise self.error("has IDAT chunks that are not consecutive")
            if kind == b"IHDR":
                raise self.error("has a second IHDR chunk")
            self._ancillary(length, kind)
            length, kind = self._chunk_head()
        self._skip(length, kind)
        self.ended = True


# -- reading: pixels -----------------------------------------------------------------------------


USE_NUMPY: Optional[bool] = None  # None: use numpy for unfiltering when importable; tests force either path


WIDE_ROW = 1024  # rows at least this long are handed out as slices of inflated data, not copied


def _iter_pixels(png: _Png, *, out_block: int = BLOCK, raw: bool = False) -> Iterator[list]:
    """The image's pixel bytes in order (row filters undone), ``width*height*3`` in all.

    Each item is a list of bytes-like parts (often memoryview slices of what
    zlib returned, so the common case copies nothing until the caller joins).
    ``raw`` is passed on to :func:`_inflated`.
    """
    row_bytes, stride = png.row_bytes, png.row_bytes + 1
    expected = png.height * stride
    pending = bytearray()  # the start of a row whose end is in the next output
    produced = 0
    prior: Any = bytes(row_bytes)  # the row "above" the first row is all zeros
    for out in _inflated(png, max(stride, out_block - out_block % stride), raw=raw):
        produced += len(out)
        if produced > expected:
            raise png.error(f"has more image data than its declared size {png.width}x{png.height}")
        view = memoryview(out)
        parts: list = []
        if pending:
            need = min(stride - len(pending), len(view))
            pending += view[:need]
            view = view[need:]
            if len(pending) == stride:
                parts, prior = _unfilter(png, memoryview(bytes(pending)), prior)
                pending = bytearray()
        whole = len(view) - len(view) % stride
        if whole:
            more, prior = _unfilter(png, view[:whole], prior)
            parts += more
        pending += view[whole:]
        if parts:
            yield parts
    if produced != expected:
        raise png.error(f"is truncated (image data ends after {produced} of {expected} bytes)")


def _inflated(png: _Png, limit: int, *, raw: bool) -> Iterator[bytes]:
    """The image's zlib stream inflated, in pieces of at most ``limit`` bytes.

    ``raw=True`` checks the 2-byte zlib header by hand and inflates the bare
    deflate data, leaving its Adler-32 trailer unchecked: for callers that
    check a sha256 of everything anyway, it saves a pass over the data.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    header = bytearray()  # raw: the zlib header
    trailer = bytearray()  # raw: what follows the deflate data (the Adler-32 checksum)
    for piece in png.idat():
        data = piece
        if raw and len(header) < 2:
            take = 2 - len(header)
            header += data[:take]
            data = data[take:]
            if len(header) == 2:
                _check_zlib_header(png, header)
        if inflater.eof:
            if not raw:
                raise png.error("has data after the end of its compressed image stream")
            trailer += data
            continue
        while True:
            try:
                out = inflater.decompress(data, limit)
            except zlib.error as exc:
                raise png.error(f"has corrupt compressed image data ({exc})") from None
            data = inflater.unconsumed_tail
            if out:
                yield out
            if inflater.eof or (not data and len(out) < limit):
                break
        if inflater.eof:
            if not raw and inflater.unused_data:
                raise png.error("has data after the end of its compressed image stream")
            trailer += inflater.unused_data
    if not inflater.eof or (raw and len(trailer) < 4):
        raise png.error("is truncated (its compressed image stream does not end)")
    if raw and len(trailer) > 4:
        raise png.error("has data after the end of its compressed image stream")


def _check_zlib_header(png: _Png, header: bytes | bytearray) -> None:
    cmf, flags = header[0], header[1]
    if cmf & 0x0F != 8 or cmf >> 4 > 7 or (cmf * 256 + flags) % 31 or flags & 0x20:
        raise png.error("has corrupt compressed image data (not a zlib stream PNG allows)")


def _unfilter(png: _Png, rows: memoryview, prior: Any) -> tuple[list, Any]:
    """The pixel bytes of whole ``rows`` (each a filter byte and the row) as parts, and the last row."""
    stride, row_bytes = png.row_bytes + 1, png.row_bytes
    filters = rows[0::stride].tobytes()
    if filters.count(0) == len(filters):  # the fast path: every row is stored as is
        if row_bytes >= WIDE_ROW:
            parts = [rows[start + 1:start + stride] for start in range(0, len(rows), stride)]
            return parts, parts[-1]
        block = bytearray(rows)
        del block[0::stride]
        return [block], block[-row_bytes:]
    if max(filters) > 4:
        raise png.error(f"uses an unknown row filter type {max(filters)}")
    pixels = bytearray()
    unfilter_row = _numpy_unfilter_row if _numpy_wanted() else _python_unfilter_row
    for start in range(0, len(rows), stride):
        prior = unfilter_row(rows[start], bytearray(rows[start + 1:start + stride]), prior)
        pixels += prior
    return [pixels], prior


def _numpy_wanted() -> bool:
    global USE_NUMPY
    if USE_NUMPY is None:
        try:
            import numpy  # noqa: F401
        except ImportError:
            USE_NUMPY = False
        else:
            USE_NUMPY = True
    return USE_NUMPY


def _python_unfilter_row(kind: int, row: bytearray, prior: bytes) -> bytes:
    """One row's pixel bytes from its filtered bytes and the previous row (PNG spec section 9)."""
    bpp, n = BYTES_PER_PIXEL, len(row)
    if kind == 0:
        return bytes(row)
    if kind == 2:
        return _add_bytes(row, prior)
    if kind == 1:
        for i in range(bpp, n):
            row[i] = (row[i] + row[i - bpp]) & 0xFF
    elif kind == 3:
        for i in range(n):
            left = row[i - bpp] if i >= bpp else 0
            row[i] = (row[i] + ((left + prior[i]) >> 1)) & 0xFF
    else:  # 4: Paeth
        for i in range(n):
            if i >= bpp:
                a, c = row[i - bpp], prior[i - bpp]
            else:
                a = c = 0
            b = prior[i]
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return bytes(row)


_LOW7: dict[int, tuple[int, int]] = {}


def _add_bytes(x: bytes | bytearray, y: bytes) -> bytes:
    """Bytewise ``(x + y) mod 256`` with one big-integer addition (no carries cross bytes)."""
    n = len(x)
    if n not in _LOW7:
        _LOW7[n] = (int.from_bytes(b"\x7f" * n, "little"), int.from_bytes(b"\x80" * n, "little"))
    low, high = _LOW7[n]
    a, b = int.from_bytes(x, "little"), int.from_bytes(y, "little")
    return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "little")


def _numpy_unfilter_row(kind: int, row: bytearray, prior: bytes) -> bytes:
    """As :func:`_python_unfilter_row`; Sub and Up are vectorised, Average and Paeth are serial by nature."""
    import numpy as np

    if kind == 1:
        pixels = np.frombuffer(row, dtype=np.uint8).reshape(-1, BYTES_PER_PIXEL)
        return np.cumsum(pixels, axis=0, dtype=np.uint8).tobytes()  # uint8 sums wrap modulo 256
    if kind == 2:
        return (np.frombuffer(row, dtype=np.uint8) + np.frombuffer(prior, dtype=np.uint8)).tobytes()
    return _python_unfilter_row(kind, row, prior)


# -- reading: public API ------------------------------------------------------------------------


@contextmanager
def _open_png(src: Source) -> Iterator[_Png]:
    if hasattr(src, "read"):
        name = str(getattr(src, "name", "<stream>"))
        size = None
        if _seekable(src):
            here = src.tell()  # type: ignore[union-attr]
            size = src.seek(0, os.SEEK_END) - here  # type: ignore[union-attr]
            src.seek(here)  # type: ignore[union-attr]
        yield _Png(src, name, size)  # type: ignore[arg-type]
        return
    name = os.fspath(src)
    try:
        stream = open(name, "rb")
    except FileNotFoundError:
        raise FormatError(f"{name}: no such file") from None
    except OSError as exc:
        raise FormatError(f"{name}: cannot read it ({exc.strerror})") from None
    with stream:
        yield _Png(stream, name, os.fstat(stream.fileno()).st_size)


def _checked_meta(png: _Png, *, plain: bool, max_pixels: int) -> dict:
    """The container metadata, checked against the image size before anything is inflated."""
    pixels = png.width * png.height
    if png.width > MAX_READ_WIDTH or pixels > max_pixels:
        raise png.error(f"declares a {png.width}x{png.height} image, more than the {max_pixels} pixels "
                        f"(and {MAX_READ_WIDTH} width) allowed: refusing a possible decompression bomb")
    raw = png.height * (png.row_bytes + 1)
    if png.size is not None and raw > MAX_DEFLATE_RATIO * png.size + (1 << 16):
        raise png.error(f"declares a {png.width}x{png.height} image that its {png.size} bytes cannot hold: "
                        "a truncated file or a decompression bomb")
    meta = png.meta
    if meta is None:
        if not plain:
            raise png.error("is a PNG without pxos metadata (not a pixel container); "
                            "read it as plain pixels only if that is what you mean")
        return {"format": "png", "kind": "pixels", "length": pixels * BYTES_PER_PIXEL, "sha256": None,
                "width": png.width, "height": png.height}
    if meta.get("format") != FORMAT:
        raise png.error(f"has pxos metadata of an unknown format {meta.get('format')!r}")
    if meta.get("version") != VERSION:
        raise png.error(f"is a pixel container of version {meta.get('version')!r}; this pxOS reads version {VERSION}")
    length, digest = meta.get("length"), meta.get("sha256")
    if not isinstance(length, int) or isinstance(length, bool) or length < 0 \
            or not isinstance(digest, str) or len(digest) != 64 or not isinstance(meta.get("kind"), str):
        raise png.error("has pxos metadata without a valid kind, length and sha256")
    if max(1, -(-length // png.row_bytes)) != png.height or meta.get("width", png.width) != png.width:
        raise png.error(f"declares a {length}-byte payload that does not match its {png.width}x{png.height} image")
    return meta


@contextmanager
def _open_container(src: Source, *, plain: bool, max_pixels: int) -> Iterator[tuple[_Png, dict]]:
    with _open_png(src) as png:
        if png.meta is None and _seekable(png.stream):
            png.look_past_idat()
        yield png, _checked_meta(png, plain=plain, max_pixels=max_pixels)


def _payload_parts(png: _Png, meta: dict, verify: bool) -> Iterator[list]:
    """Lists of parts of the payload (the pixels cut at its length); checks sha256 and padding after the last."""
    left = meta["length"]
    digest = _Digest(threaded=meta["length"] >= THREADED_HASH) if verify and meta["sha256"] else None
    try:
        yield from _cut_parts(png, left, verify, digest)
    finally:
        if digest is not None:
            digest.close()
    if digest is not None and digest.hexdigest() != meta["sha256"]:
        raise png.error(f"payload sha256 {digest.hexdigest()} does not match the recorded {meta['sha256']}",
                        IntegrityError)


def _cut_parts(png: _Png, left: int, verify: bool, digest: Optional["_Digest"]) -> Iterator[list]:
    for parts in _iter_pixels(png, raw=digest is not None):  # the sha256 makes zlib's Adler-32 redundant
        kept = []
        for part in parts:
            if len(part) > left:
                padding = bytes(part[left:])
                if verify and padding.count(0) != len(padding):
                    raise png.error("has non-zero bytes in the padding after its payload", IntegrityError)
                part = part[:left]
            left -= len(part)
            if part:
                kept.append(part)
        if kept:
            if digest is not None:
                digest.update(kept)
            yield kept


class _Digest:
    """sha256 of a sequence of part lists; for big payloads it runs in a helper thread, beside inflating
    (hashlib and zlib both release the GIL), one list behind at most so memory stays bounded."""

    def __init__(self, threaded: bool) -> None:
        self._hash = hashlib.sha256()
        self._pool: Any = None
        self._pending: Any = None
        if threaded:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="pxos-sha256")

    def _feed(self, parts: list) -> None:
        for part in parts:
            self._hash.update(part)

    def update(self, parts: list) -> None:
        if self._pool is None:
            self._feed(parts)
            return
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._feed, parts)

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            if self._pending is not None:
                self._pending.result()
            self._pool = self._pending = None


def read_container_meta(src: Source) -> dict:
    """The container's metadata, read without inflating the image data.

    When another tool moved the metadata after the image data, the image
    chunks are stepped over (their CRCs checked, nothing inflated).
    """
    with _open_png(src) as png:
        if png.meta is None:
            png.skip_idat()
        return _checked_meta(png, plain=False, max_pixels=DEFAULT_MAX_PIXELS)


def read_container(src: Source, *, verify: bool = True, plain: bool = False,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[bytes, dict]:
    """Read a whole pixel container: ``(payload, metadata)``.

    ``verify`` checks the payload's sha256 and zero padding (IntegrityError).
    ``plain=True`` also reads a PNG without pxos metadata, as all its pixel
    bytes (the metadata then has kind "pixels" and sha256 None).
    ``max_pixels`` bounds the image size accepted (decompression bombs).
    """
    with _open_container(src, plain=plain, max_pixels=max_pixels) as (png, meta):
        # BytesIO grows one buffer in place and getvalue() hands it over without a copy, while each
        # inflated piece is freed (and its memory reused) as soon as it is copied in.
        buffer = io.BytesIO()
        for parts in _payload_parts(png, meta, verify):
            for part in parts:
                buffer.write(part)
        return buffer.getvalue(), meta


def read_container_buffer(src: Source, *, verify: bool = True, plain: bool = False,
                          max_pixels: int = DEFAULT_MAX_PIXELS,
                          allocate: Optional[Callable[[int], Any]] = None) -> tuple[Any, dict]:
    """As :func:`read_container`, with the payload in one writable buffer allocated once at its final size.

    The buffer is a ``bytearray``; with ``allocate`` (a function of a byte
    count returning a writable buffer of that many bytes, such as
    ``lambda n: numpy.empty(n, numpy.uint8)``, which is not zeroed first and,
    for megabytes, is given huge pages, so filling it costs a few page
    faults instead of thousands) it is a memoryview of what that returned, cut
    to the payload's length.

    Each inflated piece is copied straight into place, so the payload is
    assembled with one copy and no regrowing: for callers that view the bytes
    in place (numpy ``frombuffer``), such as model weights. The checks are the
    same: PNG chunk CRCs, zlib's Adler-32 (or the sha256 with ``verify``),
    except on the fast path: without ``verify``, an image whose zlib stream is
    stored blocks of unfiltered rows (what ``level=0`` writes) is not inflated
    at all; each IDAT chunk is read once, in cache-sized pieces, its CRC-32
    checked, the stream's Adler-32 computed over the blocks' data, and its
    rows copied into place (zlib-ng's checksums when it is installed). Damage
    found there is reported by the general path, which reads the file again.
    """
    new_buffer = bytearray if allocate is None else allocate
    with _open_container(src, plain=plain, max_pixels=max_pixels) as (png, meta):
        buffer = None
        if not verify and _seekable(png.stream):
            mark, pending = png.stream.tell(), png._pending
            whole = buffer = new_buffer(png.height * png.row_bytes)
            try:
                stored = _stored_into(png, whole)
            except FormatError:
                stored = False  # damage: the general path reads it again, each chunk's CRC checked first,
                # so the error names what is wrong the way every other reader does
            if stored:
                return _cut(whole, meta["length"]), meta
            png.stream.seek(mark)  # a compressed block, a filtered row or damage: inflate after all
            png._pending, png.ended = pending, False
        if buffer is None:
            buffer = new_buffer(meta["length"])
        view, at = memoryview(buffer).cast("B"), 0
        for parts in _payload_parts(png, meta, verify):
            for part in parts:
                view[at:at + len(part)] = part
                at += len(part)
        view.release()  # a bytearray cannot shrink while it is viewed
        return _cut(buffer, meta["length"]), meta


def _cut(buffer: Any, length: int) -> Any:
    """``buffer`` without what follows its first ``length`` bytes (the padding of the last row)."""
    if isinstance(buffer, bytearray):
        del buffer[length:]  # shrinking at the end copies nothing
        return buffer
    return memoryview(buffer).cast("B")[:length]


def _stored_into(png: _Png, buffer: Any) -> bool:
    """Fill ``buffer`` (``height * row_bytes`` long) from a zlib stream of stored deflate blocks of filter-0 rows.

    The IDAT chunks are read in pieces of at most STORED_PIECE bytes into one
    reused buffer, so what is checked and moved stays in the CPU cache and
    little fresh memory is touched (a page fault costs more than copying
    its page). Each piece goes into the chunk's CRC-32, its stored blocks'
    data into a second reused buffer and into the Adler-32, and its whole rows
    are moved into place in one strided copy. Returns False (the caller
    rewinds and inflates) at the first compressed block or non-zero row
    filter; raises FormatError for a stream that is broken either way.
    """
    crc32, adler32 = _checksums()
    stride, row_bytes = png.row_bytes + 1, png.row_bytes
    expected = png.height * stride
    assert png._pending is not None, "the image data can be read once"
    length, kind = png._pending
    png._pending = None
    piece_size = max(STORED_PIECE, stride)
    scratch = memoryview(bytearray(piece_size))  # one piece of a chunk, as read
    raw = bytearray(piece_size + stride)          # its stored blocks' data, after a row begun in the last piece
    into = memoryview(raw)  # copying into a memoryview is several times faster than into a bytearray slice
    zlib_head, block_head, tail = bytearray(), bytearray(), bytearray()
    adler = 1           # the Adler-32 of nothing
    block_left = 0      # bytes of the current stored block still to come
    final = done = False
    seen = trailer = 0  # inflated bytes seen (filter bytes included); Adler-32 bytes seen
    carried = 0         # bytes at the start of ``raw``: a row begun in the previous piece
    rows_done = 0
    idat_crc = crc32(b"IDAT")
    while kind == b"IDAT":
        crc, chunk_left = idat_crc, length
        while chunk_left:
            size = min(piece_size, chunk_left)
            data = scratch[:size]
            if _read_into(png.stream, data) != size:
                raise png.error("is truncated (ends inside the IDAT chunk)")
            crc = crc32(data, crc)
            chunk_left -= size
            i, fill = 0, carried
            while i < size:
                if done:
                    tail += data[i:i + 5]
                    trailer += size - i
                    break
                if len(zlib_head) < 2:
                    take = 2 - len(zlib_head)
                    zlib_head += data[i:i + take]
                    i += take
                    if len(zlib_head) == 2:
                        _check_zlib_header(png, zlib_head)
                elif block_left == 0:
                    take = min(5 - len(block_head), size - i)
                    block_head += data[i:i + take]
                    i += take
                    if (block_head[0] >> 1) & 3:
                        return False  # a compressed block
                    if len(block_head) == 5:
                        length_bytes, check = struct.unpack("<HH", block_head[1:5])
                        if length_bytes ^ check != 0xFFFF:
                            raise png.error("has corrupt compressed image data (a stored block's length check fails)")
                        final, block_left, block_head = bool(block_head[0] & 1), length_bytes, bytearray()
                        done = final and length_bytes == 0
                else:
                    take = min(block_left, size - i)
                    into[fill:fill + take] = data[i:i + take]
                    fill += take
                    i += take
                    block_left -= take
                    done = final and block_left == 0
            seen += fill - carried
            if seen > expected:
                raise png.error(f"has more image data than its declared size {png.width}x{png.height}")
            adler = adler32(into[carried:fill], adler)
            rows = fill // stride
            if rows:
                if not _move_rows(raw, rows, stride, buffer, rows_done * row_bytes):
                    return False  # a filtered row: unfiltering needs the general path
                rows_done += rows
            carried = fill - rows * stride
            into[:carried] = into[rows * stride:fill]  # shorter than a row
        png._check_crc(crc, "IDAT")
        length, kind = png._chunk_head()
    png._finish(length, kind)
    if not done or seen != expected or carried:
        raise png.error(f"is truncated (image data ends after {seen} of {expected} bytes)")
    if trailer != 4:
        raise png.error("has data after the end of its compressed image stream" if trailer > 4
                        else "is truncated (its compressed image stream does not end)")
    if struct.unpack(">I", bytes(tail[:4]))[0] != adler:
        raise png.error("has corrupt compressed image data (incorrect data check)")
    return True


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    """Fill ``view`` from ``stream`` (short reads topped up); the number of bytes read, less only at its end."""
    readinto = getattr(stream, "readinto", None)
    got = 0
    while got < len(view):
        if readinto is not None:
            count = readinto(view[got:])
        else:
            data = stream.read(len(view) - got)
            view[got:got + len(data)] = data
            count = len(data)
        if not count:
            break
        got += count
    return got


_CHECKSUMS: Optional[tuple[Any, Any]] = None


def _checksums() -> tuple[Any, Any]:
    """``(crc32, adler32)``: zlib-ng's SIMD versions when installed (the same values, several times faster
    over megabytes), else the standard library's, so the kernel still boots with the standard library alone."""
    global _CHECKSUMS
    if _CHECKSUMS is None:
        try:
            from zlib_ng import zlib_ng  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            _CHECKSUMS = zlib.crc32, zlib.adler32
        else:
            _CHECKSUMS = zlib_ng.crc32, zlib_ng.adler32
    return _CHECKSUMS


def _move_rows(raw: bytearray, rows: int, stride: int, out: Any, at: int) -> bool:
    """Copy ``rows`` rows of ``raw`` (each a filter byte and the pixels) to ``out[at:]``; False if one is filtered."""
    row_bytes = stride - 1
    if _numpy_wanted():
        import numpy as np

        grid = np.frombuffer(raw, dtype=np.uint8, count=rows * stride).reshape(rows, stride)
        if grid[:, 0].any():
            return False
        np.frombuffer(out, dtype=np.uint8, count=rows * row_bytes, offset=at).reshape(rows, row_bytes)[:] = grid[:, 1:]
        return True
    block = raw[:rows * stride]
    if block[0::stride].count(0) != rows:
        return False
    del block[0::stride]
    memoryview(out).cast("B")[at:at + len(block)] = block
    return True


def iter_payload(src: Source, *, verify: bool = True, plain: bool = False,
                 max_pixels: int = DEFAULT_MAX_PIXELS) -> Iterator[bytes]:
    """The payload in blocks of about BLOCK bytes, in bounded memory (options as :func:`read_container`).

    The sha256 is checked after the last block: a consumer must treat what it
    received as unverified until the iteration ends without IntegrityError.
    """
    with _open_container(src, plain=plain, max_pixels=max_pixels) as (png, meta):
        for parts in _payload_parts(png, meta, verify):
            yield b"".join(parts)


def read_range(src: Source, offset: int, length: Optional[int] = None) -> bytes:
    """``length`` payload bytes from ``offset`` (to the end when ``None``), inflating only up to the range end.

    The sha256 cannot be checked without reading everything; the PNG chunk
    CRCs of what was read still guard against damage.
    """
    if not isinstance(offset, int) or offset < 0 or (length is not None and (not isinstance(length, int) or length < 0)):
        raise ContainerOptionError(f"a range needs integers offset >= 0 and length >= 0, not {offset!r}, {length!r}")
    end = None if length is None else offset + length
    parts, seen = [], 0
    with _open_container(src, plain=False, max_pixels=DEFAULT_MAX_PIXELS) as (png, meta):
        if offset >= meta["length"] or end == offset:
            return b""
        blocks = (b"".join(parts) for parts in _payload_parts(png, meta, verify=False))
        try:
            for block in blocks:
                start, seen = seen, seen + len(block)
                if seen > offset:
                    parts.append(bytes(block[max(0, offset - start):None if end is None else max(0, end - start)]))
                if end is not None and seen >= end:
                    break
        finally:
            blocks.close()
    return b"".join(parts)
