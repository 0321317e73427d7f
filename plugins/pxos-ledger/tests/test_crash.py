"""SIGKILL at any moment: no record whose append returned is lost, and the ledger still verifies."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from pxos_kernel import Ledger

WRITER = r"""
import sys
from pxos_kernel import Ledger
kind, where, durability = sys.argv[1:4]
if kind == "sqlite":
    from pxos_ledger.sqlite_sink import SqliteSink
    sink = SqliteSink(where, durability)
else:
    from pxos_ledger.postgres_sink import PostgresSink
    sink = PostgresSink(where, table=sys.argv[4], durability=durability)
ledger = Ledger(sink)
i = 0
while True:
    record = ledger.append("CRASH", "write", {"i": i, "pad": "x" * (i % 300)})
    sys.stdout.write(f"{record['seq']} {record['hash']}\n")   # only after append returned
    sys.stdout.flush()
    i += 1
"""


def _kill_loop(argv, open_sink, rounds: int):
    rng = random.Random(5)
    acknowledged: dict[int, str] = {}
    for _ in range(rounds):
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, *argv], stdout=subprocess.PIPE, text=True)
                   for _ in range(2)]
        first = [writer.stdout.readline() for writer in writers]  # each is writing (slow starts on a busy machine)
        time.sleep(rng.uniform(0.3, 0.9))
        for writer in writers:
            os.kill(writer.pid, signal.SIGKILL)
        for writer, head in zip(writers, first):
            out, _ = writer.communicate()
            assert writer.returncode == -signal.SIGKILL
            for line in (head + out).splitlines():
                seq, digest = line.split()
                acknowledged[int(seq)] = digest
        sink = open_sink()
        ledger = Ledger(sink)
        report = ledger.verify()
        assert report.ok, report.problem
        stored = {r["seq"]: r["hash"] for r in ledger.records()}
        lost = {s for s, h in acknowledged.items() if stored.get(s) != h}
        assert not lost, f"acknowledged records lost after SIGKILL: {sorted(lost)[:5]}"
        assert sink.repair()["removed_bytes"] == 0  # nothing torn to set aside
        sink.close()
    assert len(acknowledged) > rounds  # the writers really wrote


@pytest.mark.parametrize("durability", ["flush", "group"])
def test_sqlite_survives_sigkill(tmp_path, durability):
    from pxos_ledger.sqlite_sink import SqliteSink

    path = tmp_path / "crash.sqlite"
    _kill_loop(["sqlite", str(path), durability], lambda: SqliteSink(path), rounds=6)


def test_postgres_survives_sigkill(postgres_dsn, pg_table):
    from pxos_ledger.postgres_sink import PostgresSink

    _kill_loop(["postgres", postgres_dsn, "flush", pg_table], lambda: PostgresSink(postgres_dsn, table=pg_table),
               rounds=4)
