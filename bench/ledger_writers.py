"""Many writer processes on one ledger chain: aggregate appends/s, one valid chain with no gaps.

* sqlite sink: 4 writers against 1 (reported).
* postgres sink: 1, 4 and 16 writers at durability fsync (each commit flushed) and
  group (the chain's lock is not held during the flush; concurrent writers share it),
  on a throw-away PostgreSQL server started on 127.0.0.1 (Debian's postgresql).

Every run ends with a full verify: the chain must hold exactly the records written,
consecutive from 1. Target: no gaps (ok or MISSED per row); the rates are reported.
Run: python bench/ledger_writers.py
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import time
import uuid
from pathlib import Path

from _timing import report, verdict

from pxos_kernel import Ledger

TOTAL = int(os.environ.get("BENCH_APPENDS", "3200"))


def _writer(open_sink, count: int, start) -> None:
    ledger = Ledger(open_sink())
    start.wait()
    for i in range(count):
        ledger.append("RUN", "w", {"i": i})
    ledger.close()


def run(open_sink, writers: int, total: int) -> tuple[float, bool]:
    """Aggregate appends/s of ``writers`` processes, and whether the chain verified with every record."""
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(open_sink, total // writers, start)) for _ in range(writers)]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t = time.perf_counter()
    start.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t
    checked = Ledger(open_sink()).verify()
    return total / elapsed, checked.ok and checked.records == (total // writers) * writers


def main() -> None:
    from pxos_ledger.sqlite_sink import SqliteSink

    rows = []
    rates = {}
    for writers in (1, 4):
        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "l.sqlite")
            SqliteSink(path).close()
            rates[writers], whole = run(lambda: SqliteSink(path), writers, TOTAL)
            rows.append((f"sqlite, {writers} writer(s)", f"{rates[writers]:8.0f} appends/s, chain complete: "
                                                         f"{verdict(whole)}"))
    rows.append(("sqlite, 4 writers against 1", f"{rates[4] / rates[1]:.2f}x (reported)"))
    rows += _postgres_rows()
    report(f"{TOTAL} appends on one chain, machine has {os.cpu_count()} cores", rows)


def _postgres_rows() -> list[tuple[str, str]]:
    import pytest

    from pxos_kernel.testing.postgres import PostgresUnavailable, postgres_server

    from pxos_ledger.postgres_sink import PostgresSink

    rows = []
    try:
        with postgres_server() as dsn:
            for durability in ("fsync", "group"):
                one = None
                for writers in (1, 4, 16):
                    table = "bench_" + uuid.uuid4().hex[:10]
                    PostgresSink(dsn, table=table, durability=durability).close()
                    rate, whole = run(lambda: PostgresSink(dsn, table=table, durability=durability), writers, TOTAL)
                    one = one or rate
                    rows.append((f"postgres {durability}, {writers:2} writer(s)",
                                 f"{rate:8.0f} appends/s ({rate / one:.2f}x 1 writer), chain complete: "
                                 f"{verdict(whole)}"))
    except (PostgresUnavailable, pytest.skip.Exception) as exc:
        rows.append(("postgres", f"not measured: {exc}"))
    return rows


if __name__ == "__main__":
    main()
