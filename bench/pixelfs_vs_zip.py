"""pixelfs:// put and get against Python's zipfile (deflate, same level), side by side.

Two 64 MiB payloads: real text (this Python's standard library sources) and
random bytes. Each round times a pixelfs put (one PNG pixel container) and a
zipfile write of the same bytes (both to files in one temporary directory,
both fsynced), then a whole-object get and a ZipFile.read; medians of the
rounds are compared. Issue targets: size <= 1.03x, put <= 1.1x, get <= 1.0x.
"get" is StorageBackend.get, which also checks the payload's sha256 (zipfile
checks only a CRC-32); "get-crc" reads with the same checks as zipfile (PNG
chunk CRCs and zlib's Adler-32), to show what the sha256 costs.

    python bench/pixelfs_vs_zip.py [--mib 64] [--rounds 5] [--level 6]
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import sysconfig
import tempfile
import zipfile

from _timing import interleaved, median

from pxos_kernel import container
from pxos_pixelfs.pixelfs import PixelFS

TARGETS = {"size": 1.03, "put": 1.10, "get": 1.00, "get-crc": 1.00}


def stdlib_text(size: int) -> bytes:
    """``size`` bytes of Python source code from the standard library, in a stable order."""
    out = bytearray()
    for path in sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True)):
        with open(path, "rb") as source:
            out += source.read()
        if len(out) >= size:
            return bytes(out[:size])
    raise SystemExit(f"only {len(out)} bytes of stdlib sources found; ask for fewer with --mib")


def measure(name: str, payload: bytes, directory: str, level: int, rounds: int) -> dict:
    store = PixelFS(os.path.join(directory, "pixelfs"), level=level)
    zip_path = os.path.join(directory, "bench.zip")

    def pixelfs_put():
        store.put(name, payload)

    def zip_put():
        with open(zip_path, "wb") as raw:
            with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
                archive.writestr(name, payload)
            raw.flush()
            os.fsync(raw.fileno())  # pixelfs fsyncs each object; make the zip just as durable

    def pixelfs_get():
        assert len(store.get(name)) == len(payload)

    def pixelfs_get_crc_only():  # what zipfile checks: CRCs (PNG chunks) and zlib's Adler-32, no sha256
        assert len(container.read_container(store.path(name), verify=False)[0]) == len(payload)

    def zip_get():
        with zipfile.ZipFile(zip_path) as archive:
            assert len(archive.read(name)) == len(payload)

    put = interleaved({"pixelfs": pixelfs_put, "zip": zip_put}, rounds, warmup=1)
    assert store.get(name) == payload
    get = interleaved({"pixelfs": pixelfs_get, "zip": zip_get, "crc-only": pixelfs_get_crc_only}, rounds, warmup=1)
    return {
        "size": (store.path(name).stat().st_size, os.path.getsize(zip_path)),
        "put": (median(put["pixelfs"]), median(put["zip"])),
        "get": (median(get["pixelfs"]), median(get["zip"])),
        "get-crc": (median(get["crc-only"]), median(get["zip"])),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--level", type=int, default=6)
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    datasets = {"stdlib text": stdlib_text(size), "random": os.urandom(size)}
    print(f"pixelfs vs zipfile, deflate level {args.level}, {args.mib} MiB each, median of {args.rounds} rounds "
          f"(Python {sys.version.split()[0]})")
    print(f"{'payload':<12} {'what':<7} {'pixelfs':>12} {'zipfile':>12} {'ratio':>7}  target")
    failed = False
    with tempfile.TemporaryDirectory(prefix="pxos-bench-") as directory:
        for name, payload in datasets.items():
            figures = measure(name.replace(" ", "-"), payload, directory, args.level, args.rounds)
            for what, (ours, theirs) in figures.items():
                ratio = ours / theirs
                ok = ratio <= TARGETS[what]
                failed |= not ok
                unit = (lambda v: f"{v / 1e6:9.2f} MB") if what == "size" else (lambda v: f"{v:10.3f} s")
                speed = "" if what == "size" else f"  ({len(payload) / ours / 1e6:.0f} vs {len(payload) / theirs / 1e6:.0f} MB/s)"
                print(f"{name:<12} {what:<7} {unit(ours):>12} {unit(theirs):>12} {ratio:6.3f}x  "
                      f"<= {TARGETS[what]:.2f}x {'ok' if ok else 'MISSED'}{speed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
