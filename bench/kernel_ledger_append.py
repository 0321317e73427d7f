"""One checkpoint appended through the kernel's ledger (built-in JSONL sink) against a
SQLite WAL insert+commit of the same record, at matching durability.

* flush: survives a process crash (JSONL write(); SQLite synchronous=NORMAL)
* fsync: survives power loss (JSONL fsync per record; SQLite synchronous=FULL)

Target: median at most 0.8x SQLite's time.
"""

import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from _timing import median, percentile, report, verdict

from pxos_kernel.jsonl_sink import JsonlSink
from pxos_kernel.ledger import Ledger

N = int(os.environ.get("BENCH_N", "3000"))
PAYLOAD = {"program": "hello", "args": ["Ada"], "status": "ok", "exit_code": 0, "duration": 0.0123,
           "sandbox": False, "cartridge": None}


def time_each(n, step):
    samples = []
    for i in range(n):
        start = time.perf_counter()
        step(i)
        samples.append(time.perf_counter() - start)
    return samples


def run(durability: str, synchronous: str, n: int, directory: Path) -> tuple[list, list]:
    ledger = Ledger(JsonlSink(directory / f"ledger-{durability}.jsonl", durability=durability))
    db = sqlite3.connect(directory / f"ledger-{durability}.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, record TEXT NOT NULL)")
    sample = json.dumps(ledger.append("RUN", "run_program", PAYLOAD, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST"))

    def sqlite_step(i):
        db.execute("BEGIN")
        db.execute("INSERT INTO records (seq, record) VALUES (?, ?)", (i, sample))
        db.execute("COMMIT")

    def ledger_step(i):
        ledger.append("RUN", "run_program", PAYLOAD, corridor="DISTRICT_4.CHAMBER_EXEC.NODE_POST")

    ours, theirs = [], []
    for block in range(10):  # alternate blocks so machine load hits both alike
        theirs += time_each(n // 10, lambda i, b=block: sqlite_step(b * n + i))
        ours += time_each(n // 10, ledger_step)
    assert ledger.verify().ok
    return ours, theirs


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for durability, synchronous, n in (("flush", "NORMAL", N), ("fsync", "FULL", max(N // 10, 100))):
            ours, theirs = run(durability, synchronous, n, Path(tmp))
            ratio = median(ours) / median(theirs)
            rows.append((f"{durability} ({n} appends)",
                         f"ledger {median(ours) * 1e6:.1f} us (p99 {percentile(ours, 99) * 1e6:.0f} us) vs "
                         f"sqlite {median(theirs) * 1e6:.1f} us (p99 {percentile(theirs, 99) * 1e6:.0f} us): "
                         f"{ratio:.2f}x" + (f" (target <= 0.8x) {verdict(ratio <= 0.8)}" if durability == "flush"
                                            else " (reported beside the flush row)")))
    report("checkpoint append, median per record", rows)


if __name__ == "__main__":
    main()
