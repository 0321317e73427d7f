"""Verify throughput of the ledger (records/s) against sha256 of the same stored bytes alone.

Verify re-hashes each record's stored bytes, checks every link and that each stored text is
the canonical JSON of what it parses to. Target: at least 300,000 records/s, on every sink,
with and without an HMAC key. Beside it, each part verify cannot skip is timed alone over
the same rows: reading them, parsing them (CPython's C scanner, no hooks), re-encoding them
(the C encoder, one call per 2,000 records) and sha256: their sum is the floor of a verify
built on the standard library's json. Run: python bench/ledger_verify.py
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from pxos_kernel.jsonl_sink import JsonlSink
from pxos_kernel.ledger import Ledger
from pxos_ledger.sqlite_sink import SqliteSink

N, ROUNDS = int(os.environ.get("BENCH_N", "50000")), 3


def fill(ledger: Ledger) -> None:
    entries = [{"type": "RUN", "op": "run_program", "corridor": "DISTRICT_4.CHAMBER_EXEC.NODE_POST",
                "payload": {"program": "hello", "status": "ok", "i": i}} for i in range(N)]
    if hasattr(ledger.sink, "compare_and_append_many"):
        ledger.append_many(entries)
    else:
        for e in entries:
            ledger.append(e["type"], e["op"], e["payload"], corridor=e["corridor"])


def main() -> None:
    for name, make in (("sqlite", lambda d: SqliteSink(d / "l.sqlite")), ("jsonl", lambda d: JsonlSink(d / "l.jsonl"))):
        for key in (None, b"k" * 32):
            with tempfile.TemporaryDirectory() as tmp:
                measure(name + (" + HMAC key" if key else ""), make(Path(tmp)), key)


def measure(name: str, sink, key=None) -> None:
    ledger = Ledger(sink, key=key)
    fill(ledger)
    texts = [body for _, body in sink.read_rows(1)]
    bodies = [body.encode("utf-8") for body in texts]
    parse = json.JSONDecoder().scan_once
    records = [parse(text, 0)[0] for text in texts]
    verify_times, hash_times, read_times, parse_times, encode_times = [], [], [], [], []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        report = ledger.verify()
        verify_times.append(time.perf_counter() - t)
        assert report.ok and report.records == N
        t = time.perf_counter()
        for _row in sink.read_rows(1):
            pass
        read_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        for body in bodies:
            hashlib.sha256(body).hexdigest()
        hash_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        for text in texts:
            parse(text, 0)
        parse_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        for i in range(0, N, 2000):
            json.dumps(records[i:i + 2000], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        encode_times.append(time.perf_counter() - t)
    ledger.close()
    v, h, r = statistics.median(verify_times), statistics.median(hash_times), statistics.median(read_times)
    p, e = statistics.median(parse_times), statistics.median(encode_times)
    size = sum(map(len, bodies)) / N
    print(f"[{name} sink] {N} records of {size:.0f} bytes, median of {ROUNDS} runs")
    print(f"ledger verify (read + parse + re-hash + links): {N / v:10.0f} records/s")
    print(f"sha256 of the same bytes alone (in memory):     {N / h:10.0f} records/s")
    print(f"reading the rows alone:                         {N / r:10.0f} records/s")
    print(f"JSON parse alone (C scanner, no hooks):         {N / p:10.0f} records/s")
    print(f"re-encoding alone (C encoder, 2000 a call):     {N / e:10.0f} records/s")
    floor = r + p + h + (0 if key else e)  # with a key the HMAC vouches for the bytes: no re-encoding
    print(f"floor, the sum of the parts verify needs:       {N / floor:10.0f} records/s")
    print(f"ratio verify/sha256-alone: {v / h:.1f}x the time")
    print(f"ledger verify, {name} sink: {N / v:,.0f} records/s (target >= 300,000) {'ok' if N / v >= 300_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
