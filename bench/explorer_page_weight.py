"""Bytes a browser fetches to show the explorer's ledger view, images left out.

The page, its script and stylesheet (as a browser asks for them: gzip accepted) and the JSON the
view loads (the first page of 50 records, the chain status, the overview's geometry), on a ledger
of 1,000 records. Printed beside: the same bytes uncompressed. Target: under 200 KB.

Run: python bench/explorer_page_weight.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _explorer import Explorer  # noqa: E402
from _timing import report  # noqa: E402

TARGET = 200_000
PARTS = ["/ledger", "/static/app.js", "/static/app.css", "/api/ledger?page=1&limit=50", "/api/ledger/status",
         "/api/ledger/overview"]


def main() -> None:
    from pxos_kernel import Kernel

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        with Kernel(home, env={"PXOS_HOME": str(home)}) as kernel:
            for i in range(1000):
                kernel.checkpoint("RUN", "run_program", {"program": "hello", "i": i},
                                  corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST")
        explorer = Explorer(home)
        rows, sent, plain = [], 0, 0
        try:
            for path in PARTS:
                status, body, _ = explorer.get(path, headers={"Accept-Encoding": "gzip"})
                _, raw, _ = explorer.get(path)
                assert status == 200, (path, status)
                sent, plain = sent + len(body), plain + len(raw)
                rows.append((path, f"{len(body):>7,} bytes sent ({len(raw):,} uncompressed)"))
        finally:
            explorer.stop()
    report("the ledger view, without images", rows + [("total", f"{sent:,} bytes sent, {plain:,} uncompressed")])
    print(f"target: < {TARGET:,} bytes: {'ok' if plain < TARGET else 'MISSED'} (uncompressed; {sent:,} as sent)")


if __name__ == "__main__":
    main()
