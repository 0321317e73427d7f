"""infinitemap: write a 4096x4096 region, then read it back cold from disk, in MB/s.

Write time covers painting the region into the tile cache and flushing every
tile to disk as a PNG (atomic replace); read time covers opening the map
afresh (empty cache) and reading the region back from the PNG tiles. Two
pictures: a smooth synthetic image (gradients and rings, like maps and
renderings) and pure noise (the worst case for deflate). Issue target:
at least 50 MB/s each way. Medians of --rounds rounds.

    python bench/infinitemap_throughput.py [--size 4096] [--rounds 3] [--level 1] [--cache-tiles 128]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile

import numpy as np
from _timing import interleaved, median

from pxos_pixelfs.tiles import TileSpace

TARGET_MBPS = 50.0


def pictures(size: int) -> dict[str, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    rings = (np.sin(np.hypot(x - size / 2, y - size / 3) / 9.0) * 127 + 128).astype(np.uint8)
    smooth = np.stack([(x * 255 / size).astype(np.uint8), (y * 255 / size).astype(np.uint8), rings], axis=2)
    noise = np.random.default_rng(1).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return {"smooth": smooth, "noise": noise}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--level", type=int, default=1)
    parser.add_argument("--strategy", default="rle", help="zlib strategy of tiles: default, rle, huffman, filtered")
    parser.add_argument("--cache-tiles", type=int, default=128)
    args = parser.parse_args()
    size = args.size
    megabytes = size * size * 3 / 1e6
    print(f"infinitemap {size}x{size} region ({megabytes:.1f} MB), 256x256 tiles, level {args.level} {args.strategy}, "
          f"cache {args.cache_tiles} tiles, median of {args.rounds}")
    failed = False
    for name, image in pictures(size).items():
        root = tempfile.mkdtemp(prefix="pxos-bench-map-")
        try:
            x, y = -size // 2 + 37, -size // 3 + 11  # not tile aligned, across negative and positive tiles

            def write():
                with TileSpace(root, cache_tiles=args.cache_tiles, level=args.level, strategy=args.strategy) as space:
                    space.write(x, y, image)

            def read():
                with TileSpace(root, cache_tiles=args.cache_tiles) as space:
                    back = space.read(x, y, size, size)
                assert back.shape == image.shape

            times = interleaved({"write": write, "read": read}, args.rounds, warmup=1)
            with TileSpace(root) as space:
                assert np.array_equal(space.read(x, y, size, size), image), "round trip lost pixels"
            on_disk = sum(p.stat().st_size for p in (shutil.os.scandir(root + "/tiles")))
        finally:
            shutil.rmtree(root, ignore_errors=True)
        for way in ("write", "read"):
            speed = megabytes / median(times[way])
            ok = speed >= TARGET_MBPS
            failed |= not ok
            print(f"  {name:<7} {way:<5} {median(times[way]):7.3f} s  {speed:7.1f} MB/s  "
                  f"(target >= {TARGET_MBPS:.0f}: {'ok' if ok else 'MISSED'})")
        print(f"  {name:<7} tiles on disk: {on_disk / 1e6:.1f} MB ({on_disk / (megabytes * 1e6):.2f} of raw)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
