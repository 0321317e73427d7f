"""Packing a tree into a .pxa (pxos_cartridge pack_tree) vs writing it with zipfile: time and size.

The tree is the same stdlib copy bench/cartridge_import.py imports (a few
hundred Python files, about 4 MB). zipfile writes ZIP_DEFLATED at level 6,
pack_tree uses zlib level 6 too; both read every file from disk each round.
Rounds alternate between the two; medians are reported.

Run: python bench/cartridge_pack.py [--rounds N]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _timing import interleaved, median
from cartridge_import import build_tree, write_zip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds of each (default 9)")
    options = parser.parse_args()
    from pxos_cartridge.archive import pack_tree

    with tempfile.TemporaryDirectory(prefix="pxos-bench-") as tmp:
        tree = build_tree(Path(tmp))
        files = [p for p in tree.rglob("*") if p.is_file()]
        raw = sum(p.stat().st_size for p in files)
        pxa, zpath = Path(tmp) / "tree.pxa", Path(tmp) / "tree.zip"
        samples = interleaved({"pxa": lambda: pack_tree(tree, pxa), "zip": lambda: write_zip(tree, zpath)},
                              options.rounds, warmup=1)
        sizes = {"pxa": pxa.stat().st_size, "zip": zpath.stat().st_size}
        again = Path(tmp) / "again.pxa"
        pack_tree(tree, again)
        deterministic = again.read_bytes() == pxa.read_bytes()
    t = {name: median(values) for name, values in samples.items()}
    print(f"{len(files)} files, {raw / 1e6:.2f} MB; {options.rounds} rounds each, medians; "
          f"packing twice gives identical bytes: {deterministic}")
    print(f"{'':5} {'.pxa':>10} {'zipfile':>10} {'ratio':>7}")
    print(f"{'time':5} {t['pxa'] * 1000:8.1f}ms {t['zip'] * 1000:8.1f}ms {t['pxa'] / t['zip']:6.2f}x")
    print(f"{'size':5} {sizes['pxa'] / 1e6:8.3f}MB {sizes['zip'] / 1e6:8.3f}MB {sizes['pxa'] / sizes['zip']:6.2f}x")


if __name__ == "__main__":
    main()
