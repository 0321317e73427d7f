"""Map tiles served per second from a warm cache, 20 concurrent clients, against http.server on the same files.

The explorer serves picture tiles of an InfiniteMap (2048x2048 pixels painted on it) from its tile
pyramid, warmed first; the alternative is the standard library's threaded static file server serving
the same tile PNGs from disk. Each client holds one keep-alive connection (http.server: HTTP/1.1 too).
Target: at least 500 tiles/s from the explorer.

Run: python bench/explorer_tiles.py [--seconds S]
"""

from __future__ import annotations

import argparse
import functools
import http.client
import http.server
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _explorer import Explorer  # noqa: E402
from _timing import report  # noqa: E402

CLIENTS, TARGET = 20, 500


def paint(home: Path) -> None:
    import numpy as np

    from pxos_kernel import Kernel

    with Kernel(home, env={"PXOS_HOME": str(home)}) as kernel:
        space = kernel.storage("infinitemap").map
        y, x = np.mgrid[0:2048, 0:2048]
        space.write(-2048, -2048, np.stack([x % 256, y % 256, (x ^ y) % 256], axis=-1).astype(np.uint8))
        space.flush()


def hammer(host: str, port: int, paths: list[str], headers: dict, seconds: float) -> tuple[int, int]:
    """``(responses, errors)`` from CLIENTS threads requesting random paths for ``seconds``."""
    counts, errors = [0] * CLIENTS, [0] * CLIENTS
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < stop:
            try:
                conn.request("GET", rng.choice(paths), headers=headers)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    counts[i] += 1
                else:
                    errors[i] += 1
            except OSError:
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts), sum(errors)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        paint(home)
        explorer = Explorer(home)
        try:
            import json

            info = json.loads(explorer.get("/api/maps/infinitemap")[1])
            b = info["bounds"]
            paths = [f"/api/maps/infinitemap/tiles/{level}/{tx}/{ty}" for level in range(3)
                     for tx in range(b["min_tx"] >> level, (b["max_tx"] >> level) + 1)
                     for ty in range(b["min_ty"] >> level, (b["max_ty"] >> level) + 1)]
            for path in paths:  # warm the cache
                assert explorer.get(path)[0] == 200, path
            ours, our_errors = hammer(explorer.host, explorer.port, paths, {"X-Pxos-Token": explorer.token},
                                      args.seconds)
            cache = home / "explorer" / "tiles" / "infinitemap" / info["version"]
        finally:
            explorer.stop()
        files = [f"/{p.relative_to(cache)}" for p in cache.rglob("*.png")]
        static = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(cache)))
        static.daemon_threads = True
        threading.Thread(target=static.serve_forever, daemon=True).start()
        try:
            theirs, their_errors = hammer("127.0.0.1", static.server_address[1], files, {}, args.seconds)
        finally:
            static.shutdown()
            static.server_close()
    rate, other = ours / args.seconds, theirs / args.seconds
    report(f"warm map tiles, {CLIENTS} keep-alive clients, {args.seconds:.0f}s each, {len(paths)} tiles", [
        ("explorer (tile pyramid, memory cache)", f"{rate:,.0f} tiles/s, {our_errors} errors"),
        ("http.server on the same PNG files", f"{other:,.0f} tiles/s, {their_errors} errors"),
        ("ratio", f"{rate / other:.2f}x" if other else "-"),
    ])
    print(f"target: >= {TARGET} tiles/s with 0 errors: {'ok' if rate >= TARGET and not our_errors else 'MISSED'}")


if __name__ == "__main__":
    main()
