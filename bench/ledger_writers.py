"""Four concurrent writer processes on one sqlite ledger against one writer: aggregate appends/s.

Run: python bench/ledger_writers.py
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from pathlib import Path

from pxos_kernel.ledger import Ledger
from pxos_ledger.sqlite_sink import SqliteSink

PER_WRITER = 1500


def writer(path: str, count: int, start) -> None:
    ledger = Ledger(SqliteSink(path))
    start.wait()
    for i in range(count):
        ledger.append("RUN", "w", {"i": i})
    ledger.close()


def run(writers: int, total: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "l.sqlite")
        SqliteSink(path).close()
        ctx = multiprocessing.get_context("fork")
        start = ctx.Event()
        procs = [ctx.Process(target=writer, args=(path, total // writers, start)) for _ in range(writers)]
        for p in procs:
            p.start()
        time.sleep(0.3)
        t = time.perf_counter()
        start.set()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t
        report = Ledger(SqliteSink(path)).verify()
        assert report.ok and report.records == total, report.problem
    return total / elapsed


def main() -> None:
    total = 4 * PER_WRITER
    one = sorted(run(1, total) for _ in range(3))[1]
    four = sorted(run(4, total) for _ in range(3))[1]
    print(f"{total} appends, median of 3 runs, machine has {multiprocessing.cpu_count()} cores")
    print(f"1 writer : {one:8.0f} appends/s")
    print(f"4 writers: {four:8.0f} appends/s aggregate (one valid chain, no gaps or duplicates)")
    print(f"ratio 4 writers / 1 writer: {four / one:.2f}x")


if __name__ == "__main__":
    main()
