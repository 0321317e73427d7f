"""Per-checkpoint cost of the sqlite ledger sink against a plain SQLite WAL insert+commit, at each durability.

Both sides write the same record text into a WAL database at the same durability;
the ledger side also builds, hashes and chains the record and compares-and-appends
on the head inside its transaction.

* flush: survives a crash of the process (synchronous=NORMAL on both sides).
  Target: at most 1.3x the plain insert (the chain's extra cost under 30%).
* fsync: survives power loss (synchronous=FULL on both sides); reported beside it.
* group: synchronous=NORMAL, and the WAL is fsynced once per 64 records or 50 ms on
  both sides (the sink's ``group`` durability); reported beside it.

Run: python bench/ledger_emit.py
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from _timing import report, verdict

from pxos_kernel.canonical import canonical_json
from pxos_kernel.ledger import Ledger
from pxos_ledger.sqlite_sink import SqliteSink

N, ROUNDS = int(os.environ.get("BENCH_N", "2000")), 5
PAYLOAD = {"program": "hello", "status": "ok", "exit_code": 0, "args": ["--x", "1"], "duration": 0.0123}
SYNCHRONOUS = {"flush": "NORMAL", "fsync": "FULL", "group": "NORMAL"}
GROUP_SIZE, GROUP_INTERVAL = 64, 0.05  # the sink's defaults


def plain_sqlite(path: Path, body: str, durability: str, n: int) -> list[float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={SYNCHRONOUS[durability]}")
    db.execute("CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    start_seq = db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0] + 1
    wal, unsynced, last_sync = -1, 0, time.monotonic()
    times = []
    for seq in range(start_seq, start_seq + n):
        t = time.perf_counter()
        db.execute("BEGIN")
        db.execute("INSERT INTO records (seq, body) VALUES (?, ?)", (seq, body))
        db.execute("COMMIT")
        if durability == "group":  # the same group policy as the sink's
            if wal < 0:
                wal = os.open(f"{path}-wal", os.O_RDONLY)
            unsynced += 1
            now = time.monotonic()
            if unsynced >= GROUP_SIZE or now - last_sync >= GROUP_INTERVAL:
                os.fsync(wal)
                unsynced, last_sync = 0, now
        times.append(time.perf_counter() - t)
    if wal >= 0:
        os.close(wal)
    db.close()
    return times


def ledger_emit(path: Path, durability: str, n: int) -> list[float]:
    ledger = Ledger(SqliteSink(path, durability, group_size=GROUP_SIZE, group_interval=GROUP_INTERVAL))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        ledger.append("RUN", "run_program", PAYLOAD, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST")
        times.append(time.perf_counter() - t)
    ledger.close()
    return times


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sample = Ledger(SqliteSink(Path(tmp) / "sample.sqlite")).append("RUN", "run_program", PAYLOAD,
                                                                      corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST")
        body = canonical_json(sample)
        for durability, n in (("flush", N), ("fsync", max(N // 10, 50)), ("group", N)):
            plain, ours = [], []
            for _ in range(ROUNDS):  # interleaved, so both see the same machine load
                plain += plain_sqlite(Path(tmp) / f"plain-{durability}.sqlite", body, durability, n)
                ours += ledger_emit(Path(tmp) / f"ledger-{durability}.sqlite", durability, n)
            mp, mo = statistics.median(plain), statistics.median(ours)
            ratio = mo / mp
            rows.append((f"{durability} ({len(ours)} records a side, {len(body)} bytes each)",
                         f"ledger {mo * 1e6:.1f} us (p99 {p99(ours) * 1e6:.0f}) vs plain insert {mp * 1e6:.1f} us "
                         f"(p99 {p99(plain) * 1e6:.0f}): {ratio:.2f}x, chain's extra cost {(mo - mp) * 1e6:.1f} us"
                         + (f" (target <= 1.3x) {verdict(ratio <= 1.3)}" if durability == "flush"
                            else " (reported beside the flush row)")))
    report("ledger append, sqlite sink, median per record", rows)


if __name__ == "__main__":
    main()
