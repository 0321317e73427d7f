"""Flat cost with history: the everyday commands on a ledger of 10^3, 10^5 and 10^6 records.

For each sink (jsonl, sqlite) the ledger is grown to each size (records built
in-process by the kernel's own record builder and written in bulk, not one CLI
call each), then `run hello`, `log -n 5`, `ledger query -n 5` and `inspect`
are timed as a user runs them (a fresh process, median of BENCH_ROUNDS), and
`ledger verify` in-process.

Targets: each command at 10^6 records at most 1.2x its time at 10^3 (flat);
`log -n 5` at most 1.2x `run hello` at every size; verify linear (records/s at
10^6 at least 0.8x the rate at 10^3). Sizes: BENCH_SIZES=1000,100000,1000000.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _timing import child_env, median, report, verdict

from pxos_kernel import Kernel, Ledger

SIZES = [int(s) for s in os.environ.get("BENCH_SIZES", "1000,100000,1000000").split(",")]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
COMMANDS = {"run hello": ["run", "hello"], "log -n 5": ["log", "-n", "5"],
            "query -n 5": ["ledger", "query", "-n", "5"], "inspect": ["inspect"]}
PAYLOAD = {"program": "hello", "args": [], "status": "ok", "exit_code": 0, "duration": 0.0123, "sandbox": False}


def grow(kernel: Kernel, sink_name: str, target: int) -> None:
    """Append records until the ledger holds ``target`` (pre and post run records, as real runs leave)."""
    ledger: Ledger = kernel.ledger
    head = ledger.head()
    have = 0 if head is None else head["seq"]
    batch: list[dict] = []
    for i in range(have, target):
        node = "NODE_POST" if i % 2 else "NODE_PRE"
        batch.append(ledger._build("RUN", "run_program", PAYLOAD, f"DISTRICT_4.CHAMBER_EXEC.{node}", None,
                                   batch[-1] if batch else head))
        if len(batch) == 50_000 or i == target - 1:
            _write(ledger.sink, sink_name, batch)
            head, batch = batch[-1], []


def _write(sink, sink_name: str, records: list[dict]) -> None:
    if sink_name == "jsonl":
        with open(sink.path, "ab") as stream:
            stream.write("".join(r.canonical + "\n" for r in records).encode("utf-8"))
    else:
        db = sqlite3.connect(sink.path, isolation_level=None)
        db.execute("BEGIN")
        db.executemany("INSERT INTO records (seq, id, hash, body) VALUES (?, ?, ?, ?)",
                       [(r["seq"], r["id"], r["hash"], r.canonical) for r in records])
        db.execute("COMMIT")
        db.close()


def cli_time(home: Path, argv: list[str]) -> float:
    env = child_env(PXOS_HOME=str(home))
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pxos_kernel", *argv], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return median(times)


def measure(sink_name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if sink_name != "jsonl":
            (home / "config.yaml").write_text(f"defaults:\n  sink: {sink_name}\n")
        results: dict[int, dict[str, float]] = {}
        for size in SIZES:
            with Kernel(home) as kernel:
                start = time.perf_counter()
                grow(kernel, sink_name, size)
                grown = time.perf_counter() - start
            row = {name: cli_time(home, argv) for name, argv in COMMANDS.items()}
            with Kernel(home) as kernel:  # the CLI runs above appended a few records: verify them all
                start = time.perf_counter()
                checked = kernel.ledger.verify()
                row["verify"] = checked.records / (time.perf_counter() - start)
                assert checked.ok, checked.problem
            results[size] = row
            print(f"  [{sink_name}] {size:>9} records (grown in {grown:.1f} s): " +
                  ", ".join(f"{n} {row[n] * 1000:.0f} ms" for n in COMMANDS) + f", verify {row['verify']:,.0f} rec/s",
                  flush=True)
        small, large = results[SIZES[0]], results[SIZES[-1]]
        rows = []
        for name in COMMANDS:
            ratio = large[name] / small[name]
            rows.append((f"{name}, {SIZES[-1]:,} vs {SIZES[0]:,} records",
                         f"{ratio:.2f}x (target <= 1.2x) {verdict(ratio <= 1.2)}"))
        for size in SIZES:
            ratio = results[size]["log -n 5"] / results[size]["run hello"]
            rows.append((f"log -n 5 / run hello at {size:,}", f"{ratio:.2f}x (target <= 1.2x) {verdict(ratio <= 1.2)}"))
        linear = large["verify"] / small["verify"]
        rows.append((f"verify rate, {SIZES[-1]:,} vs {SIZES[0]:,}",
                     f"{linear:.2f}x (linear: target >= 0.8x) {verdict(linear >= 0.8)}"))
        report(f"cost with history, {sink_name} sink, median of {ROUNDS} fresh processes", rows)


def main() -> None:
    for sink_name in ("jsonl", "sqlite"):
        measure(sink_name)


if __name__ == "__main__":
    main()
