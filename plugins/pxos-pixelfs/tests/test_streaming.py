"""Big payloads stream through pixelfs in bounded memory (a few hundred MB, made on the fly)."""

from __future__ import annotations

import hashlib
import io
import random
import tracemalloc

from pxos_pixelfs.pixelfs import PixelFS

SIZE = 300 * 1024 * 1024 + 7  # not a multiple of 3, nor of a block


class Generated(io.RawIOBase):
    """A non-seekable stream of SIZE bytes: a random 16 KiB pattern with a running counter in it."""

    def __init__(self, size: int) -> None:
        self.left, self.counter = size, 0
        self.pattern = bytearray(random.Random(3).randbytes(16 * 1024))  # the same in every instance

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left, len(self.pattern))
        self.counter += 1
        self.pattern[:8] = self.counter.to_bytes(8, "little")
        buffer[:n] = self.pattern[:n]
        self.left -= n
        return n


class HashingSink(io.RawIOBase):
    def __init__(self) -> None:
        self.digest, self.size = hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def test_hundreds_of_megabytes_round_trip_in_bounded_memory(tmp_path):
    expected = hashlib.sha256()
    source = Generated(SIZE)
    while block := source.read(1 << 20):
        expected.update(block)

    store = PixelFS(tmp_path, level=1)
    tracemalloc.start()
    try:
        info = store.put("big", io.BufferedReader(Generated(SIZE)))
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sink = HashingSink()
        store.copy_to("big", sink)
        _, get_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        tail = store.get("big", SIZE - 10, 100)
        _, range_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == SIZE and info.sha256 == expected.hexdigest()
    assert sink.size == SIZE and sink.digest.hexdigest() == expected.hexdigest()
    assert len(tail) == 10
    print("peaks (put, get, range):", put_peak, get_peak, range_peak)
    limit = 24 * 1024 * 1024  # measured about 7 MiB: the payload is 300 MiB
    assert put_peak < limit and get_peak < limit and range_peak < limit, (put_peak, get_peak, range_peak)
