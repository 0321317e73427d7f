"""Per-checkpoint cost of the sqlite ledger sink (flush durability) against a plain SQLite WAL insert+commit.

Both sides write the same record text into a WAL database with synchronous=NORMAL;
the ledger side also builds, hashes and chains the record and compares-and-appends
on the head inside its transaction. Target: at most 1.3x the plain insert (the chain's extra
cost under 30%). Run: python bench/ledger_emit.py
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from pxos_kernel.canonical import canonical_json
from pxos_kernel.ledger import Ledger
from pxos_ledger.sqlite_sink import SqliteSink

N, ROUNDS = 2000, 5
PAYLOAD = {"program": "hello", "status": "ok", "exit_code": 0, "args": ["--x", "1"], "duration": 0.0123}


def plain_sqlite(path: Path, body: str) -> list[float]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    start_seq = db.execute("SELECT coalesce(max(seq), 0) FROM records").fetchone()[0] + 1
    times = []
    for seq in range(start_seq, start_seq + N):
        t = time.perf_counter()
        db.execute("BEGIN")
        db.execute("INSERT INTO records (seq, body) VALUES (?, ?)", (seq, body))
        db.execute("COMMIT")
        times.append(time.perf_counter() - t)
    db.close()
    return times


def ledger_emit(path: Path) -> list[float]:
    ledger = Ledger(SqliteSink(path, "flush"))
    times = []
    for i in range(N):
        t = time.perf_counter()
        ledger.append("RUN", "run_program", PAYLOAD, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST")
        times.append(time.perf_counter() - t)
    ledger.close()
    return times


def p99(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.99)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sample = Ledger(SqliteSink(Path(tmp) / "sample.sqlite")).append("RUN", "run_program", PAYLOAD,
                                                                      corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST")
        body = canonical_json(sample)
        plain, ours = [], []
        for _ in range(ROUNDS):  # interleaved, so both see the same machine load
            plain += plain_sqlite(Path(tmp) / "plain.sqlite", body)
            ours += ledger_emit(Path(tmp) / "ledger.sqlite")
    mp, mo = statistics.median(plain), statistics.median(ours)
    print(f"records per side: {len(plain)} ({len(body)} bytes each)")
    print(f"plain SQLite WAL insert+commit: median {mp * 1e6:7.1f} us   p99 {p99(plain) * 1e6:7.1f} us")
    print(f"ledger checkpoint (sqlite sink): median {mo * 1e6:7.1f} us   p99 {p99(ours) * 1e6:7.1f} us")
    ratio = mo / mp
    print(f"ledger append, sqlite sink: {ratio:.2f}x the plain insert (target <= 1.3x) "
          f"{'ok' if ratio <= 1.3 else 'MISSED'}   overhead per checkpoint: {(mo - mp) * 1e6:.1f} us")


if __name__ == "__main__":
    main()
